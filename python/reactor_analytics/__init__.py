"""Reactor Analytics: self-hosted product analytics."""

__version__ = "0.1.0"

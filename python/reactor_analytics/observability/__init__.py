"""Logs, request ids and (later) metrics."""

"""Queries: request validation into plans (`plan`), the engine process and its client (`engine`)."""

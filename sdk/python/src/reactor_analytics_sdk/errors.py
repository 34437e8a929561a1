"""Delivery errors a destination raises to tell its sender whether a batch is worth retrying."""

from __future__ import annotations


class DeliveryError(Exception):
    """A batch did not reach its destination."""


class RetryableError(DeliveryError):
    """Worth another try: a network error, a timeout, 408, 429 or a 5xx.

    `retry_after` is the destination's own wish (e.g. a `Retry-After` header), in seconds.
    """

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """Retrying cannot help (bad credentials, a refused body): the batch is given up."""

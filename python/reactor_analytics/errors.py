"""One error type for the whole service: a code, an HTTP status and a message.

Errors are values raised anywhere and turned into the JSON error shape at the edge
(`{"error": {"code": "analytics.…", "message": "…", …}}`).
"""

from __future__ import annotations


class AppError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}


def invalid(code: str, message: str, **extra: object) -> AppError:
    return AppError(400, code, message, **extra)


def unauthenticated(message: str = "missing or invalid credentials") -> AppError:
    return AppError(401, "analytics.auth.unauthenticated", message)


def forbidden(message: str = "not permitted") -> AppError:
    return AppError(403, "analytics.auth.forbidden", message)


def not_found(message: str = "not found") -> AppError:
    return AppError(404, "analytics.not_found", message)


def unavailable(message: str = "the database is unavailable; retry shortly") -> AppError:
    return AppError(503, "analytics.unavailable", message)

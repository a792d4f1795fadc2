"""The one error type of the Stats API: a status and a message naming the bad field.

Messages start with a JSON-pointer-like path into the request (``#/metrics/0: …``,
``#/date_range: …``), as Plausible's do; ``app.py`` turns an :class:`ApiError` into
``{"error": message}`` with its status.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse


class ApiError(Exception):
    def __init__(self, message: str, status: int = 400, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.headers = headers or {}

    @classmethod
    def field(cls, path: str, message: str, status: int = 400) -> ApiError:
        """An error about the request field at ``path`` (``"metrics/0"``)."""
        return cls(f"#/{path}: {message}", status)


def api_error_response(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)

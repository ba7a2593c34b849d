"""The bridge's one error type: an HTTP status plus the JSON body `{code, message, hint, ...}`."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse


class ApiError(Exception):
    """An error the bridge reports to its client as JSON.

    status: HTTP status code. code: stable machine-readable name (see PROTOCOL.md).
    message: one line for the user. hint: what to do about it (may be empty).
    headers: extra response headers (e.g. `Retry-After`).
    extra: additional JSON fields (e.g. `limit`, `state`).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        hint: str = "",
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.hint = hint
        self.headers = dict(headers or {})
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON error object."""
        return {"code": self.code, "message": self.message, "hint": self.hint, **self.extra}

    def response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        """A Starlette response carrying this error (its own headers plus `headers`)."""
        return JSONResponse(
            self.body(), status_code=self.status, headers={**self.headers, **(headers or {})}
        )

"""API errors: every 4xx/5xx leaves as ``{"error": {"code", "message"}}`` (docs/api.md).

Endpoints raise :class:`ApiError` for what they check themselves (bodies, parameters,
tokens); use cases raise :class:`comments.errors.Refused`, whose code is mapped to its
HTTP status here, the one place that knows it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from comments.errors import Code, Refused
from comments.infra.ratelimit import retry_after

#: The HTTP status of each code a use case refuses with.
REFUSAL_STATUS: dict[Code, int] = {
    Code.NOT_FOUND: 404,
    Code.FORBIDDEN: 403,
    Code.BANNED: 403,
    Code.CLOSED: 403,
    Code.CONFLICT: 409,
    Code.DUPLICATE: 409,
    Code.UNKNOWN_PARENT: 422,
    Code.BANNED_WORD: 422,
    Code.RATE_LIMITED: 429,
    Code.EDIT_WINDOW_CLOSED: 403,
    Code.INVALID_GUEST_TOKEN: 401,
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra or {}

    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, self.message, self.headers, self.extra)

    @classmethod
    def of(cls, refused: Refused) -> ApiError:
        """The HTTP form of a use case's refusal."""
        headers = {}
        if refused.retry_after_s is not None:
            headers["Retry-After"] = retry_after(refused.retry_after_s)
        extra: dict[str, object] = dict(refused.extra)
        if refused.comment is not None:
            extra["comment"] = refused.comment.to_json()
        status = REFUSAL_STATUS[refused.code]
        return cls(status, str(refused.code), refused.message, headers=headers, extra=extra)


def error_response(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, object] | None = None,
) -> JSONResponse:
    body: dict[str, object] = {"error": {"code": code, "message": message}}
    body.update(extra or {})
    return JSONResponse(body, status_code=status, headers=headers)


async def handle_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.response()


async def handle_refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refused)
    return ApiError.of(exc).response()

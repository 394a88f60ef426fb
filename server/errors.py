"""Domain errors, mapped to HTTP statuses and WebSocket error codes in one place.

Every layer raises these; only the edges (REST handlers, the WebSocket session)
turn them into wire errors, so the body is always
`{"error": {"code", "message", "details"}}`.
"""

from __future__ import annotations

from typing import Any


class TongbuError(Exception):
    """Base of every error that reaches a client."""

    code = "internal_error"
    status = 500

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(TongbuError):
    code = "bad_request"
    status = 400


class ValidationFailed(TongbuError):
    code = "validation_failed"
    status = 422


class Unauthenticated(TongbuError):
    code = "unauthenticated"
    status = 401


class TokenExpired(Unauthenticated):
    code = "token_expired"


class PairingCodeInvalid(Unauthenticated):
    """Unknown, used or expired device pairing code (`details.reason` says which)."""

    code = "pairing_code_invalid"


class PermissionDenied(TongbuError):
    code = "permission_denied"
    status = 403


class NotFound(TongbuError):
    code = "not_found"
    status = 404


class Conflict(TongbuError):
    code = "conflict"
    status = 409


class InvalidState(TongbuError):
    """The object is closed or not in a state that allows the call.

    Named after mediasoup's InvalidStateError.
    """

    code = "invalid_state"
    status = 409


class Unsupported(TongbuError):
    """A capability mismatch, e.g. a codec the SFU cannot forward."""

    code = "unsupported"
    status = 422


class PayloadTooLarge(TongbuError):
    code = "payload_too_large"
    status = 413


class RateLimited(TongbuError):
    code = "rate_limited"
    status = 429


class ServiceUnavailable(TongbuError):
    """A backing service (the database) does not answer; retrying later may work."""

    code = "service_unavailable"
    status = 503


def _is_unavailable(exc: BaseException) -> bool:
    from sqlalchemy.exc import InterfaceError, OperationalError

    return isinstance(exc, (OperationalError, InterfaceError, ConnectionError, TimeoutError))


def install_error_handlers(app: object) -> None:
    """Map domain errors, validation errors and HTTP errors to the common error body."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    assert isinstance(app, FastAPI)

    @app.exception_handler(TongbuError)
    async def _domain(_: Request, exc: TongbuError) -> JSONResponse:
        return JSONResponse(exc.to_body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        err = ValidationFailed("request validation failed", details)
        return JSONResponse(err.to_body(), status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Still the common body: a client never has to parse an HTML or text error page.
        import structlog

        if _is_unavailable(exc):
            err: TongbuError = ServiceUnavailable("a backing service is unavailable")
        else:
            err = TongbuError("internal error")
        structlog.get_logger("tongbu.errors").error(
            "unhandled error", path=request.url.path, code=err.code, exc_info=exc
        )
        return JSONResponse(err.to_body(), status_code=err.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {
            401: "unauthenticated",
            403: "permission_denied",
            404: "not_found",
            405: "method_not_allowed",
            413: "payload_too_large",
        }
        code = codes.get(exc.status_code, "http_error")
        body = {"error": {"code": code, "message": str(exc.detail), "details": None}}
        headers = getattr(exc, "headers", None)
        return JSONResponse(body, status_code=exc.status_code, headers=headers)

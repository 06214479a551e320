"""Every error as JSON: ``{"error": {"code", "message", "field"}}``, plus ``"errors"`` listing
each bad field when a request is invalid (422)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from aybiza.errors import (
    CarrierError,
    Conflict,
    Forbidden,
    Invalid,
    Locked,
    NotFound,
    ServiceError,
    Unauthenticated,
    Unavailable,
)
from aybiza.store.paging import CursorError

log = structlog.get_logger(__name__)


class ErrorDetail(BaseModel):
    """What went wrong: a stable ``code``, a message for people, the ``field`` at fault."""

    code: str = Field(examples=["not_found"])
    message: str
    field: str | None = Field(default=None, description="JSON path of the offending field.")
    required_scope: str | None = Field(default=None, description="On 403: the scope needed.")
    twilio_code: int | None = Field(
        default=None, description="On 502 from Twilio: Twilio's error code, when it gave one."
    )
    carrier_code: int | None = Field(
        default=None, description="On 502 from another carrier: its error code (SIP status)."
    )


class FieldProblem(BaseModel):
    """One bad field of an invalid request."""

    field: str = Field(examples=["parameters.temperature"])
    message: str


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail
    errors: list[FieldProblem] | None = Field(
        default=None, description="On 422: every bad field, each with its JSON path."
    )


class ApiError(Exception):
    """An error raised by an API handler (authentication, authorisation)."""

    def __init__(
        self, status: int, code: str, message: str, field: str | None = None, **extra: str
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.extra = (
            status,
            code,
            message,
            field,
            extra,
        )


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, str | int] | None = None,
) -> JSONResponse:
    """The JSON error response; ``extra`` adds members to ``error`` (e.g. ``required_scope``)."""
    detail = {"code": code, "message": message, "field": field, **(extra or {})}
    body: dict[str, Any] = {"error": detail}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers)


_DESCRIPTIONS = {
    400: "Malformed request (e.g. a cursor this API did not issue).",
    401: "Missing, unknown or revoked API key, or no valid session (signed out, expired, "
    "second factor still due).",
    403: "The key or the person's role lacks the permission this operation needs (named in "
    "the error), or acts on something holding more than the caller does.",
    404: "No such object for this tenant (other tenants' objects look the same).",
    409: "Conflicts with the current state.",
    502: "Twilio refused or failed (its error code in `twilio_code`).",
    503: "The server is shutting down (draining): retry, on another server.",
    422: "Invalid request: every bad field is listed with its JSON path.",
    429: "Too many failed attempts (sign-in lock-out): wait `Retry-After` seconds.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error statuses."""
    return {
        status: {"model": ErrorBody, "description": _DESCRIPTIONS[status]} for status in statuses
    }


def install_error_handlers(app: FastAPI) -> None:
    """Make every error, including the framework's own, a JSON error body."""

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(
            exc.status, exc.code, exc.message, exc.field, headers=headers, extra=exc.extra
        )

    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return _service_response(exc)

    @app.exception_handler(CursorError)
    async def cursor_error(_request: Request, exc: CursorError) -> JSONResponse:
        return error_response(400, "invalid_cursor", str(exc), "cursor")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [_problem(error) for error in exc.errors()]
        first = problems[0] if problems else {"field": "", "message": "invalid request"}
        malformed = any(e.get("type") == "json_invalid" for e in exc.errors())
        code = "invalid_json" if malformed else "invalid_request"
        message = first["message"] if len(problems) == 1 else f"{len(problems)} invalid fields"
        return error_response(422, code, message, first["field"] or None, errors=problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("api.unexpected_error", path=request.url.path)
        return error_response(500, "internal_error", "unexpected server error; see server logs")


# The status of each kind of service error; anything else is the carrier's failure (502).
_STATUSES: tuple[tuple[type[ServiceError], int], ...] = (
    (Unauthenticated, 401),
    (NotFound, 404),
    (Conflict, 409),
    (Forbidden, 403),
)


def _service_response(exc: ServiceError) -> JSONResponse:
    if isinstance(exc, Invalid):
        problems = [{"field": e.path, "message": e.message} for e in exc.errors]
        return error_response(422, exc.code, exc.message, exc.field, errors=problems)
    if isinstance(exc, Unavailable):
        return error_response(503, exc.code, exc.message, exc.field, headers={"Retry-After": "1"})
    if isinstance(exc, Locked):
        wait_s = str(max(1, math.ceil(exc.retry_after_s)))
        return error_response(
            429, exc.code, exc.message, exc.field, headers={"Retry-After": wait_s}
        )
    status = next((code for kind, code in _STATUSES if isinstance(exc, kind)), 502)
    extra: dict[str, str | int] = {}
    if isinstance(exc, CarrierError) and exc.carrier_code is not None:
        name = "twilio_code" if exc.carrier == "twilio" else "carrier_code"
        extra[name] = exc.carrier_code
    return error_response(status, exc.code, exc.message, exc.field, extra=extra)


def _problem(error: Any) -> dict[str, str]:
    location = list(error.get("loc", ()))
    # "body"/"query"/"path" say where; the rest is the field's path inside it.
    if location and location[0] in ("body", "query", "path", "header"):
        location = location[1:]
    if error.get("type") == "json_invalid":
        location = []
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        message = "unknown field"
    return {"field": ".".join(str(part) for part in location), "message": message}

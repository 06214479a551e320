"""Errors as JSON: ``{"error": {"code", "message", "field"}}``."""

from __future__ import annotations

from fastapi.responses import JSONResponse


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "field": field}}, status_code=status
    )

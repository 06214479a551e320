"""The OpenAPI document: FastAPI's, plus the agent configuration and campaign schemas that
their endpoints validate by hand (so that every bad field is reported with its path)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from aybiza.agents.schema import AgentConfig
from aybiza.services.campaign_specs import CampaignCreate


def install_openapi(app: FastAPI) -> None:
    """Serve the extended document at ``/openapi.json``."""

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            _, definitions = models_json_schema(
                [(AgentConfig, "validation"), (CampaignCreate, "validation")],
                ref_template="#/components/schemas/{model}",
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in definitions.get("$defs", {}).items():
                components.setdefault(name, definition)
            _own_validation_errors(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


_FRAMEWORK_ERROR = "#/components/schemas/HTTPValidationError"
_ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


def _own_validation_errors(schema: dict[str, Any]) -> None:
    """FastAPI documents its own 422 shape; this API answers 422 with ``ErrorBody``."""
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            response = operation.get("responses", {}).get("422")
            if response is None:
                continue
            content = response.get("content", {}).get("application/json", {})
            if content.get("schema", {}).get("$ref") == _FRAMEWORK_ERROR:
                content["schema"] = dict(_ERROR_BODY)
                response["description"] = (
                    "Invalid request: every bad field is listed with its JSON path."
                )
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)

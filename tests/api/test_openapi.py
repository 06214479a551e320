"""``/openapi.json`` describes what the API does: every operation under /v1 is authenticated,
documents its error responses with the JSON error body, and every reference resolves."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import ApiServer


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


# Where a person signs in (nobody is authenticated yet); the provider redirects to start.
SIGN_IN = {
    "/v1/auth/sign-in",
    "/v1/auth/invitations/accept",
    "/v1/auth/oidc/start",
    "/v1/auth/oidc/callback",
}


def _security(path: str) -> list[dict[str, list[str]]] | None:
    """API keys or a person's session everywhere; a person's own routes take a session only."""
    if path in SIGN_IN:
        return None
    if path.startswith("/v1/auth/"):
        return [{"Session": []}]
    return [{"ApiKey": []}, {"Session": []}]


def test_every_operation_documents_its_auth_and_errors(api: ApiServer) -> None:
    document = api.twilio.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert document["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    assert document["components"]["securitySchemes"]["Session"]["in"] == "cookie"
    operations = [
        (method, path, spec)
        for path, item in document["paths"].items()
        if path.startswith("/v1/")
        for method, spec in item.items()
    ]
    assert len(operations) >= 25
    for method, path, spec in operations:
        assert spec.get("security") == _security(path), (method, path)
        assert "401" in spec["responses"] or path == "/v1/auth/oidc/start", (method, path)
        for status, response in spec["responses"].items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)
        assert spec.get("description") or spec.get("summary"), (method, path)
    for ref in _refs(document):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref


def test_agent_bodies_are_described_by_the_agent_configuration_schema(api: ApiServer) -> None:
    document = api.twilio.get("/openapi.json").json()
    create = document["paths"]["/v1/agents"]["post"]
    schema = create["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/AgentConfig"}
    agent = document["components"]["schemas"]["AgentConfig"]
    assert {"name", "version", "flow", "parameters"} <= set(agent["properties"])
    number = document["components"]["schemas"]["NumberCreate"]
    # ``number`` may be left out when a managed number is bought by area code.
    assert set(number["required"]) == {"type", "agent_id"}
    assert document["components"]["schemas"]["CallCreate"]["required"] == ["to"]
    place = document["paths"]["/v1/calls"]["post"]["responses"]
    assert {"201", "409", "422", "502"} <= set(place)
    hangup = document["paths"]["/v1/calls/{call_ref}/hangup"]["post"]["responses"]
    assert {"200", "202", "404", "409"} <= set(hangup)

"""Request bodies are capped while they stream in (issue 11, item 4): 413 with the JSON error
over 1 MiB on the API and over 64 KiB on the carrier webhooks, whether the size is declared
or the body comes chunked; JSON nested too deeply is a 422 naming the body, never a 500."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
from tests.api.conftest import ApiServer, Tenant
from tests.api.helpers import agent_body

MIB = 1024 * 1024
KIB = 1024
TOO_LARGE = {
    "code": "body_too_large",
    "message": f"the request body exceeds the limit of {MIB} bytes",
    "field": None,
}


def _chunks(total: int, size: int = 64 * KIB) -> Iterator[bytes]:
    """A body without Content-Length (httpx sends a generator chunked)."""
    sent = 0
    while sent < total:
        part = min(size, total - sent)
        sent += part
        yield b" " * part


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def test_item4_an_api_body_over_1_mib_is_refused_with_413(api: ApiServer, tenant: Tenant) -> None:
    http = api.client(tenant.key)
    body = json.dumps({**agent_body(), "system_prompt": "x" * MIB})
    response = http.post("/v1/agents", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"error": TOO_LARGE}
    # The connection stays usable and nothing was stored.
    assert http.get("/v1/agents").json()["data"] == []


def test_item4_a_chunked_api_body_over_1_mib_is_refused_while_it_streams(
    api: ApiServer, tenant: Tenant
) -> None:
    http = api.client(tenant.key)
    response = http.post(
        "/v1/agents",
        content=_chunks(2 * MIB),
        headers={"Content-Type": "application/json"},
    )
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413
    assert response.json() == {"error": TOO_LARGE}


def test_item4_a_declared_size_over_the_cap_is_refused_before_the_body_is_sent(
    api: ApiServer, tenant: Tenant
) -> None:
    """A client announcing 10 MB gets its 413 without sending any of it."""
    host, port = api.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/agents HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + tenant.key.encode() + b"\r\n"
            b"Content-Length: 10000000\r\n\r\n"
        )
        answer = _read_response(sock)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert answer.endswith(json.dumps({"error": TOO_LARGE}, separators=(",", ":")).encode())


def _read_response(sock: socket.socket) -> bytes:
    """One whole response (it has a Content-Length) from a raw connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_body_just_under_the_cap_is_accepted(api: ApiServer, tenant: Tenant) -> None:
    http = api.client(tenant.key)
    padding = MIB - len(json.dumps(agent_body(system_prompt=""))) - 10
    body = json.dumps(agent_body(system_prompt="x" * padding))
    assert len(body) < MIB
    response = http.post("/v1/agents", content=body, headers={"Content-Type": "application/json"})
    # Accepted by the cap; the agent schema then judges the prompt (a 422 naming it, or 201).
    assert response.status_code in (201, 422), response.text
    if response.status_code == 422:
        assert response.json()["error"]["field"] == "system_prompt"


def test_item4_a_carrier_webhook_over_64_kib_is_refused_with_413(api: ApiServer) -> None:
    form = {"CallSid": "CA" + "0" * 32, "To": "+15005550006", "Junk": "x" * (64 * KIB)}
    response = api.twilio.post("/twilio/voice", data=form)
    assert response.status_code == 413
    assert response.json() == {
        "error": {
            "code": "body_too_large",
            "message": f"the request body exceeds the limit of {64 * KIB} bytes",
            "field": None,
        }
    }
    chunked = api.twilio.post(
        "/twilio/status",
        content=_chunks(100 * KIB, 8 * KIB),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert chunked.status_code == 413


def test_item4_deeply_nested_agent_json_is_a_422_naming_the_body(
    api: ApiServer, tenant: Tenant
) -> None:
    http = api.client(tenant.key)
    for body in (
        '{"name":"x","system_prompt":"y","metadata":' + _nested(1000) + "}",
        "[" * 5000 + "]" * 5000,
    ):
        response = http.post(
            "/v1/agents", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, response.text[:300]
        assert response.json()["error"] == {
            "code": "json_too_deep",
            "message": "the JSON body nests arrays and objects deeper than 64 levels",
            "field": "body",
        }


def test_item4_deeply_nested_bodies_of_other_endpoints_are_422_too(
    api: ApiServer, tenant: Tenant
) -> None:
    """Workflows failed with 500 at 500 levels (pydantic's serializer), tools with 400 at
    1,000 (the JSON decoder's recursion limit)."""
    http = api.client(tenant.key)
    workflow: dict[str, Any] = {
        "name": "deep",
        "trigger": {"event": "call.ended"},
        "steps": [{"id": "a", "type": "http", "url": "https://example.com/x", "body": None}],
    }
    deep_workflow = json.dumps(workflow).replace('"body": null', '"body": ' + _nested(500))
    tool = '{"name":"t","description":"d","parameters":' + _nested(1000) + "}"
    for path, body in (("/v1/workflows", deep_workflow), ("/v1/tools", tool)):
        response = http.post(path, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, (path, response.text[:300])
        assert response.json()["error"]["code"] == "json_too_deep"


def test_json_nested_within_the_limit_is_judged_by_the_endpoint(
    api: ApiServer, tenant: Tenant
) -> None:
    http = api.client(tenant.key)
    body = {
        "name": "nested-ok",
        "trigger": {"event": "call.ended"},
        "steps": [
            {
                "id": "a",
                "type": "http",
                "url": "https://example.com/x",
                "body": json.loads(_nested(40)),
            }
        ],
    }
    response = http.post("/v1/workflows", json=body)
    assert response.status_code == 201, response.text


def test_a_json_body_sent_as_text_is_still_never_a_500(api: ApiServer, tenant: Tenant) -> None:
    """Only JSON content types are measured on the way in; the agent endpoint parses any body
    and catches the decoder's recursion itself."""
    response = httpx.post(
        f"{api.base_url}/v1/agents",
        content="[" * 5000 + "]" * 5000,
        headers={"Authorization": f"Bearer {tenant.key}", "Content-Type": "text/plain"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "json_too_deep"

"""Security headers on every response, whoever answers it: handlers, the framework's own
errors, the body caps and the carrier webhooks (issue 11, item 5)."""

from __future__ import annotations

import httpx
from tests.api.conftest import ApiServer, Tenant

from aybiza.app import create_app
from aybiza.config import Settings

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def _assert_secured(response: httpx.Response) -> None:
    headers = response.headers
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    assert headers["x-content-type-options"] == "nosniff", where
    assert headers["x-frame-options"] == "DENY", where
    assert headers["referrer-policy"] == "no-referrer", where
    assert "default-src 'none'" in headers["content-security-policy"], where
    assert "frame-ancestors 'none'" in headers["content-security-policy"], where


def test_item5_every_response_carries_the_security_headers(api: ApiServer, tenant: Tenant) -> None:
    http = api.client(tenant.key)
    anonymous = api.client(None)
    responses = [
        http.get("/v1/agents"),
        anonymous.get("/v1/agents"),
        http.get("/v1/agents/" + "0" * 32),
        anonymous.get("/no-such-page"),
        anonymous.delete("/healthz"),
        anonymous.get("/healthz"),
        anonymous.get("/readyz"),
        anonymous.get("/metrics"),
        anonymous.get("/openapi.json"),
        http.post("/v1/agents", content=b"{" * 10, headers={"Content-Type": "application/json"}),
        http.post("/v1/agents", content=b" " * (1024 * 1024 + 1)),
        anonymous.post("/twilio/voice", data={"To": "+15005550006"}),
    ]
    assert {r.status_code for r in responses} >= {200, 401, 404, 405, 413, 422}
    for response in responses:
        _assert_secured(response)
        assert response.headers["content-security-policy"] == API_CSP
        assert "strict-transport-security" not in response.headers
    for response in responses:
        if response.request.url.path.startswith("/v1/"):
            assert response.headers["cache-control"] == "no-store"


def test_item5_https_requests_get_strict_transport_security(api: ApiServer) -> None:
    """Through a proxy uvicorn trusts (loopback by default), the forwarded scheme counts."""
    response = api.client(None).get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["strict-transport-security"] == "max-age=31536000"


async def test_item5_an_https_public_url_gets_strict_transport_security() -> None:
    # No lifespan runs here: /healthz needs nothing opened.
    app = create_app(Settings(public_url="https://voice.example.com"))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        response = await client.get("/healthz")
    assert response.headers["strict-transport-security"] == "max-age=31536000"
    _assert_secured(response)


def test_the_interactive_docs_may_load_their_own_assets(api: ApiServer) -> None:
    response = api.client(None).get("/docs")
    assert response.status_code == 200
    _assert_secured(response)
    policy = response.headers["content-security-policy"]
    assert "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net" in policy

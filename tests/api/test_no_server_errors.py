"""Property: whatever the request (any operation of the OpenAPI document, any path parameter,
query string or JSON body, and any Twilio webhook form), the API never answers 5xx, and every
error is the JSON error body."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.api.conftest import ApiServer
from tests.api.helpers import agent_body, create_agent, create_number

_SETTINGS = settings(
    max_examples=int(__import__("os").environ.get("FUZZ_N", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=__import__("os").environ.get("FUZZ_N") is None,
)

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["1.0.0", "+15005550006", "call.ended", "sip_trunk", "*", "\x00", "é" * 70]),
)
_json = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=12,
)
_keys = st.sampled_from(
    [
        "name",
        "version",
        "number",
        "type",
        "agent_id",
        "agent_version",
        "version_weights",
        "region",
        "fallback_region",
        "fallback_number",
        "sip",
        "url",
        "events",
        "scopes",
        "grace_period_s",
        "enabled",
        "parameters",
        "flow",
        "language",
        "greeting",
    ]
)


_RAW_BODIES = [
    b"NaN",
    b'{"version_weights": {"1.0.0": Infinity}}',
    b'{"grace_period_s": 1e999}',
    b'{"name": "x", "system_prompt": "y", "parameters": {"temperature": NaN}}',
    b'{"scopes": ["*"], "name": "\\ud800"}',
    b"\xff\xfe{",
    b'{"a": ' * 200,
    b"",
]


def _body(valid: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Random JSON, or a valid body with some members replaced by random values."""
    mutated = st.dictionaries(_keys, _json, max_size=4).map(lambda extra: {**valid, **extra})
    return st.one_of(_json, mutated)


# Values that databases treat specially: NUL (PostgreSQL text cannot hold it), odd
# Unicode, very long text, huge numbers, timestamps out of range.
_ODD = [
    "\x00",
    "a\x00b",
    "\ufffd\u202e",
    "x" * 5000,
    str(2**70),
    "-1",
    "0001-01-01T00:00:00+09:00",
    "9999-12-31T23:59:59-09:00",
    "completed",
    "ringing",
    "true",
]


def _param_values(known: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(known), st.sampled_from(_ODD), st.text(min_size=1, max_size=80)
    )


def _operations(api: ApiServer) -> list[tuple[str, str, list[str]]]:
    document = api.twilio.get("/openapi.json").json()
    return sorted(
        (
            method.upper(),
            path,
            [p["name"] for p in spec.get("parameters", []) if p["in"] == "query"],
        )
        for path, item in document["paths"].items()
        if path.startswith("/v1/")
        for method, spec in item.items()
    )


def _check(response: httpx.Response) -> None:
    assert response.status_code < 500, (
        response.request.method,
        response.request.url,
        response.text,
    )
    if response.status_code >= 400 and response.request.method != "HEAD":
        error = response.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)


def test_no_request_to_the_api_gets_a_server_error(api: ApiServer) -> None:
    tenant = api.tenant(max_concurrent_calls=1000)
    http = api.client(tenant.key)
    agent = create_agent(http)
    number = create_number(http, agent["id"])
    webhook = http.post(
        "/v1/webhooks", json={"url": "https://example.com", "events": ["call.ended"]}
    )
    known = [agent["id"], number["id"], webhook.json()["id"], "1.0.0", "CA" + "0" * 32, "%00"]
    operations = _operations(api)
    valid = {
        "agents": agent_body(),
        "numbers": {"number": "+15551234567", "type": "twilio", "agent_id": agent["id"]},
    }

    @_SETTINGS
    @given(data=st.data())
    def request(data: st.DataObject) -> None:
        method, template, query_names = data.draw(st.sampled_from(operations))
        path = template
        while "{" in path:
            start, end = path.index("{"), path.index("}")
            value = data.draw(_param_values(known))
            path = path[:start] + quote(value, safe="") + path[end + 1 :]
        params = {
            name: data.draw(
                st.one_of(st.text(max_size=30), st.integers().map(str), st.sampled_from(_ODD))
            )
            for name in data.draw(st.lists(st.sampled_from(query_names or ["x"]), max_size=3))
        }
        body = None
        if method in ("POST", "PUT", "PATCH"):
            body = data.draw(_body(valid["numbers" if "phone" in template else "agents"]))
        if data.draw(st.integers(0, 9)) == 0:
            # Text no JSON encoder writes: NaN, Infinity, truncated or invalid UTF-8.
            raw = data.draw(st.sampled_from(_RAW_BODIES))
            response = http.request(
                method,
                path,
                params=params,
                content=raw,
                headers={"content-type": "application/json"},
            )
        else:
            response = http.request(method, path, params=params, json=body)
        _check(response)

    request()


def test_no_webhook_form_gets_a_server_error(api: ApiServer) -> None:
    fields = st.sampled_from(["CallSid", "From", "To", "Direction", "CallStatus", "Other"])

    @_SETTINGS
    @given(
        form=st.dictionaries(fields, st.text(max_size=90), max_size=6),
        path=st.sampled_from(["/twilio/voice", "/twilio/connect-action", "/twilio/status"]),
    )
    def post(form: dict[str, str], path: str) -> None:
        _check(api.twilio.post(path, data=form))

    post()

"""Rate limits per API key and per source address (issue 11, item 5): 429 with ``Retry-After``
and the JSON error, counted in the process by default and in Redis, shared by every worker,
when ``AYBIZA_REDIS_URL`` is set.

Addresses are told apart with ``X-Forwarded-For``, which uvicorn honours from loopback (its
default trusted proxy), so every test has addresses of its own while only loopback is
connected to. The addresses are documentation ones (RFC 5737) and never dialled.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from tests.api.conftest import ApiServer, serve_api
from tests.api.databases import ScratchDatabase
from tests.automation.helpers import REDIS_URL, redis_reachable

from aybiza.config import Settings

KEY_LIMIT = 4
ADDRESS_LIMIT = 6
_addresses = (f"203.0.113.{n}" for n in itertools.count(1))


def _limited(settings: Settings, _base_url: str) -> Settings:
    return replace(
        settings, rate_limit_key_per_min=KEY_LIMIT, rate_limit_address_per_min=ADDRESS_LIMIT
    )


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A server with small limits, counting in its own process."""
    with serve_api("sqlite", tmp_path_factory.mktemp("limited"), _limited) as server:
        yield server


def _from(address: str, key: str | None = None) -> dict[str, str]:
    headers = {"X-Forwarded-For": address}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def _assert_limited(response: httpx.Response, per_min: int, field: str | None) -> None:
    assert response.status_code == 429, response.text
    wait = int(response.headers["retry-after"])
    assert 1 <= wait <= 60 // per_min
    error = response.json()["error"]
    assert error["code"] == "rate_limited" and error["field"] == field
    assert f"at most {per_min} a minute" in error["message"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_item5_an_api_key_over_its_limit_gets_429_with_retry_after(limited: ApiServer) -> None:
    tenant = limited.tenant()
    http = limited.client(None)
    for _ in range(KEY_LIMIT):
        # A new address each time: only the key's own limit is in play.
        response = http.get("/v1/agents", headers=_from(next(_addresses), tenant.key))
        assert response.status_code == 200, response.text
    refused = http.get("/v1/agents", headers=_from(next(_addresses), tenant.key))
    _assert_limited(refused, KEY_LIMIT, "Authorization")
    # The limit is the key's, not the tenant's: its other key is not held back.
    other = limited.key(tenant, ("*",))
    assert http.get("/v1/agents", headers=_from(next(_addresses), other)).status_code == 200


def test_item5_an_address_over_its_limit_gets_429_with_retry_after(limited: ApiServer) -> None:
    address = next(_addresses)
    http = limited.client(None)
    answers = [http.get("/v1/agents", headers=_from(address)).status_code for _ in range(6)]
    assert answers == [401] * ADDRESS_LIMIT
    _assert_limited(http.get("/v1/agents", headers=_from(address)), ADDRESS_LIMIT, None)
    # Carrier webhooks count against the address too; probes never do.
    twilio = http.post("/twilio/voice", data={"To": "+15005550006"}, headers=_from(address))
    assert twilio.status_code == 429
    assert http.get("/healthz", headers=_from(address)).status_code == 200
    assert http.get("/v1/agents", headers=_from(next(_addresses))).status_code == 401


@pytest.mark.skipif(not redis_reachable(), reason="no Redis at AYBIZA_TEST_REDIS_URL")
def test_item5_limits_are_shared_by_workers_through_redis(tmp_path: Path) -> None:
    prefix = f"aybiza-test:{secrets.token_hex(6)}:"

    def shared(settings: Settings, base_url: str) -> Settings:
        return replace(_limited(settings, base_url), redis_url=REDIS_URL, rate_limit_prefix=prefix)

    try:
        with serve_api("sqlite", tmp_path, shared) as first:
            database = ScratchDatabase(first.database_url)
            with serve_api("sqlite", tmp_path, shared, database=database) as second:
                tenant = first.tenant()
                workers = itertools.cycle([first.client(None), second.client(None)])
                for _ in range(KEY_LIMIT):
                    http = next(workers)
                    answer = http.get("/v1/agents", headers=_from(next(_addresses), tenant.key))
                    assert answer.status_code == 200, answer.text
                # Each worker has seen only half the requests: only a shared count refuses.
                refused = next(workers).get(
                    "/v1/agents", headers=_from(next(_addresses), tenant.key)
                )
                _assert_limited(refused, KEY_LIMIT, "Authorization")
        assert _redis_keys(prefix), "the counters live in Redis under the configured prefix"
    finally:
        _delete_redis_keys(prefix)


def _redis_keys(prefix: str) -> list[bytes]:
    async def scan() -> list[bytes]:
        redis = Redis.from_url(REDIS_URL)
        try:
            return [key async for key in redis.scan_iter(match=prefix + "*")]
        finally:
            await redis.aclose()

    return asyncio.run(scan())


def _delete_redis_keys(prefix: str) -> None:
    async def delete() -> None:
        redis = Redis.from_url(REDIS_URL)
        try:
            keys = [key async for key in redis.scan_iter(match=prefix + "*")]
            if keys:
                await redis.delete(*keys)
        finally:
            await redis.aclose()

    asyncio.run(delete())

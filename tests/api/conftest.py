"""The real app over real HTTP: uvicorn on a free port in a background thread, once per test
session and database. SQLite always; PostgreSQL too when ``AYBIZA_TEST_DATABASE_URL`` names a
server (each pytest worker gets a fresh database there, dropped at the end). ``carrier`` is a
second server configured for Twilio, talking to the fake Twilio REST API."""

from __future__ import annotations

import asyncio
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from tests.api.carrier import (
    PLATFORM_SID,
    PLATFORM_TOKEN,
    Carrier,
    running_fake_twilio,
)
from tests.api.databases import BACKENDS, ScratchDatabase, create_database
from tests.fakes.loopback import LOOPBACK_NETWORKS, LoopbackOnlyNetwork

from aybiza.api.http_server import uvicorn_options
from aybiza.app import create_app
from aybiza.config import Settings
from aybiza.services.tenants import TenantService

T = TypeVar("T")
OPERATOR_KEY = "ayb_operator-key-for-tests-" + "x" * 20


@dataclass(frozen=True)
class Tenant:
    """A tenant made for one test, with a key."""

    id: str
    name: str
    key: str


@dataclass
class ApiServer:
    """A running server: its URL, its app (state holds the services) and its event loop."""

    backend: str
    base_url: str
    app: FastAPI
    loop: asyncio.AbstractEventLoop
    database_url: str
    data_dir: Path
    _clients: list[httpx.Client] = field(default_factory=list)
    _twilio: httpx.Client | None = None

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run ``coro`` on the server's loop (where its database engine lives)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """``run`` for async tests: the test's own loop keeps running meanwhile."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def aclient(self, key: str | None) -> httpx.AsyncClient:
        """An async client (async tests must not block their loop on HTTP); close it."""
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30)

    def tenant(
        self, scopes: tuple[str, ...] = ("*",), *, max_concurrent_calls: int | None = None
    ) -> Tenant:
        """A fresh tenant with one key holding ``scopes``."""
        service: TenantService = self.app.state.tenants
        name = f"t-{secrets.token_hex(6)}"

        async def make() -> Tenant:
            row = await service.ensure_tenant(name, max_concurrent_calls=max_concurrent_calls)
            issued = await service.create_key(row.id, list(scopes), name="test")
            return Tenant(row.id, name, issued.secret)

        return self.run(make())

    def key(self, tenant: Tenant, scopes: tuple[str, ...]) -> str:
        """Another key of ``tenant`` with ``scopes``."""
        service: TenantService = self.app.state.tenants
        return self.run(service.create_key(tenant.id, list(scopes))).secret

    def client(self, key: str | None) -> httpx.Client:
        """An HTTP client sending ``key`` as the bearer key (none when ``key`` is None)."""
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        client = httpx.Client(base_url=self.base_url, headers=headers, timeout=30)
        self._clients.append(client)
        return client

    @property
    def twilio(self) -> httpx.Client:
        """A client without a key, for the Twilio webhooks (shared: clients are costly)."""
        if self._twilio is None:
            self._twilio = self.client(None)
        return self._twilio

    def close_clients(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()


class _ThreadedServer:
    """uvicorn serving the app ``make_app(base_url)`` builds, from its own thread and loop,
    with the options ``aybiza serve`` uses for its settings."""

    def __init__(self, make_app: Callable[[str], tuple[FastAPI, Settings]]) -> None:
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and
        # without it every response waits ~40 ms for a delayed ACK.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.app, settings = make_app(f"http://127.0.0.1:{self.port}")
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="on",
            **uvicorn_options(settings, in_process=True),
        )
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve, name="api-server", daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve(sockets=[self.sock]))

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API server did not start (see the log above)")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.loop.close()
        self.sock.close()


def test_settings(data_dir: Path, database_url: str) -> Settings:
    """Settings for a test server: fast webhook retries and hang-up polling; webhooks may
    reach the tests' loopback receivers (the operator's allow-list). The webhook dispatcher is
    woken when a delivery is queued and sleeps exactly until a retry is due, so its idle poll
    only finds what another process queued: 0.5 s, not the 20 polls a second (each a database
    round trip, in every session's server) that once took an eighth of a test worker's CPU."""
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        api_key=OPERATOR_KEY,
        log_level="warning",
        stt_decoders=1,
        webhook_max_attempts=4,
        webhook_backoff_s=0.2,
        webhook_timeout_s=5.0,
        webhook_poll_s=0.5,
        hangup_poll_s=0.1,
        outbound_allow_cidrs=LOOPBACK_NETWORKS,
    )


@contextmanager
def serve_api(
    backend: str,
    data_dir: Path,
    configure: Callable[[Settings, str], Settings] | None = None,
    *,
    database: ScratchDatabase | None = None,
) -> Iterator[ApiServer]:
    """The real app over HTTP on a fresh database of ``backend`` (or on ``database``, which
    the caller then removes: a second server on it acts as another worker); ``configure``
    adjusts the test settings, knowing the server's base URL."""
    owned = database is None
    scratch = database or create_database(backend, data_dir)

    def make_app(base_url: str) -> tuple[FastAPI, Settings]:
        settings = test_settings(data_dir, scratch.url)
        if configure is not None:
            settings = configure(settings, base_url)
        # Requests to customers' URLs can reach loopback and nothing else.
        app = create_app(settings, rng=random.Random(7), network=LoopbackOnlyNetwork())
        return app, settings

    threaded = _ThreadedServer(make_app)
    threaded.start()
    server = ApiServer(
        backend=backend,
        base_url=f"http://127.0.0.1:{threaded.port}",
        app=threaded.app,
        loop=threaded.loop,
        database_url=scratch.url,
        data_dir=data_dir,
    )
    try:
        yield server
    finally:
        server.close_clients()
        threaded.stop()
        if owned:
            scratch.drop()


@pytest.fixture(scope="session", params=BACKENDS)
def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """The running server for one database backend."""
    backend: str = request.param
    with serve_api(backend, tmp_path_factory.mktemp(f"api-{backend}")) as server:
        yield server


@pytest.fixture(scope="session", params=BACKENDS)
def carrier(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Carrier]:
    """A server with Twilio configured (the platform's account, ``AYBIZA_PUBLIC_URL``) and
    the fake Twilio REST API it talks to."""
    backend: str = request.param
    with running_fake_twilio() as (fake, background):

        def with_twilio(settings: Settings, base_url: str) -> Settings:
            return replace(
                settings,
                public_url=base_url,
                twilio_account_sid=PLATFORM_SID,
                twilio_auth_token=PLATFORM_TOKEN,
                twilio_api_url=fake.url,
            )

        data_dir = tmp_path_factory.mktemp(f"carrier-{backend}")
        with serve_api(backend, data_dir, with_twilio) as server:
            yield Carrier(server, fake, background)


@pytest.fixture
def tenant(api: ApiServer) -> Tenant:
    """A fresh tenant with an all-scopes key and room for many calls at once (tests of the
    concurrency limit make their own)."""
    return api.tenant(max_concurrent_calls=10_000)


@pytest.fixture
def http(api: ApiServer, tenant: Tenant) -> httpx.Client:
    """A client with the fresh tenant's key."""
    return api.client(tenant.key)

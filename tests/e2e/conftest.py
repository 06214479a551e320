"""A real server (``aybiza serve``) in its own process, driven over real HTTP and WebSockets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server_process import AUTH_TOKEN, RunningServer, running_server
from .sip_server import SipServer, running_sip_server

__all__ = ["AUTH_TOKEN", "RunningServer", "SipServer"]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The server on embedded engines (no cloud keys), shared by a test process's e2e tests."""
    with running_server(tmp_path_factory.mktemp("aybiza-data")) as running:
        yield running


@pytest.fixture(scope="session")
def sip_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SipServer]:
    """A server that answers SIP too (loopback UDP and TCP, its own RTP ports), shared by the
    SIP end-to-end tests of a test process."""
    with running_sip_server(tmp_path_factory.mktemp("aybiza-sip")) as running:
        yield running

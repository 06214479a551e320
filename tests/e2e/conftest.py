"""A real server (``aybiza serve``) in its own process, driven over real HTTP and WebSockets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server_process import AUTH_TOKEN, RunningServer, running_server

__all__ = ["AUTH_TOKEN", "RunningServer"]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The server on embedded engines (no cloud keys), shared by a test process's e2e tests."""
    with running_server(tmp_path_factory.mktemp("aybiza-data")) as running:
        yield running

"""Waiting for a process of the stack to be ready: a port that accepts connections, or a URL
that answers 200; a process that exits or runs out of time fails with its log's tail."""

from __future__ import annotations

import contextlib
import socket
import time

import httpx

from bench.processes import ManagedProcess, StackError
from bench.worker_sockets import worker_holding, worker_pids


def _deadline_check(process: ManagedProcess, deadline: float, what: str) -> None:
    code = process.exited()
    if code is not None:
        raise StackError(f"{process.name} exited with {code}:\n{process.log_tail()}")
    if time.monotonic() > deadline:
        raise StackError(f"{process.name} not {what} in time:\n{process.log_tail()}")


def wait_for_port(process: ManagedProcess, port: int, timeout_s: float) -> None:
    """Return once 127.0.0.1:``port`` accepts a TCP connection."""
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        _deadline_check(process, deadline, f"listening on {port}")
        time.sleep(0.05)


def wait_for_http(process: ManagedProcess, url: str, timeout_s: float) -> None:
    """Return once a GET of ``url`` answers 200."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0) as client:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url).status_code == 200:
                    return
            _deadline_check(process, deadline, f"ready at {url}")
            time.sleep(0.1)


def wait_for_workers(
    process: ManagedProcess, url: str, port: int, workers: int, timeout_s: float
) -> None:
    """Return once each of the ``workers`` processes of ``aybiza serve --workers`` answered a
    GET of ``url`` with 200 (each on a new connection, its worker read from ``/proc``): the
    load must not start while one worker still starts."""
    deadline = time.monotonic() + timeout_s
    ready: set[int] = set()
    while True:
        pids = worker_pids(process.pid)
        if len(pids) == workers:
            with contextlib.suppress(httpx.HTTPError), httpx.Client(timeout=2.0) as client:
                response = client.get(url)
                stream = response.extensions["network_stream"]
                worker = worker_holding(port, stream.get_extra_info("client_addr")[1], pids)
                if response.status_code == 200 and worker is not None:
                    ready.add(worker)
            if ready >= set(pids):
                return
        _deadline_check(process, deadline, f"ready at {url} in all {workers} workers")
        time.sleep(0.1)

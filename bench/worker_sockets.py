"""Which worker process of ``aybiza serve --workers N`` holds a given client connection.

uvicorn's workers accept from one shared listening socket, so the kernel, not the client, picks
the worker of each connection. The two-worker test (which must place a call's webhook and media
stream on different workers) and the benchmark (which reads each worker's ``/metrics``) read
the answer from ``/proc``: the server side of a
TCP connection is the ``ESTABLISHED`` socket from the server's port to the client's, found by
its inode in ``/proc/net/tcp``; the worker is the process with a file descriptor on that socket.
"""

from __future__ import annotations

import os
from pathlib import Path

_ESTABLISHED = "01"


def worker_pids(server_pid: int) -> list[int]:
    """The worker processes of the server whose supervisor is ``server_pid`` (uvicorn spawns
    them with ``multiprocessing``; its resource tracker is left out)."""
    workers: list[int] = []
    for task in Path(f"/proc/{server_pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"multiprocessing.spawn" in command:
                workers.append(int(child))
    return sorted(workers)


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1], 16)


def _server_side_inodes(server_port: int, client_port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            if (
                state == _ESTABLISHED
                and _port(local) == server_port
                and _port(remote) == client_port
            ):
                inodes.add(inode)
    return inodes


def worker_holding(server_port: int, client_port: int, workers: list[int]) -> int | None:
    """The worker (of ``workers``) holding the server side of the connection from
    ``client_port`` to ``server_port``, or None if none does (not accepted yet, or closed)."""
    targets = {f"socket:[{inode}]" for inode in _server_side_inodes(server_port, client_port)}
    if not targets:
        return None
    for pid in workers:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") in targets:
                    return pid
            except OSError:
                continue
    return None

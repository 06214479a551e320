"""CPU time and memory of a process tree, read from ``/proc`` (the benchmark's servers and
fakes)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_KIB = 1024


@dataclass(frozen=True, slots=True)
class Usage:
    """CPU time and memory of a process tree at one moment.

    ``cpu_s`` is user + system time of the process, its live descendants and the children it
    already reaped; ``rss_bytes`` is the resident memory of the process and its live
    descendants (pages shared between them are counted once per process)."""

    cpu_s: float
    rss_bytes: int
    processes: int

    def __sub__(self, earlier: Usage) -> Usage:
        """The CPU time spent since ``earlier``; memory and process count are this sample's."""
        return Usage(self.cpu_s - earlier.cpu_s, self.rss_bytes, self.processes)


def sample_usage(pid: int) -> Usage:
    """Read ``/proc`` for ``pid`` and its descendants (processes that vanish are skipped)."""
    stats = _all_stats()
    if pid not in stats:
        raise ProcessLookupError(pid)
    tree = _descendants(pid, stats) | {pid}
    ticks = 0
    for member in tree:
        fields = stats[member]
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: reaped children
    rss = sum(_rss_bytes(member) for member in tree)
    return Usage(cpu_s=ticks / _CLK_TCK, rss_bytes=rss, processes=len(tree))


def _all_stats() -> dict[int, list[str]]:
    """``/proc/PID/stat`` of every process, split after the command name (field 3 first)."""
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        stats[int(entry.name)] = raw[raw.rindex(")") + 2 :].split()
    return stats


def _descendants(pid: int, stats: Mapping[int, list[str]]) -> set[int]:
    children: dict[int, list[int]] = {}
    for member, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(member)  # fields[1]: ppid
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _rss_bytes(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * _KIB  # reported in kB
    return 0  # a zombie or kernel thread has no VmRSS

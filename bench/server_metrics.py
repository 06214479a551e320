"""What the benchmark reads from AYBIZA's ``/metrics`` around a run: event-loop stalls and
garbage-collection pauses (``aybiza.loop_watch``, ``aybiza.collector``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.worker_sockets import worker_holding, worker_pids

STALL_GAUGE = "aybiza_event_loop_stall_longest_seconds"
GC_HISTOGRAM = "aybiza_gc_pause_seconds"


@dataclass(frozen=True, slots=True)
class Scrape:
    """One reading: the longest recent loop stall and the GC pause histogram's samples
    (``(le, cumulative count)`` over all generations, and the total count and sum)."""

    stall_longest_s: float | None
    gc_buckets: dict[float, float]
    gc_count: float
    gc_sum_s: float


@dataclass(frozen=True, slots=True)
class GcPauses:
    """Collections between two scrapes: how many, their total, and the smallest bucket bound
    the longest of them fits under (``inf`` past the last bucket, None when there were none)."""

    count: int
    total_ms: float
    longest_under_ms: float | None


def scrape(url: str, client: httpx.Client | None = None) -> Scrape | None:
    """Read ``url``/metrics; None if the server does not answer or exposes no loop watch."""
    try:
        if client is None:
            response = httpx.get(url + "/metrics", timeout=5)
        else:
            response = client.get(url + "/metrics", timeout=5)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return parse(response.text)


def parse(text: str) -> Scrape:
    """The figures of a Prometheus text exposition (absent ones are None or zero)."""
    stall: float | None = None
    buckets: dict[float, float] = {}
    count = total = 0.0
    for family in text_string_to_metric_families(text):
        if family.name == STALL_GAUGE:
            stall = max((sample.value for sample in family.samples), default=None)
        elif family.name == GC_HISTOGRAM:
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    bound = float(sample.labels["le"])
                    buckets[bound] = buckets.get(bound, 0.0) + sample.value
                elif sample.name.endswith("_count"):
                    count += sample.value
                elif sample.name.endswith("_sum"):
                    total += sample.value
    return Scrape(stall, buckets, count, total)


def gc_between(before: Scrape, after: Scrape) -> GcPauses:
    """The collections that ran between ``before`` and ``after``."""
    count = round(after.gc_count - before.gc_count)
    longest: float | None = None
    if count > 0:
        for bound in sorted(after.gc_buckets):
            if after.gc_buckets[bound] - before.gc_buckets.get(bound, 0.0) >= count:
                longest = bound
                break
    return GcPauses(
        count=count,
        total_ms=round((after.gc_sum_s - before.gc_sum_s) * 1000, 1),
        longest_under_ms=None
        if longest is None
        else (math.inf if math.isinf(longest) else round(longest * 1000, 1)),
    )


def scrape_workers(url: str, server_pid: int, port: int, attempts: int = 60) -> dict[int, Scrape]:
    """``/metrics`` of every worker of ``aybiza serve --workers N`` (pid → reading): each worker
    has its own, and the kernel gives each new connection to either, so connections are opened
    until every worker answered one (the worker of each read from ``/proc``)."""
    workers = worker_pids(server_pid)
    readings: dict[int, Scrape] = {}
    for _ in range(attempts):
        if len(readings) == len(workers):
            break
        with httpx.Client(timeout=5) as client:
            try:
                response = client.get(url + "/metrics")
            except httpx.HTTPError:
                continue
            client_port = response.extensions["network_stream"].get_extra_info("client_addr")[1]
            worker = worker_holding(port, client_port, workers)
        if response.status_code == 200 and worker is not None:
            readings[worker] = parse(response.text)
    return readings


def gc_between_workers(before: dict[int, Scrape], after: dict[int, Scrape]) -> GcPauses:
    """The collections of every worker read both times: counts and totals added, the longest
    the longest of any."""
    count, total, longest = 0, 0.0, None
    for worker in before.keys() & after.keys():
        pauses = gc_between(before[worker], after[worker])
        count += pauses.count
        total += pauses.total_ms
        if pauses.longest_under_ms is not None:
            longest = max(longest or 0.0, pauses.longest_under_ms)
    return GcPauses(count=count, total_ms=round(total, 1), longest_under_ms=longest)

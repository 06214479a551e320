"""Rate-limit counters: the generic cell rate algorithm (GCRA), in this process or in Redis.

A limit of ``per_min`` requests a minute lets a client send up to ``per_min`` at once, then one
every ``60 / per_min`` seconds: each bucket keeps a single number, the time its next request
would be due if requests came evenly (its "theoretical arrival time"). A request is refused
while that time is more than a minute ahead; the wait until it is not is the ``Retry-After``.

``RedisBuckets`` keeps the numbers in Redis, updated by one Lua script per request on the
Redis server's clock, so every worker and every server sharing it counts together. When Redis
cannot be reached it falls back to counting in the process (and logs that, once a minute).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

WINDOW_S = 60.0
# The in-process table is swept of buckets that have fully refilled when it grows past this.
_SWEEP_AT = 50_000


@dataclass(frozen=True, slots=True)
class Bucket:
    """One counter: ``key`` (e.g. ``address:203.0.113.9``) allowing ``per_min`` a minute."""

    key: str
    per_min: int

    @property
    def interval_s(self) -> float:
        """Seconds between requests at the sustained rate."""
        return WINDOW_S / self.per_min


@dataclass(frozen=True, slots=True)
class Verdict:
    """``refused_by``: the first bucket that refused (None: allowed); ``retry_after_s``: how
    long until it would allow one more request."""

    refused_by: Bucket | None
    retry_after_s: float = 0.0


class RateBuckets(Protocol):
    """Takes one request from each bucket in order, stopping at the first that refuses."""

    async def take(self, buckets: Sequence[Bucket]) -> Verdict: ...

    async def aclose(self) -> None: ...


class LocalBuckets:
    """Buckets in this process (each worker counts on its own)."""

    def __init__(self) -> None:
        self._due: dict[str, float] = {}

    async def take(self, buckets: Sequence[Bucket]) -> Verdict:
        """See ``RateBuckets.take``."""
        return self.take_now(buckets, time.monotonic())

    def take_now(self, buckets: Sequence[Bucket], now: float) -> Verdict:
        """``take`` at the monotonic time ``now``."""
        for bucket in buckets:
            interval = bucket.interval_s
            due = max(self._due.get(bucket.key, now), now) + interval
            allowed_from = due - bucket.per_min * interval
            if allowed_from > now:
                return Verdict(bucket, allowed_from - now)
            self._due[bucket.key] = due
        if len(self._due) > _SWEEP_AT:
            self._due = {key: due for key, due in self._due.items() if due > now}
        return Verdict(None)

    async def aclose(self) -> None:
        """Nothing to release."""


# KEYS: the buckets' Redis keys; ARGV: per bucket its interval and its burst, in ms and
# requests. Returns {0, "0"} when allowed, else {index of the refusing bucket, wait in ms}.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local stored = redis.call('GET', key)
  local due = now
  if stored then due = math.max(tonumber(stored), now) end
  due = due + interval
  local allowed_from = due - burst * interval
  if allowed_from > now then
    return {i, tostring(allowed_from - now)}
  end
  redis.call('SET', key, tostring(due), 'PX', math.ceil(due - now))
end
return {0, '0'}
"""


class RedisBuckets:
    """Buckets in Redis under ``prefix``, shared by every process that uses the same Redis."""

    def __init__(self, url: str, prefix: str, fallback: LocalBuckets | None = None) -> None:
        self._redis: Redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._prefix = prefix
        self._script = self._redis.register_script(_GCRA)
        self._fallback = fallback or LocalBuckets()
        self._warned_at = -WINDOW_S

    async def take(self, buckets: Sequence[Bucket]) -> Verdict:
        """See ``RateBuckets.take``."""
        if not buckets:
            return Verdict(None)
        keys = [self._prefix + bucket.key for bucket in buckets]
        args: list[float | int] = []
        for bucket in buckets:
            args += [bucket.interval_s * 1000, bucket.per_min]
        try:
            index, wait_ms = await self._script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            now = time.monotonic()
            if now - self._warned_at >= WINDOW_S:
                self._warned_at = now
                log.warning("rate_limit.redis_unreachable", error=str(exc), counting="in-process")
            return await self._fallback.take(buckets)
        if int(index) == 0:
            return Verdict(None)
        return Verdict(buckets[int(index) - 1], float(wait_ms) / 1000)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()

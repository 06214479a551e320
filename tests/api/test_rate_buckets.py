"""The rate-limit counters: a burst of ``per_min`` at once, then one every ``60 / per_min``
seconds, with the wait until the next one; the same in the process and in Redis."""

from __future__ import annotations

import secrets

import pytest
from redis.asyncio import Redis
from tests.automation.helpers import REDIS_URL, redis_reachable

from aybiza.api.rate_buckets import Bucket, LocalBuckets, RedisBuckets


def test_a_burst_then_one_request_per_interval() -> None:
    buckets = LocalBuckets()
    bucket = Bucket("key:a", per_min=6)  # one every 10 s
    for _ in range(6):
        assert buckets.take_now([bucket], now=100.0).refused_by is None
    refused = buckets.take_now([bucket], now=100.0)
    assert refused.refused_by == bucket and refused.retry_after_s == pytest.approx(10.0)
    assert buckets.take_now([bucket], now=104.0).retry_after_s == pytest.approx(6.0)
    assert buckets.take_now([bucket], now=110.0).refused_by is None
    assert buckets.take_now([bucket], now=110.0).refused_by == bucket


def test_the_first_refusing_bucket_is_named_and_later_ones_are_not_charged() -> None:
    buckets = LocalBuckets()
    address, key = Bucket("address:x", per_min=1), Bucket("key:k", per_min=100)
    assert buckets.take_now([address, key], now=0.0).refused_by is None
    assert buckets.take_now([address, key], now=1.0).refused_by == address
    # The key was charged once only: 99 more fit in its burst.
    for _ in range(99):
        assert buckets.take_now([key], now=1.0).refused_by is None
    assert buckets.take_now([key], now=1.0).refused_by == key


@pytest.mark.skipif(not redis_reachable(), reason="no Redis at AYBIZA_TEST_REDIS_URL")
async def test_redis_buckets_count_alike_across_clients() -> None:
    prefix = f"aybiza-test:{secrets.token_hex(6)}:"
    first, second = RedisBuckets(REDIS_URL, prefix), RedisBuckets(REDIS_URL, prefix)
    bucket = Bucket("key:shared", per_min=3)
    try:
        verdicts = [await (first if i % 2 else second).take([bucket]) for i in range(4)]
        assert [v.refused_by for v in verdicts] == [None, None, None, bucket]
        assert 0 < verdicts[-1].retry_after_s <= 20.0
    finally:
        await first.aclose()
        await second.aclose()
        redis = Redis.from_url(REDIS_URL)
        await redis.delete(prefix + "key:shared")
        await redis.aclose()


async def test_an_unreachable_redis_falls_back_to_counting_in_the_process() -> None:
    # Port 9 on loopback (discard): nothing listens there, the connection is refused.
    buckets = RedisBuckets("redis://127.0.0.1:9/0", "aybiza-test:")
    bucket = Bucket("key:k", per_min=2)
    try:
        verdicts = [(await buckets.take([bucket])).refused_by for _ in range(3)]
    finally:
        await buckets.aclose()
    assert verdicts == [None, None, bucket]

"""The shared 20 ms media ticker, and an endpoint's slots driven from its grid times."""

from __future__ import annotations

import asyncio
import itertools
import time

from aybiza.telephony.sip.media import RtpEndpoint
from aybiza.telephony.sip.offer_answer import MediaParams
from aybiza.telephony.sip.ports import PortRange, RtpPortAllocator
from aybiza.telephony.sip.ticker import PACKET_S, MediaTicker, ticker_for

FAR_END = ("127.0.0.1", 9)  # never reached: the endpoint has no latched source to send to


class Listener:
    async def on_audio(self, frame: bytes) -> None:
        return None

    async def on_dtmf(self, digit: str) -> None:
        return None

    def on_mark(self, name: str) -> None:
        return None


def on_grid(start: float, when: float) -> bool:
    slots = (when - start) / PACKET_S
    return abs(slots - round(slots)) < 1e-6


async def test_every_endpoint_is_called_on_one_drift_free_grid_until_the_last_leaves() -> None:
    ticker = MediaTicker(asyncio.get_running_loop())
    seen: dict[str, list[float]] = {"a": [], "b": []}
    done = asyncio.Event()

    def a(when: float) -> None:
        seen["a"].append(when)
        if len(seen["a"]) == 10:
            done.set()

    def b(when: float) -> None:
        seen["b"].append(when)

    start = ticker.add(a)
    ticker.add(b)
    await done.wait()
    ticker.remove(a)
    ticker.remove(b)
    assert seen["a"] == seen["b"][: len(seen["a"])]  # one tick calls both, in the same order
    assert seen["a"][0] == start
    assert all(on_grid(start, when) for when in seen["a"])
    assert [round((w - start) / PACKET_S) for w in seen["a"]] == list(range(10))
    assert len(ticker) == 0
    ticks = ticker.ticks
    await asyncio.sleep(3 * PACKET_S)
    assert ticker.ticks == ticks, "the timer stops with the last endpoint"


async def test_after_a_long_stall_the_grid_jumps_to_the_latest_tick() -> None:
    ticker = MediaTicker(asyncio.get_running_loop(), max_late_ticks=5)
    calls: list[float] = []
    done = asyncio.Event()

    def tick(when: float) -> None:
        calls.append(when)
        if len(calls) == 2:
            time.sleep(12 * PACKET_S)  # the loop stalls for 240 ms
        if len(calls) == 6:
            done.set()

    start = ticker.add(tick)
    await done.wait()
    ticker.remove(tick)
    assert ticker.jumps >= 1
    assert all(on_grid(start, when) for when in calls)
    steps = [round((b - a) / PACKET_S) for a, b in itertools.pairwise(calls)]
    # Not 12 ticks fired back to back: at most 5 of the stall's ticks are made up.
    assert steps[0] == 1 and steps[1] >= 12 - 5 and all(step >= 1 for step in steps)


async def test_one_failing_endpoint_does_not_stop_the_others() -> None:
    ticker = MediaTicker(asyncio.get_running_loop())
    calls: list[float] = []
    done = asyncio.Event()

    def broken(when: float) -> None:
        raise RuntimeError("boom")

    def fine(when: float) -> None:
        calls.append(when)
        if len(calls) == 3:
            done.set()

    ticker.add(broken)
    ticker.add(fine)
    await done.wait()
    ticker.remove(broken)
    ticker.remove(fine)
    assert len(calls) == 3


async def test_the_loop_has_one_ticker() -> None:
    assert ticker_for() is ticker_for(asyncio.get_running_loop())


async def test_an_endpoint_sends_each_due_slot_catches_up_a_short_stall_and_skips_a_long_one() -> (
    None
):
    allocator = RtpPortAllocator(PortRange(64400, 64599))
    sockets = allocator.bind()
    params = MediaParams("PCMU", 0, 101, FAR_END[0], FAR_END[1], FAR_END[1] + 1, "sendrecv")
    endpoint = RtpEndpoint(sockets, params, Listener(), allocator=allocator)
    try:
        base = 1000.0
        endpoint._on_tick(base)  # slot 0
        endpoint._on_tick(base + PACKET_S)  # slot 1
        endpoint._on_tick(base + PACKET_S)  # the same tick again: nothing more is due
        assert endpoint.sender.packets_sent == 2
        endpoint._on_tick(base + 4 * PACKET_S)  # 60 ms late: slots 2, 3 and 4 go out at once
        assert endpoint.sender.packets_sent == 5 and endpoint.sender.skipped_slots == 0
        endpoint._on_tick(base + 20 * PACKET_S)  # far too late: skipped, one packet for now
        assert endpoint.sender.slot == 20
        assert endpoint.sender.packets_sent == 6 and endpoint.sender.skipped_slots == 15
    finally:
        await endpoint.close()
    assert allocator.in_use == 0

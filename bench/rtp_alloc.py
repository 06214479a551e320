"""Memory the SIP media hot paths allocate per RTP packet, measured with tracemalloc.

One ``RtpEndpoint`` (its sockets bound on loopback, its clock not running) is driven packet by
packet through the three paths every 20 ms of a call crosses:

- receive: the handler the RTP socket calls with each datagram (parse, latch, reception
  statistics, jitter buffer);
- playout: the jitter buffer's frame for the tick;
- send: one slot of the sender (send queue, packet header, socket).

For each packet tracemalloc gives what was still allocated after it (``kept``: the payload the
jitter buffer holds until its tick) and the most that was allocated at once while it ran
(``peak``, beyond what was there before). The datagram itself is made by the event loop before
our code sees it. A path that builds no objects per packet peaks at the payload and the few
integers of its header arithmetic; one that builds a packet object, views, lists or copies
peaks at hundreds of bytes more.

    python -m bench.rtp_alloc              # median and worst bytes per packet, per path
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tracemalloc
from collections.abc import Callable

import numpy as np

from aybiza.audio.codec import pcm16_to_ulaw
from aybiza.telephony.sip.media import RtpEndpoint
from aybiza.telephony.sip.offer_answer import MediaParams
from aybiza.telephony.sip.ports import PortRange, RtpPortAllocator
from aybiza.telephony.sip.rtp import RtpPacket

FRAME = 160
FAR_END = ("127.0.0.1", 9)  # never sent to: the endpoint's latch only compares it


class Listener:
    """Takes what a call loop would, keeping nothing."""

    async def on_audio(self, frame: bytes) -> None:
        return None

    async def on_dtmf(self, digit: str) -> None:
        return None

    def on_mark(self, name: str) -> None:
        return None


def datagrams(count: int) -> list[bytes]:
    """``count`` consecutive RTP packets of a tone, as a far end sends them."""
    t = np.arange(count * FRAME) / 8000
    audio = pcm16_to_ulaw((8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16))
    return [
        RtpPacket(0, (1000 + n) % 65536, (123_456 + n * FRAME) % 2**32, 0xFA5E,
                  audio[n * FRAME : (n + 1) * FRAME]).serialize()
        for n in range(count)
    ]  # fmt: skip


Measured = dict[str, tuple[list[int], list[int]]]


def measure(into: Measured, name: str, step: Callable[[], object]) -> None:
    """Add the bytes ``step()`` kept and its peak to ``into[name]``."""
    before = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    step()
    current, peak = tracemalloc.get_traced_memory()
    kept, peaks = into.setdefault(name, ([], []))
    kept.append(current - before)
    peaks.append(peak - before)


async def run(count: int) -> Measured:
    allocator = RtpPortAllocator(PortRange(64200, 64399))
    sockets = allocator.bind()
    params = MediaParams("PCMU", 0, 101, FAR_END[0], FAR_END[1], FAR_END[1] + 1, "sendrecv")
    endpoint = RtpEndpoint(sockets, params, Listener(), allocator=allocator)
    packets = datagrams(count + 50)
    audio = b"".join(packet[12:] for packet in packets)
    endpoint.send_audio(audio)
    receive = endpoint._on_rtp  # what the socket's protocol calls for each datagram
    # Warm up: latch the far end, fill the jitter buffer to its depth, fill caches.
    for n in range(50):
        receive(packets[n], FAR_END)
        endpoint.jitter.pop()
        endpoint._send_slot()
    results: Measured = {}
    tracemalloc.start()
    try:
        for packet in packets[50:]:  # each tick: a packet in, a frame out, a packet sent
            measure(results, "receive", lambda: receive(packet, FAR_END))  # noqa: B023
            measure(results, "playout", endpoint.jitter.pop)
            measure(results, "send", endpoint._send_slot)
    finally:
        tracemalloc.stop()
        await endpoint.close()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=2000)
    args = parser.parse_args(argv)
    results = asyncio.run(run(args.packets))
    print(f"{args.packets} packets per path; bytes per packet (median / worst)")
    for name, (kept, peaks) in results.items():
        print(
            f"{name:<8} kept {statistics.median(kept):6.0f} / {max(kept):6.0f}"
            f"   peak {statistics.median(peaks):6.0f} / {max(peaks):6.0f}"
        )


if __name__ == "__main__":
    main()

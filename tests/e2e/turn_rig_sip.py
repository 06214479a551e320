"""Turn-taking trials over SIP and RTP (``bench.turns --carrier sip`` and ``test_sip_turns``):
the same server, fakes, agent and caller audio as ``turn_rig``, but the caller is the
simulator's SIP user agent calling a ``sip_trunk`` number on the server's SIP listener on
127.0.0.1, speaking the espeak audio over RTP.

SIP has no ``clear`` message: the server stops the agent's audio by no longer sending it. The
stop is the arrival of the agent's last voiced RTP packet before a gap of ``STOP_GAP_S`` (the
fake's greeting is a tone on every character, so it has no gap of its own).

Whether a resume repeated or skipped words, and whether the greeting was heard to its end, are
judged on the agent's RTP payloads as they arrived (``TimedSipCall.arrived_audio``), not on
what the caller's jitter buffer played: on a loaded machine a packet now and then reaches the
caller after its playout time and the buffer drops it and conceals the gap (its ``late`` and
``concealed_frames`` counts), anywhere in the greeting. Judged on the played audio, such a
glitch ended a heard stretch early, and the rig counted the words up to the next stretch as
skipped by the resume, or the greeting as never heard to its end (a false barge-in), though
the server had resumed and sent every byte once.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from tests.fakes.deepgram_listen import Script
from tests.fakes.deepgram_speak import speech_audio

from aybiza.audio.codec import SAMPLE_RATE_HZ, silence
from aybiza.simulator.heard import continuity, words_between
from aybiza.simulator.sip_client import SipSimulatedCall, _silent

from .sip_server import free_sip_port, rtp_range_for
from .turn_rig import (
    AGENT,
    BYTES_PER_CHAR,
    GREETING,
    BargeInResult,
    EngineDelays,
    TurnResult,
    TurnStack,
    first_voiced_frame,
    spoken,
    trial_audio,
    turn_stack,
)

SIP_NUMBER = "+15550100301"
# A stop: no voiced agent packet for this long (RTP paces 20 ms a packet; a loaded machine
# delays some by tens of milliseconds, never by this much while the agent speaks).
STOP_GAP_S = 0.2


class TimedSipCall(SipSimulatedCall):
    """The simulator's SIP call, noting when each voiced agent packet arrived."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.agent_packets: list[float] = []
        self._arrived = bytearray()

    @property
    def arrived_audio(self) -> bytes:
        """Every agent payload in arrival order (in-order on loopback), silence included: what
        the server sent, before the caller's jitter buffer."""
        return bytes(self._arrived)

    def _agent_packet(self, payload: bytes | memoryview, at: float) -> None:
        if self.ended_at is None:
            self._arrived += payload
            if not _silent(payload):
                self.agent_packets.append(at)
        super()._agent_packet(payload, at)


def rtp_stops(packets: Sequence[float], since: float) -> list[float]:
    """Arrival of each voiced agent packet followed by a gap of ``STOP_GAP_S`` or more that
    ends after ``since``: the moments the agent's RTP stopped."""
    return [
        before
        for before, after in itertools.pairwise(packets)
        if after >= since and after - before >= STOP_GAP_S
    ]


class SipTurnStack:
    """The fakes and the server answering SIP; ``dial`` places one SIP call whose recogniser
    hears ``transcripts``."""

    def __init__(self, stack: TurnStack, sip_port: int) -> None:
        self.stack = stack
        self.server = stack.server
        self.deepgram = stack.deepgram
        self.uri = f"sip:{SIP_NUMBER}@127.0.0.1:{sip_port}"
        self._dialling = asyncio.Lock()

    async def dial(self, transcripts: Sequence[str]) -> TimedSipCall:
        async with self._dialling:
            self.deepgram.script = Script(list(transcripts))
            opened = len(self.deepgram.listen_connections)
            call = await TimedSipCall.dial(self.uri)
            assert isinstance(call, TimedSipCall)
            for _ in range(500):
                if len(self.deepgram.listen_connections) > opened:
                    break
                await asyncio.sleep(0.01)
            return call


@asynccontextmanager
async def sip_turn_stack(
    data_dir: Path,
    delays: EngineDelays,
    *,
    server_src: str | None = None,
    server_env: dict[str, str] | None = None,
    parameters: Mapping[str, object] | None = None,
) -> AsyncIterator[SipTurnStack]:
    """``turn_stack`` with the server's SIP listener on a free loopback port and the agent on
    a ``sip_trunk`` number too."""
    port = free_sip_port()
    env = {
        "AYBIZA_SIP_LISTEN": f"udp:127.0.0.1:{port}",
        "AYBIZA_RTP_PORTS": rtp_range_for(port),
        **(server_env or {}),
    }
    async with turn_stack(
        data_dir, delays, server_src=server_src, server_env=env, parameters=parameters
    ) as stack:
        await _provision_sip(stack)
        yield SipTurnStack(stack, port)


async def _provision_sip(stack: TurnStack) -> None:
    """The turn-taking agent on a SIP trunk number, through the API as a user would."""
    server = stack.server
    headers = {"Authorization": f"Bearer {server.api_key}"}
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=10) as client:
        agents = (await client.get("/v1/agents")).raise_for_status().json()["data"]
        [agent] = [a for a in agents if a["name"] == AGENT["name"]]
        number = {
            "number": SIP_NUMBER,
            "type": "sip_trunk",
            "agent_id": agent["id"],
            "sip": {"gateways": ["127.0.0.1:5999"], "allowed_cidrs": ["127.0.0.0/8"]},
        }
        (await client.post("/v1/phone-numbers", json=number)).raise_for_status()


async def run_sip_barge_in(stack: SipTurnStack, trial: dict[str, Any], at_ms: int) -> BargeInResult:
    """``run_barge_in`` over SIP: ``clear_ms`` is the agent's RTP stop after the onset."""
    audio = await trial_audio(trial)
    call = await stack.dial([trial["transcript"]])
    try:
        await call.wait_for_agent_audio(timeout=15)
        assert call.greeting_latency is not None
        playing_from = call.opened_at + call.greeting_latency
        await asyncio.sleep(max(0.0, playing_from + at_ms / 1000 - time.monotonic()))
        queued = time.monotonic()
        onset = queued + first_voiced_frame(audio) * 0.02
        await call.say(audio + silence(300))
        await asyncio.sleep(3.0)
        await call.wait_until_agent_done(quiet_ms=1500, timeout=30)
        heard = call.arrived_audio
        packets = list(call.agent_packets)
    finally:
        await call.hangup()
    expected = speech_audio(GREETING)
    joined = continuity(heard, expected)
    truncated = joined.reached_bytes < len(expected) - 2 * BYTES_PER_CHAR
    stops = rtp_stops(packets, queued)
    if not stops and truncated and packets and packets[-1] >= queued:
        stops = [packets[-1]]  # stopped, and nothing more came
    cut = bool(stops) and truncated
    repeated = skipped = 0
    for before, after in zip(joined.stretches, joined.stretches[1:], strict=False):
        repeated += words_between(GREETING, after.start, before.end, BYTES_PER_CHAR)
        skipped += words_between(GREETING, before.end, after.start, BYTES_PER_CHAR)
    return BargeInResult(
        id=trial["id"],
        interrupts=trial["interrupts"],
        clear_ms=(stops[0] - onset) * 1000 if stops else None,
        cut=cut,
        repeated_words=repeated,
        skipped_words=skipped,
        repeated_ms=joined.repeated_bytes * 1000 / SAMPLE_RATE_HZ,
        skipped_ms=joined.skipped_bytes * 1000 / SAMPLE_RATE_HZ,
    )


async def run_sip_turn(stack: SipTurnStack, trial: dict[str, Any]) -> TurnResult:
    """``run_turn`` over SIP: cut off when a voiced agent packet came while the caller spoke."""
    parts: list[str] = trial["parts"]
    pieces = [await spoken(text) for text in parts]
    audio = silence(trial.get("pause_ms", 0)).join(pieces)
    call = await stack.dial(parts)
    try:
        await call.wait_for_agent_audio(timeout=15)
        await call.wait_until_agent_done(quiet_ms=300, timeout=30)
        began = time.monotonic()
        await call.say(audio + silence(200))
        reply = await call.wait_for_agent_audio(timeout=15)
        speech_end = call.caller_turns[-1].ended_at
        early = [at for at in call.agent_packets if began < at < speech_end]
    finally:
        await call.hangup()
    return TurnResult(trial["id"], cut_off=bool(early), reply_ms=reply * 1000)

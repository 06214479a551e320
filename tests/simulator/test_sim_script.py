"""The scripted conversation, the call record, the report and the ``aybiza call`` command, each
against fakes of the server on real sockets."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from aybiza.audio.codec import SILENCE_BYTE
from aybiza.simulator.call_record import (
    CallRecordError,
    fetch_call_record,
    parse_call_record,
    resolve_api_key,
)
from aybiza.simulator.command import call as call_command
from aybiza.simulator.report import render_report, turn_rows
from aybiza.simulator.script import DtmfStep, SayStep, ScriptStep, ScriptTiming, run_script
from aybiza.simulator.twilio_client import SimulatedCall
from aybiza.simulator.wav import write_wav

if TYPE_CHECKING:
    from .conftest import AppPeer, FakeAppFactory, FakeHttpServer

FAST = ScriptTiming(answer_timeout_s=3.0, quiet_ms=150, dtmf_gap_ms=50)


def tone(duration_ms: int) -> bytes:
    return b"\x10" * (8 * duration_ms)


def record_for(call_sid: str) -> dict[str, Any]:
    """A call record shaped like the server's, with a greeting turn and one answered turn."""
    timings = {
        "stt_final": 120.0,
        "llm_first_token": 310.6,
        "tts_first_audio": 420.0,
        "first_audio_sent": 431.0,
        "platform_added": 7.25,
    }
    return {
        "call_sid": call_sid,
        "status": "completed",
        "ended_reason": "agent_hangup",
        "agent": {"name": "demo"},
        "engines": {"stt": "pocketsphinx", "llm": "flow", "tts": "espeak", "reason": "no keys"},
        "turns": [
            {"index": 0, "user_text": "", "agent_text": "Hello, Acme here.", "interrupted": False,
             "model": None, "timings_ms": dict.fromkeys(timings)},
            {"index": 1, "user_text": "I need a refund", "agent_text": "Sure [ok].",
             "interrupted": True, "model": "flow", "timings_ms": timings},
        ],
        "transcript": [
            {"speaker": "agent", "text": "Hello, Acme here.", "at": "2025-01-01T00:00:00Z"},
            {"speaker": "caller", "text": "I need a refund", "at": "2025-01-01T00:00:02Z"},
            {"speaker": "agent", "text": "Sure [ok].", "at": "2025-01-01T00:00:03Z"},
        ],
    }  # fmt: skip


def answering_agent(hang_up_after: int | None = None) -> Any:
    """A fake agent: a 200 ms greeting, then 200 ms (and a mark) 50 ms after each caller
    utterance ends or two keys are pressed; it closes the stream after ``hang_up_after`` answers."""

    async def behaviour(peer: AppPeer) -> None:
        await peer.send_media(tone(200))
        await peer.send_mark("greeting")
        answered = 0
        seen_speech = seen_dtmf = 0
        while not peer.closed:
            with contextlib.suppress(TimeoutError):
                await peer.wait_for(_caller_acted_since(seen_speech, seen_dtmf), within_s=5)
            if peer.closed:
                return
            seen_speech, seen_dtmf = _utterances(peer), len(peer.of("dtmf"))
            await asyncio.sleep(0.05)
            await peer.send_media(tone(200))
            answered += 1
            await peer.send_mark(f"answer-{answered}")
            if answered == hang_up_after:
                await asyncio.sleep(0.3)
                await peer.ws.close(1000, "goodbye")
                return

    return behaviour


def _caller_acted_since(speech: int, dtmf: int) -> Callable[[AppPeer], bool]:
    """Whether the caller finished a new utterance or pressed two more keys, or hung up."""

    def acted(peer: AppPeer) -> bool:
        return _utterances(peer) > speech or len(peer.of("dtmf")) >= dtmf + 2 or peer.closed

    return acted


def _utterances(peer: AppPeer) -> int:
    """Caller utterances that have ended: speech followed by at least 3 silent frames."""
    count, voiced, silent = 0, False, 0
    for _, message in peer.of("media"):
        frame = base64.b64decode(message["media"]["payload"])
        if any(b != SILENCE_BYTE for b in frame):
            voiced, silent = True, 0
        elif voiced:
            silent += 1
            if silent == 3:
                count, voiced = count + 1, False
    return count


async def test_script_hears_greeting_then_times_each_answer_and_hangs_up(
    fake_app: FakeAppFactory,
) -> None:
    async with fake_app(answering_agent()) as app:
        call = await SimulatedCall.connect_stream(app.url)
        steps: list[ScriptStep] = [SayStep("hello", tone(200)), DtmfStep("12")]
        outcome = await run_script(call, steps, FAST)
        peer = await app.peer()
    assert outcome.problems == []
    assert outcome.greeting_latency_s is not None and outcome.greeting_latency_s >= 0
    assert [s.label for s in outcome.steps] == ["hello", "(keys 12)"]
    assert all(s.latency_s is not None and s.latency_s > 0.04 for s in outcome.steps)
    assert [m["dtmf"]["digit"] for _, m in peer.of("dtmf")] == ["1", "2"]
    assert peer.received[-1][1]["event"] == "stop"
    assert call.marks_sent_back[0] == "greeting"


async def test_script_reports_a_line_the_agent_never_answered(fake_app: FakeAppFactory) -> None:
    async def greet_only(peer: AppPeer) -> None:
        await peer.send_media(tone(100))
        await peer.ws.wait_closed()

    async with fake_app(greet_only) as app:
        call = await SimulatedCall.connect_stream(app.url)
        timing = ScriptTiming(answer_timeout_s=0.4, quiet_ms=100)
        outcome = await run_script(call, [SayStep("anyone?", tone(100))], timing)
    assert outcome.problems == ["anyone?: nothing from the agent within 0.4 s"]


async def test_script_stops_without_failing_when_the_agent_hangs_up(
    fake_app: FakeAppFactory,
) -> None:
    async with fake_app(answering_agent(hang_up_after=1)) as app:
        call = await SimulatedCall.connect_stream(app.url)
        steps = [SayStep("bye", tone(100)), SayStep("hello?", tone(100))]
        # Patient enough that the agent's close (300 ms after its answer) comes first, even on a
        # loaded machine.
        outcome = await run_script(call, steps, ScriptTiming(answer_timeout_s=5, quiet_ms=2500))
    assert outcome.problems == []
    assert outcome.unsaid == ["hello?"]
    assert call.closed_by_server and call.close_code == 1000


async def test_call_record_is_fetched_with_the_bearer_key(
    fake_http: type[FakeHttpServer],
) -> None:
    async with fake_http(stream_url="wss://unused/", record=record_for) as server:
        record = await fetch_call_record(server.base_url, "CA" + "2" * 32, "sk-test")
        with pytest.raises(CallRecordError, match="HTTP 401"):
            await fetch_call_record(server.base_url, "CA" + "2" * 32, "wrong")
    assert server.requests[0].headers["authorization"] == "Bearer sk-test"
    assert record.call_sid == "CA" + "2" * 32
    assert record.turns[1].timings_ms.platform_added == 7.25
    assert record.turns[0].timings_ms.stt_final is None
    assert [line.speaker for line in record.transcript] == ["agent", "caller", "agent"]


def test_api_key_comes_from_option_then_env_then_demo_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "demo.key"
    monkeypatch.delenv("AYBIZA_API_KEY", raising=False)
    assert resolve_api_key(None, key_file=key_file) is None
    key_file.write_text("sk-file\n")
    assert resolve_api_key(None, key_file=key_file) == "sk-file"
    monkeypatch.setenv("AYBIZA_API_KEY", "sk-env")
    assert resolve_api_key(None, key_file=key_file) == "sk-env"
    assert resolve_api_key("sk-option", key_file=key_file) == "sk-option"


async def test_report_pairs_server_turns_with_measured_latency(fake_app: FakeAppFactory) -> None:
    async with fake_app(answering_agent()) as app:
        call = await SimulatedCall.connect_stream(app.url)
        outcome = await run_script(call, [SayStep("refund please", tone(150))], FAST)
    record = parse_call_record(record_for(call.call_sid))
    rows = turn_rows(outcome, record)
    assert [r.caller for r in rows] == ["(greeting)", "I need a refund"]
    assert rows[0].client_latency_s == outcome.greeting_latency_s
    assert rows[1].client_latency_s == outcome.steps[0].latency_s
    console = Console(record=True, width=220)
    render_report(console, call, outcome, record)
    text = console.export_text()
    assert "Sure [ok]." in text  # agent text is not read as markup
    assert "7 ms" in text and "311 ms" in text
    assert "engines: stt=pocketsphinx, llm=flow, tts=espeak (no keys)" in text
    without = Console(record=True, width=220)
    render_report(without, call, outcome, None, "no call record: HTTP 401")
    assert "showing only what the caller measured" in without.export_text()
    assert [r.caller for r in turn_rows(outcome, None)] == ["(greeting)", "refund please"]


# ---------------------------------------------------------------- the command


@contextlib.contextmanager
def servers_in_thread(fake_app: FakeAppFactory, fake_http: type[FakeHttpServer]) -> Iterator[str]:
    """Run the fakes on their own event loop, since the command runs asyncio.run itself."""
    loop = asyncio.new_event_loop()
    ready: asyncio.Future[str] = loop.create_future()
    stop = asyncio.Event()

    async def serve() -> None:
        async with fake_app(answering_agent(hang_up_after=1)) as app:
            stream_url = app.url.replace("ws://", "wss://")
            async with fake_http(stream_url=stream_url, record=record_for) as server:
                ready.set_result(server.base_url)
                await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        yield asyncio.run_coroutine_threadsafe(_result(ready), loop).result(timeout=5)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=5)
        loop.close()


async def _result(future: asyncio.Future[str]) -> str:
    return await future


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("call")(call_command)
    return app


def test_command_prints_transcript_and_latency_and_saves_what_was_heard(
    tmp_path: Path, fake_app: FakeAppFactory, fake_http: type[FakeHttpServer]
) -> None:
    line = tmp_path / "refund.wav"
    write_wav(line, tone(200))
    saved = tmp_path / "heard.wav"
    with servers_in_thread(fake_app, fake_http) as base_url:
        args = ["--url", base_url, "--wav", str(line), "--save", str(saved)]
        result = CliRunner().invoke(_cli(), [*args, "--api-key", "sk-test"], env={"COLUMNS": "220"})
    assert result.exit_code == 0, result.output
    assert "the agent ended the call" in result.output
    assert "Transcript" in result.output and "I need a refund" in result.output
    assert "voice-to-voice" in result.output and "platform" in result.output
    assert saved.stat().st_size > 44 + 2 * 8000 * 0.3  # greeting + answer, as 16-bit PCM


def test_command_without_a_server_exits_1_and_says_how_to_start_it() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = CliRunner().invoke(_cli(), ["--url", f"http://127.0.0.1:{port}"])
    assert result.exit_code == 1
    assert "make run" in result.output


def test_command_rejects_keys_that_are_not_dtmf() -> None:
    result = CliRunner().invoke(_cli(), ["--dtmf", "12x"])
    assert result.exit_code == 2

"""Browser test calls over the real ``WS /web/call`` of a running server, with synthesized
speech: the signed-in session authorises the socket, the call is a normal call record
(``carrier: "browser"``), the page gets the live transcript, a barge-in clears the page's
playback, and a recording agent's call is stored as a stereo WAV announced by
``recording.ready`` (issue 14, items 2 and 3)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests.api.conftest import ApiServer, Tenant, serve_api
from tests.api.databases import BACKENDS
from tests.api.helpers import demo_agent_body
from tests.api.receiver import Receiver
from tests.people.helpers import add_person, sign_in
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import FRAME_BYTES, silence
from aybiza.providers.tts.espeak import EspeakTts

SENTENCE = "I would like to book an appointment"
# Frames go out twice as fast as real time: the call loop's clock is the frames, not the wall.
FRAME_PACE_S = 0.01
_speech: dict[str, bytes] = {}


async def speech(text: str) -> bytes:
    if text not in _speech:
        _speech[text] = silence(300) + await EspeakTts().synthesize(text, VoiceOptions("en-us"))
    return _speech[text]


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    data_dir = tmp_path_factory.mktemp(f"browser-{request.param}")
    with serve_api(request.param, data_dir) as running:
        yield running


class Page:
    """What talk.js does, minus the sound card: sends microphone frames (silence between
    utterances), echoes marks once 'played' (at once, or never while ``hold_marks``), drops
    its playback on ``clear`` and keeps the transcript lines."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.start: dict[str, Any] | None = None
        self.lines: list[tuple[str, str]] = []
        self.clears = 0
        self.agent_bytes = 0
        self.ended: str | None = None
        self.hold_marks = False
        self._frames: list[bytes] = []
        self._changed = asyncio.Event()
        self._tasks = [asyncio.create_task(self._receive()), asyncio.create_task(self._mic())]

    def say(self, mulaw: bytes) -> None:
        self._frames += [mulaw[i : i + FRAME_BYTES] for i in range(0, len(mulaw), FRAME_BYTES)]

    async def _mic(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                frame = self._frames.pop(0) if self._frames else silence(20)
                await self.socket.send(frame.ljust(FRAME_BYTES, b"\xff"))
                await asyncio.sleep(FRAME_PACE_S)

    async def _receive(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in self.socket:
                if isinstance(message, bytes):
                    self.agent_bytes += len(message)
                    self._changed.set()
                    continue
                event = json.loads(message)
                kind = event["type"]
                if kind == "start":
                    self.start = event
                elif kind == "mark" and not self.hold_marks:
                    await self.socket.send(json.dumps({"type": "mark", "name": event["name"]}))
                elif kind == "clear":
                    self.clears += 1
                elif kind == "transcript":
                    self.lines.append((event["speaker"], event["text"]))
                elif kind == "end":
                    self.ended = event["reason"]
                self._changed.set()

    async def until(self, check: Callable[[], bool], what: str, within_s: float = 30) -> None:
        """Wait until ``check`` holds (re-checked after each message from the server)."""
        try:
            async with asyncio.timeout(within_s):
                while not check():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"no {what} within {within_s} s: {self.lines}") from None

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def ws_url(server: ApiServer, agent_id: str) -> str:
    return server.base_url.replace("http://", "ws://") + f"/web/call?agent_id={agent_id}"


def browser_headers(client: httpx.Client, server: ApiServer) -> dict[str, str]:
    cookies = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    return {"Cookie": cookies, "Origin": server.base_url}


def person_with_agent(
    server: ApiServer, role: str = "developer", lines: int = 100, **agent: Any
) -> tuple[httpx.Client, str, Tenant]:
    """A signed-in person of a fresh tenant with an agent (the demo's flow); returns the
    session client, the agent id and the tenant (with its API key)."""
    tenant = server.tenant(max_concurrent_calls=lines)
    creator = server.client(tenant.key)
    created = creator.post("/v1/agents", json=demo_agent_body(**agent))
    assert created.status_code == 201, created.text
    person = sign_in(server, add_person(server, tenant.id, role))
    return person, created.json()["id"], tenant


def channels(wav_bytes: bytes) -> tuple[np.ndarray, np.ndarray, int]:
    with wave.open(io.BytesIO(wav_bytes)) as reader:
        assert (reader.getnchannels(), reader.getframerate(), reader.getsampwidth()) == (2, 8000, 2)
        frames = np.frombuffer(reader.readframes(reader.getnframes()), "<i2").reshape(-1, 2)
    return frames[:, 0], frames[:, 1], len(frames)


async def recording_of(person: httpx.Client, call_id: str) -> dict[str, Any]:
    for _ in range(200):
        record: dict[str, Any] = (
            await asyncio.to_thread(person.get, f"/v1/calls/{call_id}")
        ).json()
        if record.get("recording"):
            return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"no recording on call {call_id}: {record}")


async def test_a_browser_call_talks_shows_the_live_transcript_and_is_recorded(
    server: ApiServer, tmp_path: Path
) -> None:
    person, agent_id, tenant = person_with_agent(server, recording={"enabled": True})
    receiver = Receiver()
    receiver.start()
    try:
        hook = server.client(tenant.key).post(
            "/v1/webhooks", json={"url": receiver.url, "events": ["recording.ready"]}
        )
        receiver.secrets.append(hook.json()["secret"])
        async with connect(
            ws_url(server, agent_id), additional_headers=browser_headers(person, server)
        ) as socket:
            page = Page(socket)
            await page.until(lambda: page.start is not None, "start")
            assert page.start is not None and page.start["format"] == "mulaw"
            call_id = page.start["call_id"]
            await page.until(lambda: any(s == "agent" for s, _ in page.lines), "the greeting")
            page.say(await speech(SENTENCE))
            await page.until(lambda: len(page.lines) >= 3, "the caller's line and the answer")
            await socket.send(json.dumps({"type": "hangup"}))
            await page.until(lambda: page.ended is not None, "the end")
            await page.close()
        assert page.ended == "caller-hangup"
        speakers = [speaker for speaker, _ in page.lines]
        assert speakers[:3] == ["agent", "caller", "agent"]
        assert page.lines[1][1] == SENTENCE.lower()
        assert "day and time" in page.lines[2][1]

        record = await recording_of(person, call_id)
        assert (record["carrier"], record["ended_reason"]) == ("browser", "caller-hangup")
        assert record["agent"]["id"] == agent_id
        assert [line["text"] for line in record["transcript"]][1] == SENTENCE.lower()
        recording = record["recording"]
        assert recording["url"] == f"/v1/calls/{call_id}/recording"
        assert (recording["channels"], recording["left"], recording["right"]) == (
            2,
            "caller",
            "agent",
        )
        audio = await asyncio.to_thread(person.get, recording["url"])
        assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
        caller, agent, length = channels(audio.content)
        assert abs(length / 8000 - recording["duration_s"]) < 0.01
        assert np.abs(caller).max() > 2000, "the caller's speech is on the left"
        assert np.abs(agent).max() > 2000, "the agent's voice is on the right"
        ready = (await asyncio.to_thread(receiver.wait_for, 1, "recording.ready"))[0].body
        assert ready["data"]["call_id"] == call_id
        assert ready["data"]["url"] == recording["url"]
    finally:
        receiver.stop()


async def test_a_barge_in_clears_the_page_and_the_recording_keeps_only_what_was_heard(
    server: ApiServer,
) -> None:
    person, agent_id, _ = person_with_agent(server, recording={"enabled": True})
    async with connect(
        ws_url(server, agent_id), additional_headers=browser_headers(person, server)
    ) as socket:
        page = Page(socket)
        page.hold_marks = True  # the greeting is still "playing" when the caller speaks
        await page.until(lambda: page.agent_bytes > 8000 * 3, "the greeting's audio")
        greeting_bytes = page.agent_bytes
        page.say(await speech(SENTENCE))
        await page.until(lambda: page.clears > 0, "clear")
        # The clear pauses the agent at once; the caller's words then make it an interruption.
        await page.until(lambda: any(who == "caller" for who, _ in page.lines), "caller's words")
        await socket.send(json.dumps({"type": "hangup"}))
        await page.until(lambda: page.ended is not None, "the end")
        await page.close()
    call_id = page.start["call_id"] if page.start else ""
    record = await recording_of(person, call_id)
    assert record["stats"]["barge_ins"] >= 1
    audio = await asyncio.to_thread(person.get, f"/v1/calls/{call_id}/recording")
    _, agent, _ = channels(audio.content)
    heard = int(np.count_nonzero(np.abs(agent) > 64))
    assert 0 < heard < greeting_bytes, "cut where the caller interrupted"


def refusal(server: ApiServer, agent_id: str, headers: dict[str, str]) -> tuple[int, str]:
    async def attempt() -> tuple[int, str]:
        async with connect(ws_url(server, agent_id), additional_headers=headers) as socket:
            with pytest.raises(ConnectionClosed) as closed:
                await socket.recv()
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code, closed.value.rcvd.reason

    return asyncio.run(attempt())


def test_the_socket_needs_a_signed_in_person_allowed_to_call_from_this_site(
    server: ApiServer,
) -> None:
    person, agent_id, _ = person_with_agent(server)
    good = browser_headers(person, server)
    assert refusal(server, agent_id, {"Origin": server.base_url}) == (
        1008,
        "aybiza_session: sign in first (no valid session)",
    )
    code, reason = refusal(server, agent_id, {**good, "Origin": "https://evil.example"})
    assert code == 1008 and reason.startswith("Origin")
    code, reason = refusal(server, "f" * 32, good)
    assert (code, reason) == (1008, f"agent_id: no agent {'f' * 32} in this tenant")
    code, reason = refusal(server, "not-an-id", good)
    assert code == 1008 and reason.startswith("agent_id")
    analyst, _, _ = person_with_agent(server, role="analyst")
    code, reason = refusal(server, agent_id, browser_headers(analyst, server))
    assert (code, reason) == (1008, "your role 'analyst' lacks the permission 'calls:write'")


async def test_recordings_need_recordings_read_and_exist_only_for_recording_agents(
    server: ApiServer,
) -> None:
    person, agent_id, tenant = person_with_agent(server)
    async with connect(
        ws_url(server, agent_id), additional_headers=browser_headers(person, server)
    ) as socket:
        page = Page(socket)
        await page.until(lambda: page.start is not None, "start")
        await socket.send(json.dumps({"type": "hangup"}))
        await page.until(lambda: page.ended is not None, "the end")
        await page.close()
    call_id = page.start["call_id"] if page.start else ""
    record = (await asyncio.to_thread(person.get, f"/v1/calls/{call_id}")).json()
    assert record["carrier"] == "browser" and record["recording"] is None
    missing = await asyncio.to_thread(person.get, f"/v1/calls/{call_id}/recording")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "recording_not_found"
    analyst = sign_in(server, add_person(server, tenant.id, "analyst"))
    denied = await asyncio.to_thread(analyst.get, f"/v1/calls/{call_id}/recording")
    assert denied.status_code == 403
    assert denied.json()["error"]["message"].endswith("lacks the permission 'recordings:read'")


async def test_a_browser_call_takes_one_of_the_tenants_lines(server: ApiServer) -> None:
    person, agent_id, _ = person_with_agent(server, lines=1)
    headers = browser_headers(person, server)
    async with connect(ws_url(server, agent_id), additional_headers=headers) as first:
        page = Page(first)
        await page.until(lambda: page.start is not None, "start")
        async with connect(ws_url(server, agent_id), additional_headers=headers) as second:
            with pytest.raises(ConnectionClosed) as closed:
                await second.recv()
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1013, "concurrency-limit")
        await first.send(json.dumps({"type": "hangup"}))
        await page.until(lambda: page.ended is not None, "the end")
        await page.close()
    calls = (await asyncio.to_thread(person.get, "/v1/calls")).json()["data"]
    assert sorted(call["ended_reason"] for call in calls) == ["caller-hangup", "concurrency-limit"]

"""The simulator's pure parts: Twilio's playout clock, the caller's frames, latency attribution,
the wire format, signatures and TwiML."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from aybiza.audio.codec import FRAME_BYTES, SILENCE_BYTE
from aybiza.simulator import webhook, wire
from aybiza.simulator.caller_audio import CallerAudio, last_voiced_frame
from aybiza.simulator.errors import WebhookError
from aybiza.simulator.latency import LatencyClock
from aybiza.simulator.playback import MarkEcho, TwilioPlayback

T0 = 1000.0


def test_mark_is_due_when_the_audio_queued_before_it_has_played() -> None:
    playback = TwilioPlayback(T0)
    playback.add_audio(b"\x10" * 3200, T0)  # 400 ms
    playback.add_mark("a", T0)
    assert playback.pop_due_marks(T0 + 0.39) == []
    assert playback.next_mark_due() == pytest.approx(T0 + 0.4)
    assert playback.pop_due_marks(T0 + 0.4) == [MarkEcho("a", cleared=False)]


def test_mark_with_nothing_queued_is_due_at_once() -> None:
    playback = TwilioPlayback(T0)
    playback.add_audio(b"\x10" * 800, T0)
    playback.add_mark("late", T0 + 1.0)  # the 100 ms of audio finished long ago
    assert playback.pop_due_marks(T0 + 1.0) == [MarkEcho("late", cleared=False)]


def test_marks_come_due_in_order_behind_their_own_audio() -> None:
    playback = TwilioPlayback(T0)
    for name in "abc":
        playback.add_audio(b"\x10" * 800, T0)
        playback.add_mark(name, T0)
    assert [m.name for m in playback.pop_due_marks(T0 + 0.15)] == ["a"]
    assert [m.name for m in playback.pop_due_marks(T0 + 0.3)] == ["b", "c"]


def test_audio_after_an_underrun_plays_from_its_arrival() -> None:
    playback = TwilioPlayback(T0)
    playback.add_audio(b"\x10" * 800, T0)  # plays 0-100 ms
    playback.add_audio(b"\x20" * 800, T0 + 0.5)  # the queue ran dry: plays 500-600 ms
    heard = playback.played_audio(T0 + 1.0)
    assert len(heard) == 8000
    assert heard[:800] == b"\x10" * 800
    assert heard[800:4000] == bytes([SILENCE_BYTE]) * 3200
    assert heard[4000:4800] == b"\x20" * 800
    assert heard[4800:] == bytes([SILENCE_BYTE]) * 3200


def test_clear_drops_unplayed_audio_and_releases_pending_marks_flagged() -> None:
    playback = TwilioPlayback(T0)
    playback.add_audio(b"\x10" * 16000, T0)  # 2 s
    playback.add_mark("x", T0)
    playback.add_audio(b"\x20" * 8000, T0)
    playback.add_mark("y", T0)
    dropped = playback.clear(T0 + 0.25)
    assert dropped == 24000 - 2000
    assert playback.pop_due_marks(T0 + 0.25) == [MarkEcho("x", True), MarkEcho("y", True)]
    assert playback.queued_bytes(T0 + 0.25) == 0
    heard = playback.played_audio(T0 + 3.0)
    assert heard[:2000] == b"\x10" * 2000
    assert set(heard[2000:]) == {SILENCE_BYTE}
    # Audio after the clear starts at once, not behind the dropped queue.
    playback.add_audio(b"\x30" * 80, T0 + 0.3)
    assert playback.playing_until() == pytest.approx(T0 + 0.31)


def test_played_audio_stops_at_the_given_time() -> None:
    playback = TwilioPlayback(T0)
    playback.add_audio(b"\x10" * 8000, T0)
    assert playback.played_audio(T0 + 0.5) == b"\x10" * 4000


async def test_caller_audio_is_cut_in_padded_frames_then_silence() -> None:
    audio = CallerAudio()
    sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    utterance = audio.queue(b"\x00" * 400, sent)  # 2.5 frames of loud audio
    frames = [audio.next_frame() for _ in range(4)]
    assert [len(f.audio) for f in frames] == [FRAME_BYTES] * 4
    assert frames[2].audio == b"\x00" * 80 + bytes([SILENCE_BYTE]) * 80
    assert frames[2].speech_ends is utterance and frames[2].utterance_ends is utterance
    assert frames[3].audio == bytes([SILENCE_BYTE]) * FRAME_BYTES
    assert not audio.speaking


def test_last_voiced_frame_ignores_trailing_silence() -> None:
    speech = b"\x00" * (FRAME_BYTES * 5) + bytes([SILENCE_BYTE]) * (FRAME_BYTES * 10)
    assert last_voiced_frame(speech) == 4
    assert last_voiced_frame(bytes([SILENCE_BYTE]) * FRAME_BYTES * 3) == 2


def test_latency_clock_times_greeting_then_each_answer() -> None:
    clock = LatencyClock()
    clock.stream_started(T0)
    clock.agent_audio(T0 + 0.3)
    clock.agent_audio(T0 + 0.4)  # later greeting audio changes nothing
    assert clock.greeting_latency_s == pytest.approx(0.3)
    clock.caller_started()
    clock.agent_audio(T0 + 1.0)  # the agent talking over the caller answers nothing
    assert clock.current_answer() is None
    clock.caller_stopped("speech", T0 + 2.0)
    assert clock.current_answer() is None
    clock.agent_audio(T0 + 2.7)
    assert clock.current_answer() == pytest.approx(0.7)
    clock.caller_stopped("dtmf", T0 + 5.0)
    clock.agent_audio(T0 + 5.5)
    assert [t.latency_s for t in clock.turns] == [pytest.approx(0.7), pytest.approx(0.5)]


def test_wire_media_message_has_string_counters_and_base64_payload() -> None:
    text = wire.encode(
        "media", 7, "MZ1", wire.media_body(chunk=6, timestamp_ms=120, payload=b"\xff")
    )
    message = json.loads(text)
    assert message == {
        "event": "media",
        "sequenceNumber": "7",
        "streamSid": "MZ1",
        "media": {"track": "inbound", "chunk": "6", "timestamp": "120", "payload": "/w=="},
    }


def test_wire_rejects_what_twilio_would() -> None:
    with pytest.raises(wire.WireError, match="binary"):
        wire.decode(b"\x00", "MZ1")
    with pytest.raises(wire.WireError, match="not JSON"):
        wire.decode("{", "MZ1")
    with pytest.raises(wire.WireError, match="streamSid"):
        wire.decode('{"event":"clear","streamSid":"MZ2"}', "MZ1")
    with pytest.raises(wire.WireError, match="base64"):
        wire.decode('{"event":"media","streamSid":"MZ1","media":{"payload":"!!"}}', "MZ1")
    with pytest.raises(wire.WireError, match="unknown event"):
        wire.decode('{"event":"play","streamSid":"MZ1"}', "MZ1")
    with pytest.raises(ValueError, match="DTMF"):
        wire.dtmf_body("55")
    payload = base64.b64encode(b"\x01\x02").decode()
    media = wire.decode(
        f'{{"event":"media","streamSid":"MZ1","media":{{"payload":"{payload}"}}}}', "MZ1"
    )
    assert media == wire.AgentMedia(b"\x01\x02")


def test_signature_matches_protocol_test_vectors() -> None:
    assert webhook.sign("12345", "wss://example.com/media") == "7PR3qMkpDyEJtMrVOY/LDyNq8J8="
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert webhook.sign("12345", url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_twiml_stream_and_parameters_are_read() -> None:
    answer = webhook.parse_twiml(
        '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
        '<Stream url="wss://h.example:8443/twilio/stream"><Parameter name="agent" value="demo"/>'
        '<Parameter name="from" value="+1555"/></Stream></Connect><Hangup/></Response>'
    )
    assert answer.stream_url == "wss://h.example:8443/twilio/stream"
    assert answer.custom_parameters == {"agent": "demo", "from": "+1555"}
    refused = webhook.parse_twiml("<Response><Say>Not in service.</Say><Hangup/></Response>")
    assert refused.stream_url is None and refused.spoken == ["Not in service."]
    with pytest.raises(WebhookError, match="not TwiML"):
        webhook.parse_twiml("<html>")


def test_stream_url_drops_tls_only_for_a_plain_http_server() -> None:
    url = "wss://127.0.0.1:8080/twilio/stream"
    assert webhook.stream_connect_url(url, "http://127.0.0.1:8080") == (
        "ws://127.0.0.1:8080/twilio/stream"
    )
    assert webhook.stream_connect_url(url, "https://agents.example.com") == url


def test_new_sids_have_twilio_shapes() -> None:
    for sid, prefix in (
        (webhook.new_call_sid(), "CA"),
        (webhook.new_account_sid(), "AC"),
        (webhook.new_stream_sid(), "MZ"),
    ):
        assert sid.startswith(prefix) and len(sid) == 34
        int(sid[2:], 16)

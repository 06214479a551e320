"""DeepgramStt against the fake Deepgram: the URL it asks for, how results become events,
Finalize, KeepAlive, refused handshakes, and reconnecting after a drop without losing words."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from prometheus_client import REGISTRY
from tests.fakes.deepgram import FAKE_API_KEY, FakeDeepgram, ListenConnection, Utterance
from websockets.asyncio.server import ServerConnection, serve

from aybiza.agents.speech import SttOptions
from aybiza.providers.base import SttEngine, SttEvent, SttStream
from aybiza.providers.errors import (
    AuthenticationError,
    EngineError,
    EngineUnavailableError,
    InvalidRequestError,
    ReconnectGaveUpError,
)
from aybiza.providers.stt.deepgram import DeepgramStt
from aybiza.providers.stt.deepgram_results import LanguageMatcher, parse_listen_message
from aybiza.providers.stt.deepgram_stream import BYTES_PER_SECOND, DeepgramStream

LOUD = b"\x10" * 160  # one 20 ms μ-law frame of a loud signal
SILENT = b"\xff" * 160  # one 20 ms μ-law frame of silence
REFUND = "I need a refund."
ORDER = "My order number is 42."
ADDRESS = "Ship it to Main Street."
WAIT_S = 10.0  # generous: the suite must pass on a loaded 2-core machine


def reconnects() -> float:
    labels = {"kind": "stt_reconnect", "engine": "deepgram"}
    return REGISTRY.get_sample_value("aybiza_engine_errors_total", labels) or 0.0


def speech(frames: int) -> list[bytes]:
    return [LOUD] * frames


def silence(frames: int) -> list[bytes]:
    return [SILENT] * frames


class Recognition:
    """Collects a stream's events in the background."""

    def __init__(self, stream: DeepgramStream) -> None:
        self.events: list[SttEvent] = []
        self.error: EngineError | None = None
        self._task = asyncio.create_task(self._collect(stream))

    async def _collect(self, stream: DeepgramStream) -> None:
        try:
            async for event in stream.events():
                self.events.append(event)
        except EngineError as exc:
            self.error = exc

    def finals(self) -> list[SttEvent]:
        return [e for e in self.events if e.kind == "final"]

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait for ``condition()``: polled, as the fake's records have no event to wait on."""
        deadline = time.monotonic() + WAIT_S
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"not met within {WAIT_S} s; events: {self.events}")
            await asyncio.sleep(0.01)

    async def ended(self) -> None:
        await asyncio.wait_for(self._task, WAIT_S)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDeepgram]:
    async with FakeDeepgram(transcripts=[REFUND, ORDER, ADDRESS]) as server:
        yield server


def engine(fake: FakeDeepgram, **settings: float) -> DeepgramStt:
    return DeepgramStt(FAKE_API_KEY, base_url=fake.url, **settings)  # type: ignore[arg-type]


async def send(stream: DeepgramStream, frames: list[bytes]) -> None:
    for frame in frames:
        await stream.send_audio(frame)


def final_end_bytes(connection: ListenConnection, index: int = 0) -> int:
    """Where the fake's ``index``-th final result on this connection ends, in bytes."""
    finals = [m for m in connection.sent if m["type"] == "Results" and m["is_final"]]
    return round(float(finals[index]["start"] + finals[index]["duration"]) * BYTES_PER_SECOND)


# ---------------------------------------------------------------- connecting


def test_engine_and_stream_implement_the_stt_interfaces() -> None:
    engine: SttEngine = DeepgramStt("key")  # mypy checks the protocols structurally
    stream_type: type[SttStream] = DeepgramStream
    assert engine.name == "deepgram" and stream_type is DeepgramStream


async def test_stream_url_has_the_documented_parameters_and_one_keyterm_each(
    fake: FakeDeepgram,
) -> None:
    options = SttOptions(language="en-US", keyterms=("Acme", "refund"), endpointing_ms=250)
    stream = await engine(fake).open_stream(options)
    await stream.close()

    connection = fake.listen_connections[0]
    assert connection.authorization == f"Token {FAKE_API_KEY}"
    assert connection.query == [
        ("model", "nova-3"),
        ("encoding", "mulaw"),
        ("sample_rate", "8000"),
        ("channels", "1"),
        ("interim_results", "true"),
        ("endpointing", "250"),
        ("utterance_end_ms", "1000"),
        ("vad_events", "true"),
        ("smart_format", "true"),
        ("punctuate", "true"),
        ("language", "en-US"),
        ("keyterm", "Acme"),
        ("keyterm", "refund"),
    ]


async def test_stream_asks_deepgram_to_redact_the_card_and_ssn_categories_it_covers(
    fake: FakeDeepgram,
) -> None:
    options = SttOptions(redact=("email", "cvv", "credit_card", "ssn", "card_expiry"))
    stream = await engine(fake).open_stream(options)
    await stream.close()
    query = fake.listen_connections[0].query
    # Card number, expiry and CVV are Deepgram's one ``pci`` group; email is ours alone.
    assert [value for key, value in query if key == "redact"] == ["pci", "ssn"]
    plain = await engine(fake).open_stream(SttOptions(redact=("email", "address")))
    await plain.close()
    assert "redact" not in dict(fake.listen_connections[1].query)


@pytest.mark.parametrize(
    ("languages", "expected"),
    # A single es-ES goes to Nova-3 as "es": Nova-3 has no es-ES (item 16).
    [(("en-US", "es-ES"), "multi"), (("es-ES",), "es")],
)
async def test_language_is_multi_only_when_detecting_among_several(
    fake: FakeDeepgram, languages: tuple[str, ...], expected: str
) -> None:
    options = SttOptions(language=languages[0], languages=languages, detect_language=True)
    stream = await engine(fake).open_stream(options)
    await stream.close()
    assert dict(fake.listen_connections[0].query)["language"] == expected


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://dg.example.com", "wss://dg.example.com/v1/listen?"),
        ("http://127.0.0.1:9001/", "ws://127.0.0.1:9001/v1/listen?"),
        ("wss://dg.example.com/", "wss://dg.example.com/v1/listen?"),
        ("ws://dg.local:8080", "ws://dg.local:8080/v1/listen?"),
    ],
)
def test_base_url_of_any_scheme_becomes_the_websocket_url(base_url: str, expected: str) -> None:
    assert DeepgramStt("key", base_url=base_url).listen_url(SttOptions()).startswith(expected)


def test_base_url_of_another_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="base_url"):
        DeepgramStt("key", base_url="ftp://dg.example.com")


async def test_wrong_key_raises_authentication_error_with_deepgrams_reason(
    fake: FakeDeepgram,
) -> None:
    with pytest.raises(AuthenticationError, match="Invalid credentials") as refused:
        await DeepgramStt("wrong-key", base_url=fake.url).open_stream(SttOptions())
    assert refused.value.status == 401


async def test_refused_parameters_raise_invalid_request_error(fake: FakeDeepgram) -> None:
    stt = DeepgramStt(FAKE_API_KEY, base_url=fake.url, model="nova-2")
    with pytest.raises(InvalidRequestError, match="keyterm"):
        await stt.open_stream(SttOptions(keyterms=("Acme",)))


async def test_other_refusals_and_no_server_raise_engine_unavailable(fake: FakeDeepgram) -> None:
    fake.reject_handshake_status = 503
    with pytest.raises(EngineUnavailableError, match="503"):
        await engine(fake).open_stream(SttOptions())
    url = fake.url
    await fake.stop()
    with pytest.raises(EngineUnavailableError, match="cannot connect"):
        await DeepgramStt(FAKE_API_KEY, base_url=url).open_stream(SttOptions())


# ---------------------------------------------------------------- results


async def test_results_become_speech_started_interims_final_and_end_of_speech(
    fake: FakeDeepgram,
) -> None:
    stream = await engine(fake).open_stream(SttOptions(endpointing_ms=300))
    recognition = Recognition(stream)
    await send(stream, speech(50) + silence(70))  # 1 s spoken, then 1.4 s of silence
    await recognition.until(lambda: any(e.kind == "end_of_speech" for e in recognition.events))
    await stream.close()
    await recognition.ended()

    kinds = [e.kind for e in recognition.events]
    assert kinds[0] == "speech_started"
    assert kinds[-2:] == ["final", "end_of_speech"]
    interims = [e for e in recognition.events if e.kind == "interim"]
    assert interims and all(e.text and REFUND.startswith(e.text) for e in interims)
    assert recognition.finals() == [SttEvent("final", REFUND, speech_final=True, confidence=0.97)]


async def test_finalize_yields_the_final_without_waiting_for_endpointing(
    fake: FakeDeepgram,
) -> None:
    stream = await engine(fake).open_stream(SttOptions(endpointing_ms=10_000))
    recognition = Recognition(stream)
    await send(stream, speech(30) + silence(5))
    asked = time.monotonic()
    await stream.finalize()
    await recognition.until(lambda: bool(recognition.finals()))
    assert time.monotonic() - asked < WAIT_S / 2
    assert recognition.finals() == [SttEvent("final", REFUND, confidence=0.97)]
    control = fake.listen_connections[0].control
    assert control == [{"type": "Finalize"}]
    await stream.close()


async def test_multilingual_final_reports_the_agents_tag_for_the_detected_language() -> None:
    async with FakeDeepgram(transcripts=[Utterance("Necesito ayuda.", "es")]) as fake:
        options = SttOptions(language="en-US", languages=("en-US", "es-ES"), detect_language=True)
        stream = await engine(fake).open_stream(options)
        recognition = Recognition(stream)
        await send(stream, speech(40) + silence(30))
        await recognition.until(lambda: bool(recognition.finals()))
        await stream.close()
    final = recognition.finals()[0]
    assert (final.text, final.language) == ("Necesito ayuda.", "es-ES")


async def test_a_code_switched_utterance_is_in_the_language_of_most_of_its_words() -> None:
    switched = Utterance(
        "I need una cita para mañana", word_languages=("en", "en", "es", "es", "es", "es")
    )
    async with FakeDeepgram(transcripts=[switched]) as fake:
        options = SttOptions(language="en-US", languages=("en-US", "es-ES"), detect_language=True)
        stream = await engine(fake).open_stream(options)
        recognition = Recognition(stream)
        await send(stream, speech(40) + silence(30))
        await recognition.until(lambda: bool(recognition.finals()))
        await stream.close()
    final = recognition.finals()[0]
    assert (final.text, final.language) == ("I need una cita para mañana", "es-ES")


def test_detected_language_comes_from_the_words_when_languages_is_absent() -> None:
    message = (
        '{"type":"Results","start":0,"duration":1,"is_final":true,"speech_final":true,'
        '"channel":{"alternatives":[{"transcript":"hola amigo","confidence":0.9,"words":['
        '{"word":"hola","start":0,"end":0.5,"confidence":0.9,"language":"es"},'
        '{"word":"amigo","start":0.5,"end":1,"confidence":0.9,"language":"es"}]}]}}'
    )
    reply = parse_listen_message(message, LanguageMatcher(["en-US", "es-MX"]))
    assert reply.events[0].language == "es-MX"
    assert reply.final_end_s == 1.0


def test_empty_results_are_skipped_unless_they_end_the_turn() -> None:
    def results(is_final: bool, speech_final: bool) -> str:
        return (
            f'{{"type":"Results","start":2,"duration":0.5,"is_final":{str(is_final).lower()},'
            f'"speech_final":{str(speech_final).lower()},'
            '"channel":{"alternatives":[{"transcript":"","confidence":0,"words":[]}]}}'
        )

    assert parse_listen_message(results(False, False)).events == ()
    assert parse_listen_message(results(True, False)).events == ()
    assert parse_listen_message(results(True, False)).final_end_s == 2.5
    assert parse_listen_message(results(True, True)).events == (
        SttEvent("final", "", speech_final=True, confidence=0.0),
    )
    assert parse_listen_message('{"type":"Metadata","request_id":"x"}').events == ()
    assert parse_listen_message("not json").events == ()


# ---------------------------------------------------------------- keeping the stream alive


async def test_keepalive_goes_out_while_silent_so_the_stream_is_not_closed() -> None:
    async with FakeDeepgram(idle_timeout_s=1.5) as fake:
        stream = await engine(fake, keepalive_interval_s=0.3).open_stream(SttOptions())
        await asyncio.sleep(2.0)  # past the fake's idle timeout, five intervals per timeout
        connection = fake.listen_connections[0]
        assert connection.control.count({"type": "KeepAlive"}) >= 2
        assert connection.close_code is None
        await stream.close()
    assert len(fake.listen_connections) == 1


async def test_idle_close_by_deepgram_is_survived_by_reconnecting() -> None:
    async with FakeDeepgram(transcripts=[REFUND], idle_timeout_s=0.3) as fake:
        before = reconnects()
        stream = await engine(fake, keepalive_interval_s=60).open_stream(SttOptions())
        recognition = Recognition(stream)
        await recognition.until(lambda: len(fake.listen_connections) == 2)
        assert fake.listen_connections[0].close_code == 1011
        assert reconnects() >= before + 1
        await send(stream, speech(30) + silence(30))
        await recognition.until(lambda: bool(recognition.finals()))
        await stream.close()
    assert recognition.finals()[0].text == REFUND


async def test_latency_delays_the_final_by_at_least_the_fakes_latency() -> None:
    async with FakeDeepgram(transcripts=[REFUND], latency_ms=300) as fake:
        stream = await engine(fake).open_stream(SttOptions(endpointing_ms=10_000))
        recognition = Recognition(stream)
        await send(stream, speech(30))
        asked = time.monotonic()
        await stream.finalize()
        await recognition.until(lambda: bool(recognition.finals()))
        assert time.monotonic() - asked >= 0.29
        await stream.close()


async def test_close_delivers_the_last_final_and_is_idempotent(fake: FakeDeepgram) -> None:
    stream = await engine(fake).open_stream(SttOptions())
    recognition = Recognition(stream)
    await send(stream, speech(30))
    await stream.close()
    await stream.close()
    await recognition.ended()
    assert [e.text for e in recognition.finals()] == [REFUND]
    connection = fake.listen_connections[0]
    assert connection.control[-1] == {"type": "CloseStream"}
    assert connection.sent[-1]["type"] == "Metadata"
    assert connection.close_code == 1000


# ---------------------------------------------------------------- reconnecting


async def test_drop_mid_utterance_resends_the_unacknowledged_tail_and_no_words_are_lost(
    fake: FakeDeepgram,
) -> None:
    first = speech(40) + silence(30)  # REFUND, finalized after 300 ms of silence
    second = speech(50) + silence(40)  # ORDER; the socket drops 25 frames into it
    before = reconnects()
    stream = await engine(fake).open_stream(SttOptions(endpointing_ms=300))
    recognition = Recognition(stream)
    await send(stream, first)
    await recognition.until(lambda: len(recognition.finals()) == 1)
    fake.drop_after_bytes = (len(first) + 25) * 160
    await send(stream, second)
    await recognition.until(lambda: len(recognition.finals()) == 2)
    await stream.close()

    assert [e.text for e in recognition.finals()] == [REFUND, ORDER]
    assert recognition.error is None
    assert reconnects() == before + 1
    dropped, resumed = fake.listen_connections
    assert dropped.close_code == 1011
    acknowledged = final_end_bytes(dropped)
    assert 0 < acknowledged < len(dropped.audio)
    # The new connection starts with the audio Deepgram had not finalized, then carries on:
    # nothing is lost and nothing already finalized is sent twice.
    assert resumed.audio.startswith(dropped.audio[acknowledged:])
    assert dropped.audio[:acknowledged] + resumed.audio == b"".join(first + second)


async def test_timestamps_after_a_reconnect_stay_relative_to_the_original_stream(
    fake: FakeDeepgram,
) -> None:
    refund, order, address = speech(40) + silence(30), speech(50) + silence(40), speech(60)
    sent = b"".join(refund + order + address + silence(40))
    stream = await engine(fake).open_stream(SttOptions(endpointing_ms=300))
    recognition = Recognition(stream)
    await send(stream, refund)
    await recognition.until(lambda: len(recognition.finals()) == 1)
    fake.drop_after_bytes = (len(refund) + 25) * 160  # first connection: inside ORDER
    await send(stream, order)
    await recognition.until(lambda: len(recognition.finals()) == 2)
    # The second connection began where REFUND's final ended: drop it 20 frames into ADDRESS.
    first_connection_end = final_end_bytes(fake.listen_connections[0])
    fake.drop_after_bytes = (len(refund) + len(order) + 20) * 160 - first_connection_end
    await send(stream, address + silence(40))
    await recognition.until(lambda: len(recognition.finals()) == 3)
    await stream.close()

    assert [e.text for e in recognition.finals()] == [REFUND, ORDER, ADDRESS]
    first, second, third = fake.listen_connections
    # ORDER's final is timed from the second connection's start; the stream must add where that
    # connection began, or the third connection would resend from the wrong place.
    start_of_second = final_end_bytes(first)
    start_of_third = final_end_bytes(second)
    assert third.audio.startswith(second.audio[start_of_third:])
    assert first.audio[:start_of_second] + second.audio[:start_of_third] + third.audio == sent


async def test_events_raise_engine_unavailable_when_reconnecting_fails(
    fake: FakeDeepgram,
) -> None:
    stream = await engine(fake, reconnect_attempts=2, reconnect_backoff_s=0.01).open_stream(
        SttOptions()
    )
    recognition = Recognition(stream)
    fake.reject_handshake_status = 503
    fake.drop_after_bytes = 10 * 160
    await send(stream, speech(20))
    await recognition.ended()
    assert isinstance(recognition.error, EngineUnavailableError)
    assert "2 reconnect attempts failed" in str(recognition.error)
    await stream.send_audio(LOUD)  # a failed stream ignores audio rather than raising
    await stream.close()


async def test_a_server_that_accepts_and_drops_at_once_is_not_redialled_forever() -> None:
    accepted = 0

    async def drop_at_once(connection: ServerConnection) -> None:
        nonlocal accepted
        accepted += 1
        await connection.close(1011, "NET-0000")

    async with serve(drop_at_once, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        stt = DeepgramStt(FAKE_API_KEY, base_url=f"ws://127.0.0.1:{port}", reconnect_backoff_s=0.01)
        stream = await stt.open_stream(SttOptions())
        recognition = Recognition(stream)
        await recognition.ended()
        await stream.close()
    assert isinstance(recognition.error, EngineUnavailableError)
    assert "closed before any result" in str(recognition.error)
    assert accepted == 4  # the first connection, then three reconnects that also dropped


class SimulatedTime:
    """The reconnect backoff's clock and sleep: waits are recorded and pass at once."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def test_item12_failing_endpoint_gets_at_most_10_reconnects_a_minute_then_gives_up() -> None:
    # Every stream is accepted, answers once (SpeechStarted for the resent speech) and is
    # dropped: before the fix each drop was redialled at once, thousands of times a minute.
    async with FakeDeepgram(transcripts=[REFUND], drop_after_messages=1) as fake:
        time_ = SimulatedTime()
        stt = DeepgramStt(FAKE_API_KEY, base_url=fake.url, clock=time_.clock, sleep=time_.sleep)
        stream = await stt.open_stream(SttOptions())
        recognition = Recognition(stream)
        await send(stream, speech(20))
        await recognition.ended()
        await stream.close()

    assert isinstance(recognition.error, ReconnectGaveUpError)
    assert isinstance(recognition.error, EngineUnavailableError)  # what callers already catch
    assert "10 reconnects in the last 60 s" in str(recognition.error)
    assert recognition.error.attempts == 10
    assert len(fake.listen_connections) == 11  # the first connection and 10 reconnects
    assert all(connection.close_code == 1011 for connection in fake.listen_connections)
    # Exponential backoff with jitter: the n-th wait is between half and all of
    # min(8 s, 0.25 s x 2^n); the 11th wait found the minute's budget spent.
    assert len(time_.waits) == 11
    for n, wait in enumerate(time_.waits):
        ceiling = min(8.0, 0.25 * 2**n)
        assert ceiling / 2 <= wait <= ceiling, (n, wait)
    assert time_.now < 60

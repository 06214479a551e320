"""A faithful fake Deepgram on one local port: live listen, streaming speak, REST speak.

Messages follow PROTOCOLS.md sections 3 and 4 field for field, so the vendor's own SDK parses
them (``test_deepgram_fake_with_sdk``). Recognition is scripted (``deepgram_listen``): an energy
detector finds the caller's utterances and each is "recognised" as the next transcript the test
gave. Synthesis is a deterministic tone per character (``deepgram_speak.speech_audio``), so a
test knows the exact bytes to expect. Faults (a dropped socket, a refused handshake, latency, a
failing speak socket or REST call) are plain attributes a test may change while the fake runs.

Run alone for benchmarks (serves until killed)::

    python tests/fakes/deepgram.py --port 9001 --latency-ms 150 --transcript "I need a refund"
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from aiohttp import WSMsgType, web

if __name__ == "__main__":
    # Run as a script: import ``tests`` from the repository root, not this directory, where
    # this file would shadow the vendor SDK of the same name.
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from tests.fakes.deepgram_listen import (
    DEFAULT_SPEECH_THRESHOLD,
    MODEL_UUID,
    ListenConnection,
    ListenParams,
    Script,
    ScriptedRecognizer,
    Utterance,
    parse_integer,
)
from tests.fakes.deepgram_speak import (
    SPEAK_ENCODINGS,
    RestSpeakRequest,
    SpeakConnection,
    SpeakSocketSession,
    speech_audio,
    wav_header,
)

__all__ = [
    "FAKE_API_KEY",
    "FakeDeepgram",
    "ListenConnection",
    "RestSpeakRequest",
    "SpeakConnection",
    "Utterance",
    "main",
    "speech_audio",
]

FAKE_API_KEY = "fake-deepgram-key"
_REST_CHUNK_BYTES = 4000

_Outbox = asyncio.Queue[tuple[float, dict[str, Any]]]  # (send no earlier than, message)


class FakeDeepgram:
    """The fake server. ``async with FakeDeepgram(transcripts=[...]) as fake:`` then point a
    client at ``fake.url`` (``http://127.0.0.1:PORT``) or ``fake.ws_url`` (``ws://...``).

    - ``api_key``: the key ``Authorization: Token`` must carry (None accepts any key).
    - ``transcripts``: the scripted utterances, ``str`` or ``Utterance(text, language)``.
    - ``latency_ms``: added before each final result and each sentence's first audio.
    - ``speech_threshold``: frame energy (mean |sample|) above which audio is speech.
    - ``idle_timeout_s``: a listen socket without audio or KeepAlive this long closes 1011.
    - ``drop_after_bytes``: close a listen socket with 1011 once it has received this many
      audio bytes; fires once (reset to None), a test may set it again.
    - ``drop_after_messages``: close every listen socket with 1011 right after it has sent this
      many messages (a failing endpoint that accepts each stream, answers, then drops it);
      stays armed until set back to None.
    - ``reject_handshake_status``: refuse every WebSocket handshake with this HTTP status.
    - ``tts_ws_fail``: ``"refuse"`` the speak handshake (503), or ``"drop"`` the speak socket
      after a sentence's first audio frame.
    - ``rest_fail_status``: answer REST speak with this HTTP status.

    Records: ``listen_connections``, ``speak_connections``, ``rest_requests``.
    """

    def __init__(
        self,
        *,
        api_key: str | None = FAKE_API_KEY,
        transcripts: Sequence[str | Utterance] = (),
        latency_ms: int = 0,
        speech_threshold: int = DEFAULT_SPEECH_THRESHOLD,
        idle_timeout_s: float = 10.0,
        drop_after_bytes: int | None = None,
        drop_after_messages: int | None = None,
        reject_handshake_status: int | None = None,
        tts_ws_fail: Literal["refuse", "drop"] | None = None,
        rest_fail_status: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.script = Script(transcripts)
        self.latency_ms = latency_ms
        self.speech_threshold = speech_threshold
        self.idle_timeout_s = idle_timeout_s
        self.drop_after_bytes = drop_after_bytes
        self.drop_after_messages = drop_after_messages
        self.reject_handshake_status = reject_handshake_status
        self.tts_ws_fail = tts_ws_fail
        self.rest_fail_status = rest_fail_status
        self.listen_connections: list[ListenConnection] = []
        self.speak_connections: list[SpeakConnection] = []
        self.rest_requests: list[RestSpeakRequest] = []
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Serve on ``host``: on a free port unless one was given."""
        app = web.Application()
        app.router.add_get("/v1/listen", self._listen)
        app.router.add_get("/v1/speak", self._speak_socket)
        app.router.add_post("/v1/speak", self._speak_rest)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._host, self._port))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        """Close every connection and the port."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDeepgram:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: REST, and the base every client here accepts."""
        return f"http://{self._host}:{self._port}"

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:PORT``."""
        return f"ws://{self._host}:{self._port}"

    def _refusal(self, request: web.Request, *, handshake: bool) -> web.Response | None:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Token" or not key or (self.api_key is not None and key != self.api_key):
            return _error(401, "INVALID_AUTH", "Invalid credentials.")
        if handshake and self.reject_handshake_status is not None:
            status = self.reject_handshake_status
            return _error(status, "FAKE_REJECTED", f"Handshake rejected with {status} (fault).")
        return None

    # ------------------------------------------------------------ listen

    async def _listen(self, request: web.Request) -> web.StreamResponse:
        refusal = self._refusal(request, handshake=True)
        if refusal is not None:
            return refusal
        query = list(request.query.items())
        try:
            params = ListenParams.from_query(query)
        except ValueError as exc:
            return _error(400, "Bad Request", str(exc))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        record = ListenConnection(query, request.headers["Authorization"])
        self.listen_connections.append(record)
        recognizer = ScriptedRecognizer(params, self.script, threshold=self.speech_threshold)
        outbox: _Outbox = asyncio.Queue()
        sender = asyncio.create_task(
            _send_listen_messages(ws, record, recognizer, outbox, lambda: self.drop_after_messages)
        )
        try:
            await self._serve_listen(ws, record, recognizer, outbox)
        finally:
            sender.cancel()
        return ws

    async def _serve_listen(
        self,
        ws: web.WebSocketResponse,
        record: ListenConnection,
        recognizer: ScriptedRecognizer,
        outbox: _Outbox,
    ) -> None:
        loop = asyncio.get_running_loop()

        def post(messages: list[dict[str, Any]]) -> None:
            for message in messages:
                final = message["type"] == "Results" and message["is_final"]
                delay = self.latency_ms / 1000 if final else 0.0
                outbox.put_nowait((loop.time() + delay, message))

        last_activity = loop.time()
        while True:
            try:
                wait = max(0.001, last_activity + self.idle_timeout_s - loop.time())
                message = await ws.receive(timeout=wait)
            except TimeoutError:
                reason = "NET-0001: no audio or KeepAlive received within the timeout window"
                await _close(ws, record, 1011, reason)
                return
            if message.type is WSMsgType.BINARY:
                last_activity = loop.time()
                record.audio += message.data
                record.audio_messages += 1
                post(recognizer.feed(message.data))
                if self._should_drop(record):
                    await _close(ws, record, 1011, "NET-0000: connection dropped (fault)")
                    return
            elif message.type is WSMsgType.TEXT:
                control = json.loads(message.data)
                record.control.append(control)
                kind = control.get("type")
                if kind == "KeepAlive":
                    last_activity = loop.time()
                elif kind == "Finalize":
                    post(recognizer.finalize())
                elif kind == "CloseStream":
                    post(recognizer.close_stream())
                    await asyncio.wait_for(outbox.join(), timeout=5 + self.latency_ms / 1000)
                    await _close(ws, record, 1000, "")
                    return
            else:
                return  # the client closed, or the connection failed

    def _should_drop(self, record: ListenConnection) -> bool:
        limit = self.drop_after_bytes
        if limit is None or len(record.audio) < limit:
            return False
        self.drop_after_bytes = None  # once; a test may arm it again
        return True

    # ------------------------------------------------------------ speak

    async def _speak_socket(self, request: web.Request) -> web.StreamResponse:
        refusal = self._refusal(request, handshake=True)
        if refusal is not None:
            return refusal
        if self.tts_ws_fail == "refuse":
            return _error(503, "SERVICE_UNAVAILABLE", "Speak socket refused (fault).")
        # Deepgram's WebSocket defaults (PROTOCOLS.md 4.2).
        encoding = request.query.get("encoding", "linear16")
        if encoding not in SPEAK_ENCODINGS:
            return _error(400, "Bad Request", f"the fake synthesizes encoding {SPEAK_ENCODINGS}")
        try:
            sample_rate = parse_integer(dict(request.query), "sample_rate", 24000) or 24000
        except ValueError as exc:
            return _error(400, "Bad Request", str(exc))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        record = SpeakConnection(list(request.query.items()))
        self.speak_connections.append(record)
        session = SpeakSocketSession(
            ws,
            record,
            self,
            model=request.query.get("model", "aura-asteria-en"),
            encoding=encoding,
            sample_rate=sample_rate,
        )
        with contextlib.suppress(ConnectionError):  # the client went away
            await session.run()
        return ws

    async def _speak_rest(self, request: web.Request) -> web.StreamResponse:
        refusal = self._refusal(request, handshake=False)
        if refusal is not None:
            return refusal
        if self.rest_fail_status is not None:
            status = self.rest_fail_status
            return _error(status, "FAKE_FAILURE", f"Speak request failed with {status} (fault).")
        query = dict(request.query)
        model = query.get("model", "aura-asteria-en")
        encoding = query.get("encoding", "mp3")
        if encoding not in SPEAK_ENCODINGS:
            return _error(400, "Bad Request", f"the fake synthesizes encoding {SPEAK_ENCODINGS}")
        container = query.get("container", "wav")
        if container not in ("none", "wav"):
            return _error(400, "Bad Request", f"container must be none or wav, got {container}")
        try:
            default_rate = 8000 if encoding == "mulaw" else 24000
            sample_rate = parse_integer(query, "sample_rate", default_rate) or default_rate
            body = json.loads(await request.read())
        except ValueError as exc:
            return _error(400, "Bad Request", f"Could not parse the request: {exc}")
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            return _error(400, "Bad Request", "The body must be JSON with a non-empty 'text'.")
        self.rest_requests.append(RestSpeakRequest(list(request.query.items()), text))
        if self.latency_ms:
            await asyncio.sleep(self.latency_ms / 1000)
        audio = speech_audio(text, encoding=encoding, sample_rate=sample_rate)
        if container == "wav":
            audio = wav_header(len(audio), encoding, sample_rate) + audio
        response = web.StreamResponse(
            headers={
                "Content-Type": "audio/wav" if container == "wav" else f"audio/{encoding}",
                "dg-request-id": str(uuid.uuid4()),
                "dg-model-name": model,
                "dg-model-uuid": MODEL_UUID,
                "dg-char-count": str(len(text)),
            }
        )
        await response.prepare(request)
        for offset in range(0, len(audio), _REST_CHUNK_BYTES):  # streamed, as Deepgram does
            await response.write(audio[offset : offset + _REST_CHUNK_BYTES])
        await response.write_eof()
        return response


async def _send_listen_messages(
    ws: web.WebSocketResponse,
    record: ListenConnection,
    recognizer: ScriptedRecognizer,
    outbox: _Outbox,
    drop_after: Callable[[], int | None],
) -> None:
    """Sends the recognizer's messages in order, each no earlier than its time (latency);
    closes the socket once ``drop_after()`` messages went out."""
    loop = asyncio.get_running_loop()
    while True:
        not_before, message = await outbox.get()
        try:
            if (wait := not_before - loop.time()) > 0:
                await asyncio.sleep(wait)
            if not ws.closed:
                await ws.send_str(json.dumps(message))
                record.sent.append(message)
                recognizer.sent(message)
                limit = drop_after()
                if limit is not None and len(record.sent) >= limit:
                    await _close(ws, record, 1011, "NET-0000: connection dropped (fault)")
                    return
        except ConnectionError:
            pass
        finally:
            outbox.task_done()


async def _close(ws: web.WebSocketResponse, record: ListenConnection, code: int, why: str) -> None:
    record.close_code = code
    await ws.close(code=code, message=why.encode())


def _error(status: int, code: str, message: str) -> web.Response:
    """Deepgram's error shape: a JSON body and the ``dg-error`` header."""
    request_id = str(uuid.uuid4())
    return web.json_response(
        {"err_code": code, "err_msg": message, "request_id": request_id},
        status=status,
        headers={"dg-error": message, "dg-request-id": request_id},
    )


def main(argv: Sequence[str] | None = None) -> None:
    """``python tests/fakes/deepgram.py --port 9001 --latency-ms 150 --transcript "..."``."""
    parser = argparse.ArgumentParser(description="Fake Deepgram: listen, speak, REST speak.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument(
        "--transcript", action="append", default=[], help="a scripted utterance (repeatable)"
    )
    parser.add_argument("--api-key", default=None, help="the only key accepted (default: any)")
    parser.add_argument("--speech-threshold", type=int, default=DEFAULT_SPEECH_THRESHOLD)
    args = parser.parse_args(argv)

    async def serve() -> None:
        fake = FakeDeepgram(
            api_key=args.api_key,
            transcripts=args.transcript,
            latency_ms=args.latency_ms,
            speech_threshold=args.speech_threshold,
            host=args.host,
            port=args.port,
        )
        async with fake:
            print(f"fake Deepgram serving on {fake.url}", flush=True)
            await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        return


if __name__ == "__main__":
    main()

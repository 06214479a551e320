"""Pipecat's Twilio bot for the side-by-side benchmark, built as Pipecat's Twilio guide builds it.

This follows pipecat-examples ``twilio-chatbot/inbound`` (``server.py`` and ``bot.py`` folded
into one file) on Pipecat 1.14: a FastAPI app answers Twilio's webhook with TwiML that connects
a Media Stream to ``/ws``, and every WebSocket runs its own pipeline (Pipecat's model):

    transport.input() -> Deepgram STT -> user aggregator -> OpenAI LLM -> Deepgram TTS
        -> transport.output() -> assistant aggregator

with ``TwilioFrameSerializer``, ``FastAPIWebsocketTransport``, Silero VAD, 8 kHz in and out,
and Pipecat's default end-of-turn strategy (smart-turn v3, local ONNX) or, with
``--turn speech-timeout``, the plain VAD + transcript ``SpeechTimeoutUserTurnStopStrategy``.

Engines are reached through the services' own base-URL options, so the benchmark points them
at local fakes; nothing else differs from a production bot. Run it in its own virtualenv
(``bench/pipecat/setup.sh``)::

    bench/.venv-pipecat/bin/python bench/pipecat/bot.py --port 8765 \\
        --deepgram-stt-url http://127.0.0.1:9001 --deepgram-tts-url ws://127.0.0.1:9001 \\
        --llm-base-url http://127.0.0.1:9004/v1

API keys come from ``DEEPGRAM_API_KEY`` and ``OPENAI_API_KEY`` as in Pipecat's examples.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from xml.sax.saxutils import quoteattr

import uvicorn
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import Response
from loguru import logger
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.frames.frames import LLMRunFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.runner.utils import parse_telephony_websocket
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.services.deepgram.stt import DeepgramSTTService
from pipecat.services.deepgram.tts import DeepgramTTSService
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.workers.runner import WorkerRunner

TurnMode = Literal["smart-turn", "speech-timeout"]
TURN_MODES: tuple[TurnMode, ...] = ("smart-turn", "speech-timeout")

SYSTEM_INSTRUCTION = (
    "You are a friendly receptionist on a phone call. Your output will be converted to audio, "
    "so don't include special characters in your answers. Answer in one short sentence."
)


@dataclass(frozen=True, slots=True)
class BotConfig:
    """Where the engines are and which end-of-turn strategy the user aggregator uses.

    The defaults are the vendors' own endpoints (Deepgram, OpenAI)."""

    deepgram_stt_url: str = ""
    deepgram_tts_url: str = "wss://api.deepgram.com"
    llm_base_url: str | None = None
    llm_model: str = "gpt-4.1"
    turn: TurnMode = "smart-turn"


def user_turn_strategies(turn: TurnMode) -> UserTurnStrategies | None:
    """The aggregator's turn strategies: ``None`` keeps Pipecat's default (VAD or transcript
    starts a turn, smart-turn v3 ends it); ``speech-timeout`` ends a turn once VAD heard
    silence for the timeout and a transcript arrived, with no turn model."""
    if turn == "smart-turn":
        return None
    return UserTurnStrategies(stop=[SpeechTimeoutUserTurnStopStrategy()])


async def run_bot(websocket: WebSocket, config: BotConfig) -> None:
    """One call: read Twilio's ``connected``/``start``, build the pipeline, run it to the end."""
    _, call_data = await parse_telephony_websocket(websocket)

    # No Twilio credentials here: ending the pipeline must not call Twilio's REST API to hang up
    # (the caller hangs up, which ends the pipeline through on_client_disconnected).
    serializer = TwilioFrameSerializer(
        stream_sid=call_data["stream_id"],
        call_sid=call_data["call_id"],
        params=TwilioFrameSerializer.InputParams(auto_hang_up=False),
    )
    transport = FastAPIWebsocketTransport(
        websocket=websocket,
        params=FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=serializer,
        ),
    )

    stt = DeepgramSTTService(
        api_key=os.getenv("DEEPGRAM_API_KEY", ""), base_url=config.deepgram_stt_url
    )
    llm = OpenAILLMService(
        api_key=os.getenv("OPENAI_API_KEY"),
        base_url=config.llm_base_url,
        settings=OpenAILLMService.Settings(
            model=config.llm_model, system_instruction=SYSTEM_INSTRUCTION
        ),
    )
    tts = DeepgramTTSService(
        api_key=os.getenv("DEEPGRAM_API_KEY", ""),
        base_url=config.deepgram_tts_url,
        settings=DeepgramTTSService.Settings(voice="aura-2-helena-en"),
    )

    context = LLMContext()
    user_aggregator, assistant_aggregator = LLMContextAggregatorPair(
        context,
        user_params=LLMUserAggregatorParams(
            vad_analyzer=SileroVADAnalyzer(),
            user_turn_strategies=user_turn_strategies(config.turn),
        ),
    )

    pipeline = Pipeline(
        [
            transport.input(),  # Twilio media in
            stt,
            user_aggregator,
            llm,
            tts,
            transport.output(),  # Twilio media out
            assistant_aggregator,
        ]
    )
    # PipelineWorker is 1.3+'s name for PipelineTask (now a deprecated alias).
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(
            audio_in_sample_rate=8000,
            audio_out_sample_rate=8000,
            enable_metrics=True,
            enable_usage_metrics=True,
        ),
    )

    @transport.event_handler("on_client_connected")  # type: ignore[untyped-decorator]
    async def on_client_connected(transport: FastAPIWebsocketTransport, client: Any) -> None:
        # Kick off the conversation: the agent greets the caller.
        context.add_message({"role": "user", "content": "Please introduce yourself to the user."})
        await worker.queue_frames([LLMRunFrame()])

    @transport.event_handler("on_client_disconnected")  # type: ignore[untyped-decorator]
    async def on_client_disconnected(transport: FastAPIWebsocketTransport, client: Any) -> None:
        await worker.cancel()

    # uvicorn owns SIGINT; force_gc collects after each call as Pipecat's example does for
    # long-running servers with many clients.
    runner = WorkerRunner(handle_sigint=False, force_gc=True)
    await runner.add_workers(worker)
    await runner.run()


def twiml(host: str) -> str:
    """``<Connect><Stream>`` to this server's ``/ws`` (Twilio only connects over ``wss``)."""
    url = quoteattr(f"wss://{host}/ws")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Connect><Stream url={url}/></Connect></Response>"
    )


def create_app(config: BotConfig) -> FastAPI:
    """The server: Twilio's voice webhook, the media-stream WebSocket and a health check."""
    app = FastAPI()

    @app.post("/twilio/voice")
    async def voice(request: Request) -> Response:
        host = request.headers.get("host", "localhost")
        return Response(content=twiml(host), media_type="application/xml")

    @app.websocket("/ws")
    async def media_stream(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await run_bot(websocket, config)
        except Exception:
            logger.exception("call failed")
            with contextlib.suppress(RuntimeError):  # already closed by the caller
                await websocket.close()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command line; each engine URL also has an environment variable."""
    parser = argparse.ArgumentParser(description="Pipecat Twilio bot (benchmark side).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--deepgram-stt-url",
        default=os.getenv("DEEPGRAM_STT_URL", ""),
        help="Deepgram base URL for live STT, e.g. http://127.0.0.1:9001 (default: Deepgram)",
    )
    parser.add_argument(
        "--deepgram-tts-url",
        default=os.getenv("DEEPGRAM_TTS_URL", "wss://api.deepgram.com"),
        help="Deepgram WebSocket base URL for TTS, e.g. ws://127.0.0.1:9001",
    )
    parser.add_argument(
        "--llm-base-url",
        default=os.getenv("OPENAI_BASE_URL"),
        help="OpenAI-compatible base URL, e.g. http://127.0.0.1:9004/v1 (default: OpenAI)",
    )
    parser.add_argument("--llm-model", default="gpt-4.1")
    parser.add_argument(
        "--turn",
        choices=TURN_MODES,
        default=os.getenv("PIPECAT_BENCH_TURN", "smart-turn"),
        help="end-of-turn strategy: Pipecat's default smart-turn v3, or VAD speech timeout",
    )
    parser.add_argument(
        "--log-level",
        default=os.getenv("PIPECAT_BENCH_LOG_LEVEL", "INFO"),
        help="loguru level for Pipecat's log (Pipecat's own default is DEBUG)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until interrupted."""
    args = parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level=args.log_level.upper())
    config = BotConfig(
        deepgram_stt_url=args.deepgram_stt_url,
        deepgram_tts_url=args.deepgram_tts_url,
        llm_base_url=args.llm_base_url,
        llm_model=args.llm_model,
        turn=args.turn,
    )
    logger.info(f"Pipecat bot on {args.host}:{args.port}, turn={config.turn}")
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()

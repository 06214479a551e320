"""Prometheus counters and histograms, exposed at ``GET /metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)
_SMALL_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25)

CALLS_STARTED = Counter("aybiza_calls_started_total", "Calls whose media stream started.")
CALLS_ENDED = Counter("aybiza_calls_ended_total", "Calls that ended, by reason.", ["reason"])
CALLS_ACTIVE = Gauge("aybiza_calls_active", "Calls in progress in this process.")
WEBHOOKS = Counter(
    "aybiza_twilio_webhooks_total", "Incoming-call webhooks, by outcome.", ["outcome"]
)
MALFORMED_MESSAGES = Counter(
    "aybiza_stream_malformed_messages_total", "Media Streams messages that could not be understood."
)
STREAMS_REJECTED = Counter(
    "aybiza_streams_rejected_total",
    "Media streams closed before a call started, by reason.",
    ["reason"],
)
TURNS = Counter("aybiza_turns_total", "Caller turns answered.")
BARGE_INS = Counter("aybiza_barge_ins_total", "Times the caller interrupted the agent.")
FILLERS = Counter("aybiza_fillers_total", "Filler phrases spoken because the model was slow.")
ENGINE_ERRORS = Counter(
    "aybiza_engine_errors_total", "Engine failures, by kind.", ["kind", "engine"]
)

VOICE_TO_VOICE = Histogram(
    "aybiza_voice_to_voice_seconds",
    "End of caller speech to first agent audio sent.",
    buckets=_LATENCY_BUCKETS,
)
PLATFORM_ADDED = Histogram(
    "aybiza_platform_added_seconds",
    "Part of each turn's latency not spent waiting on an engine.",
    buckets=_SMALL_BUCKETS,
)
GREETING_LATENCY = Histogram(
    "aybiza_greeting_latency_seconds",
    "Stream start to first greeting audio sent.",
    buckets=_LATENCY_BUCKETS,
)
STT_LATENCY = Histogram(
    "aybiza_stt_final_seconds",
    "End of caller speech to final transcript.",
    buckets=_LATENCY_BUCKETS,
)
LLM_FIRST_TOKEN = Histogram(
    "aybiza_llm_first_token_seconds", "Model request to first token.", buckets=_LATENCY_BUCKETS
)
TTS_FIRST_AUDIO = Histogram(
    "aybiza_tts_first_audio_seconds", "Synthesis request to first audio.", buckets=_LATENCY_BUCKETS
)
GC_PAUSES = Histogram(
    "aybiza_gc_pause_seconds",
    "Pauses of Python's cyclic garbage collector (every call in the process waits), by generation.",
    ["generation"],
    buckets=_SMALL_BUCKETS,
)
PROTOCOL_WARNINGS = Counter(
    "aybiza_protocol_warnings_total",
    "Carrier protocol problems noted on calls (a second start, a second media connection).",
)
LOOP_LATENESS = Histogram(
    "aybiza_event_loop_lateness_seconds",
    "How late the event loop woke a task that slept (a stall delays every call in the process).",
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0),
)
LOOP_STALL_LONGEST = Gauge(
    "aybiza_event_loop_stall_longest_seconds",
    "The longest event-loop stall in the current and previous 2 s windows.",
)

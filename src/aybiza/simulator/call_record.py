"""The server's record of a call (``GET /v1/calls/{CallSid}``): transcript and per-turn timings.

The client measures what the caller experiences; the record says where the time went on the
server (speech recognition, model, synthesis, and what the platform itself added).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import httpx

API_KEY_ENV = "AYBIZA_API_KEY"


class CallRecordError(Exception):
    """The call record could not be fetched or read; the message says why."""


@dataclass(frozen=True, slots=True)
class TurnTimings:
    """Server-side milliseconds after the end of the caller's speech for one turn."""

    stt_final: float | None = None
    llm_first_token: float | None = None
    tts_first_audio: float | None = None
    first_audio_sent: float | None = None
    platform_added: float | None = None


@dataclass(frozen=True, slots=True)
class RecordedTurn:
    """One turn as the server recorded it."""

    index: int
    user_text: str
    agent_text: str
    interrupted: bool
    model: str | None
    timings_ms: TurnTimings
    # What else the turn recorded: ``language`` (when the agent follows the caller's),
    # ``tool_calls``, ``route``, ``error``...
    notes: dict[str, Any] = field(default_factory=dict)
    # What the caller heard of ``agent_text`` (all of it unless the caller interrupted).
    heard_text: str = ""


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    """One line of the transcript: who spoke (``caller`` or ``agent``), what, and when (ISO)."""

    speaker: str
    text: str
    at: str


@dataclass(frozen=True, slots=True)
class CallRecord:
    """The parts of the server's call record the simulator reports."""

    call_sid: str
    status: str
    ended_reason: str | None
    engines: dict[str, str] = field(default_factory=dict)
    agent: dict[str, Any] = field(default_factory=dict)
    turns: list[RecordedTurn] = field(default_factory=list)
    transcript: list[TranscriptLine] = field(default_factory=list)
    # Every tool the agent ran (``name``, ``arguments``, ``outcome``...), in order.
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    # The post-call analysis (``summary``, ``success``...) once it ran, else None.
    analysis: dict[str, Any] | None = None
    transfer_to: str | None = None


def demo_key_file() -> Path:
    """Where a local server keeps the demo tenant's key: ``demo.key`` in its data directory
    (``$AYBIZA_DATA_DIR``, by default ``./data``)."""
    return Path(os.environ.get("AYBIZA_DATA_DIR") or "data") / "demo.key"


# The name ``aybiza call`` (simulator/command.py) imports; it now means the demo key file.


def resolve_api_key(explicit: str | None, *, key_file: Path | None = None) -> str | None:
    """The API key: ``explicit`` (``--api-key``), else ``$AYBIZA_API_KEY``, else the contents
    of ``key_file`` (by default ``demo_key_file()``), else None."""
    if explicit:
        return explicit
    if env_key := os.environ.get(API_KEY_ENV):
        return env_key
    key_file = key_file or demo_key_file()
    try:
        return key_file.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def parse_call_record(data: Any) -> CallRecord:
    """Read the record's JSON; missing optional members get defaults, a wrong shape raises."""
    if not isinstance(data, Mapping) or not isinstance(data.get("call_sid"), str):
        raise CallRecordError(f"expected a call record object with call_sid, got {data!r:.200}")
    turns: list[RecordedTurn] = []
    for raw in data.get("turns") or []:
        timings = raw.get("timings_ms") or {}
        turns.append(
            RecordedTurn(
                index=int(raw.get("index", len(turns))),
                user_text=str(raw.get("user_text") or ""),
                agent_text=str(raw.get("agent_text") or ""),
                interrupted=bool(raw.get("interrupted", False)),
                model=raw.get("model"),
                timings_ms=TurnTimings(
                    **{f.name: _number(timings.get(f.name)) for f in fields(TurnTimings)}
                ),
                notes=dict(raw.get("notes") or {}),
                heard_text=str(raw.get("heard_text") or ""),
            )
        )
    transcript = [
        TranscriptLine(str(line.get("speaker", "")), str(line.get("text", "")), str(line.get("at")))
        for line in data.get("transcript") or []
    ]
    return CallRecord(
        call_sid=data["call_sid"],
        status=str(data.get("status", "")),
        ended_reason=data.get("ended_reason"),
        engines={str(k): str(v) for k, v in (data.get("engines") or {}).items()},
        agent=dict(data.get("agent") or {}),
        turns=turns,
        transcript=transcript,
        tool_calls=[dict(c) for c in data.get("tool_calls") or [] if isinstance(c, Mapping)],
        analysis=dict(analysis) if isinstance(analysis := data.get("analysis"), Mapping) else None,
        transfer_to=data.get("transfer_to"),
    )


async def fetch_call_record(
    base_url: str,
    call_sid: str,
    api_key: str,
    *,
    settle_s: float = 2.0,
    client: httpx.AsyncClient | None = None,
) -> CallRecord:
    """GET the record. The server finishes writing it as the call closes, so a 404 or a record
    without ``ended_reason`` is retried for up to ``settle_s`` seconds before being returned."""
    url = f"{base_url.rstrip('/')}/v1/calls/{call_sid}"
    headers = {"Authorization": f"Bearer {api_key}"}
    own_client = client is None
    http = client or httpx.AsyncClient(timeout=10.0)
    deadline = asyncio.get_running_loop().time() + settle_s
    try:
        while True:
            try:
                response = await http.get(url, headers=headers)
            except httpx.HTTPError as exc:
                raise CallRecordError(f"GET {url} failed: {exc or type(exc).__name__}") from exc
            settled = asyncio.get_running_loop().time() >= deadline
            if response.status_code == 404 and not settled:
                await asyncio.sleep(0.25)
                continue
            if response.status_code != 200:
                raise CallRecordError(
                    f"GET {url} answered HTTP {response.status_code}: {response.text[:200]}"
                )
            try:
                record = parse_call_record(response.json())
            except (ValueError, TypeError, AttributeError) as exc:
                raise CallRecordError(f"GET {url} returned an unreadable record: {exc}") from exc
            if record.ended_reason is not None or settled:
                return record
            await asyncio.sleep(0.25)
    finally:
        if own_client:
            await http.aclose()

"""What a call cost, by telephony, speech recognition, language model and speech synthesis.

Unit prices (USD) come from ``PriceTable``: defaults below, overridden by ``AYBIZA_PRICES``
(JSON merged over the defaults). Embedded engines (pocketsphinx, espeak, the flow engine) cost 0.

- telephony: per started minute of the call (carriers bill whole minutes), from the moment the
  webhook answered to the end;
- STT: per minute of streamed audio (the media stream's duration), by engine;
- TTS: per 1000 characters synthesized for turns, by engine (the greeting and filler phrases
  are synthesized once per agent version and cached, so a call does not pay for them);
- LLM: per 1000 input and per 1000 output tokens, by model id when listed, else by engine;
- speculative: what answers started before the caller's turn ended, then discarded because the
  caller went on, used (``stats.speculative``: tokens by model, characters synthesized), at the
  same prices. A used speculative answer is an ordinary turn, in ``llm`` and ``tts``.

Costs are computed when the call is read, with the prices configured then.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, ValidationError

from aybiza.store.models import Call, Turn, utcnow


class TokenPrice(BaseModel):
    """USD per 1000 tokens."""

    model_config = ConfigDict(extra="forbid")
    input: NonNegativeFloat = 0.0
    output: NonNegativeFloat = 0.0


class PriceTable(BaseModel):
    """Unit prices in USD; every engine not listed costs 0."""

    model_config = ConfigDict(extra="forbid")
    currency: str = "USD"
    telephony_per_minute: NonNegativeFloat = 0.0085
    stt_per_minute: dict[str, NonNegativeFloat] = Field(
        default_factory=lambda: {"deepgram": 0.0077, "pocketsphinx": 0.0}
    )
    tts_per_1k_chars: dict[str, NonNegativeFloat] = Field(
        default_factory=lambda: {"deepgram": 0.030, "espeak": 0.0}
    )
    llm_per_1k_tokens: dict[str, TokenPrice] = Field(
        default_factory=lambda: {
            "bedrock": TokenPrice(input=0.003, output=0.015),
            "anthropic": TokenPrice(input=0.003, output=0.015),
            "openai": TokenPrice(input=0.0025, output=0.010),
            "flow": TokenPrice(),
        }
    )
    llm_models: dict[str, TokenPrice] = Field(
        default_factory=lambda: {
            "claude-3-5-haiku": TokenPrice(input=0.0008, output=0.004),
            "claude-3-5-sonnet-v2": TokenPrice(input=0.003, output=0.015),
            "claude-3-7-sonnet": TokenPrice(input=0.003, output=0.015),
        },
        description="Per-model prices that take precedence over the engine's.",
    )

    @classmethod
    def from_json(cls, text: str | None) -> PriceTable:
        """Defaults, with the JSON object ``text`` merged over them (dicts merge key by key)."""
        if not text:
            return cls()
        try:
            override = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"AYBIZA_PRICES is not valid JSON: {exc}") from exc
        if not isinstance(override, dict):
            raise ValueError("AYBIZA_PRICES must be a JSON object")
        merged = cls().model_dump()
        for key, value in override.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ValueError(f"AYBIZA_PRICES.{where}: {first['msg']}") from exc


def model_usage(turns: Iterable[Turn]) -> dict[str, Any]:
    """Tokens used by the call, in total and per model."""
    by_model: dict[str, dict[str, int]] = {}
    for turn in turns:
        model = turn.model or "unknown"
        entry = by_model.setdefault(model, {"turns": 0, "input_tokens": 0, "output_tokens": 0})
        entry["turns"] += 1
        entry["input_tokens"] += _tokens(turn.usage, "input_tokens")
        entry["output_tokens"] += _tokens(turn.usage, "output_tokens")
    return {
        "input_tokens": sum(e["input_tokens"] for e in by_model.values()),
        "output_tokens": sum(e["output_tokens"] for e in by_model.values()),
        "by_model": by_model,
    }


def call_cost(
    call: Call, turns: Iterable[Turn], prices: PriceTable, *, now: datetime | None = None
) -> dict[str, Any]:
    """The cost breakdown of a call (ongoing calls: so far, with ``final`` false)."""
    turns = list(turns)
    end = call.ended_at or now or utcnow()
    engines = {k: str(v) for k, v in (call.engines or {}).items() if isinstance(v, str)}
    line_s = max((end - call.created_at).total_seconds(), 0.0)
    telephony_minutes = math.ceil(line_s / 60) if line_s > 0 else 0
    stream_s = _stream_seconds(call, end)
    stt_engine, tts_engine, llm_engine = (engines.get(k, "") for k in ("stt", "tts", "llm"))
    tts_chars = sum(len(turn.agent_text) for turn in turns)
    llm = 0.0
    for turn in turns:
        llm += _llm_cost(prices, turn.model or "", llm_engine, turn.usage)
    speculative = _speculative(call)
    spec_usage: dict[str, Any] = speculative.get("by_model") or {}
    spec_chars = _tokens(speculative, "tts_characters")
    tts_price = prices.tts_per_1k_chars.get(tts_engine, 0.0)
    parts = {
        "telephony": telephony_minutes * prices.telephony_per_minute,
        "stt": stream_s / 60 * prices.stt_per_minute.get(stt_engine, 0.0),
        "llm": llm,
        "tts": tts_chars / 1000 * tts_price,
        "speculative": sum(
            _llm_cost(prices, model, llm_engine, usage) for model, usage in spec_usage.items()
        )
        + spec_chars / 1000 * tts_price,
    }
    return {
        "currency": prices.currency,
        **{name: round(value, 6) for name, value in parts.items()},
        "total": round(sum(parts.values()), 6),
        "final": call.ended_at is not None,
        "units": {
            "telephony_minutes": telephony_minutes,
            "stt_minutes": round(stream_s / 60, 4),
            "tts_characters": tts_chars,
            "llm_input_tokens": sum(_tokens(t.usage, "input_tokens") for t in turns),
            "llm_output_tokens": sum(_tokens(t.usage, "output_tokens") for t in turns),
            "speculative_input_tokens": sum(
                _tokens(u, "input_tokens") for u in spec_usage.values()
            ),
            "speculative_output_tokens": sum(
                _tokens(u, "output_tokens") for u in spec_usage.values()
            ),
            "speculative_tts_characters": spec_chars,
        },
        "engines": {
            "stt": stt_engine or None,
            "tts": tts_engine or None,
            "llm": llm_engine or None,
        },
    }


def _llm_cost(
    prices: PriceTable, model: str, engine: str, usage: Mapping[str, Any] | None
) -> float:
    price = prices.llm_models.get(model) or prices.llm_per_1k_tokens.get(engine, TokenPrice())
    return (
        _tokens(usage, "input_tokens") / 1000 * price.input
        + _tokens(usage, "output_tokens") / 1000 * price.output
    )


def _speculative(call: Call) -> Mapping[str, Any]:
    """The call's ``stats.speculative`` (discarded speculative answers), or nothing."""
    value = (call.stats or {}).get("speculative")
    if not isinstance(value, dict):
        return {}
    by_model = value.get("by_model")
    if by_model is not None and not (
        isinstance(by_model, dict) and all(isinstance(u, dict) for u in by_model.values())
    ):
        return {k: v for k, v in value.items() if k != "by_model"}
    return value


def _stream_seconds(call: Call, end: datetime) -> float:
    stats: Mapping[str, Any] = call.stats or {}
    duration = stats.get("duration_s")
    if isinstance(duration, int | float) and not isinstance(duration, bool) and duration >= 0:
        return float(duration)
    if call.started_at is None:
        return 0.0
    return max((end - call.started_at).total_seconds(), 0.0)


def _tokens(usage: Mapping[str, Any] | None, key: str) -> int:
    value = (usage or {}).get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

"""The language model an eval run uses itself: to play simulated callers (``persona``) and to
judge answers (``judge: llm``). It is the platform's own providers layer, configured the way
the server is (``ANTHROPIC_API_KEY``, AWS credentials, ``AYBIZA_OPENAI_BASE_URL``...), so a
suite that runs against cloud engines plays and judges with them too."""

from __future__ import annotations

import json
import re
from typing import Any

from aybiza.config import Settings
from aybiza.providers.base import LlmEngine, LlmRequest, Message, TextDelta
from aybiza.providers.registry import EngineRegistry

NO_MODEL = (
    "no language model is configured (set ANTHROPIC_API_KEY, AWS credentials with AWS_REGION, "
    "or AYBIZA_OPENAI_BASE_URL; see docs/engines.md)"
)
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


class EvalModel:
    """``model`` on the first configured cloud engine that serves it; ``available`` is false
    when there is none, and ``unavailable_reason`` says what to configure."""

    def __init__(self, settings: Settings, model: str) -> None:
        self.model = model
        self._registry = EngineRegistry(settings)
        self._engine: LlmEngine | None = self._registry.model_engine(model)

    @property
    def available(self) -> bool:
        """Whether a cloud engine can run ``model`` here."""
        return self._engine is not None

    @property
    def unavailable_reason(self) -> str:
        """Why ``available`` is false, as advice."""
        return f"{NO_MODEL}; model {self.model!r}"

    @property
    def engine_name(self) -> str:
        """The engine's name (``bedrock``, ``anthropic``, ``openai``), or ``none``."""
        return self._engine.name if self._engine is not None else "none"

    async def complete(
        self,
        system: str,
        messages: list[Message],
        *,
        max_tokens: int = 200,
        language: str = "en-US",
    ) -> str:
        """The model's whole text answer. Raises the engine's errors (``EngineError``...)."""
        if self._engine is None:
            raise RuntimeError(self.unavailable_reason)
        request = LlmRequest(
            system=system,
            messages=tuple(messages),
            model=self.model,
            temperature=0.0,
            max_tokens=max_tokens,
            language=language,
        )
        parts: list[str] = []
        async for event in self._engine.open_session("eval").respond(request):
            if isinstance(event, TextDelta):
                parts.append(event.text)
        return "".join(parts).strip()

    async def complete_json(self, system: str, prompt: str) -> dict[str, Any] | None:
        """The model's answer read as one JSON object (None when it gave none)."""
        text = await self.complete(system, [Message(role="user", text=prompt)], max_tokens=300)
        found = _JSON_OBJECT.search(text)
        if found is None:
            return None
        try:
            value = json.loads(found.group(0))
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    async def aclose(self) -> None:
        """Close the engine's connections."""
        await self._registry.aclose()

"""The LLM judge (``judge: llm``): asks the eval model whether one of the agent's lines means
what the scenario expects, for wording that keyword overlap cannot see through."""

from __future__ import annotations

from aybiza.evals.model import EvalModel

SYSTEM = (
    "You grade a phone agent's lines against an expectation. Answer with exactly one JSON "
    'object: {"pass": true or false, "line": the number of the best line or 0, "reason": '
    '"one short sentence"}. Pass when a line conveys the expected meaning, whatever its wording.'
)


class LlmJudge:
    """``said`` checks decided by the eval model; the threshold does not apply."""

    name = "llm"

    def __init__(self, model: EvalModel) -> None:
        self._model = model

    async def said(self, expected: str, lines: list[str], threshold: float) -> tuple[bool, str]:
        """(passed, the model's reason and the line it chose)."""
        del threshold
        if not lines:
            return False, "the agent said nothing there"
        numbered = "\n".join(f"{i}. {line}" for i, line in enumerate(lines, start=1))
        prompt = f"Expected meaning: {expected}\n\nThe agent's lines:\n{numbered}"
        try:
            verdict = await self._model.complete_json(SYSTEM, prompt)
        except Exception as exc:  # the model failing is the check's result, not a crash
            return False, f"the judge ({self._model.engine_name}) failed: {exc}"
        if verdict is None or not isinstance(verdict.get("pass"), bool):
            return False, f"the judge ({self._model.engine_name}) gave no verdict"
        index = verdict.get("line")
        chosen = (
            f"; line {lines[index - 1]!r}"
            if isinstance(index, int) and 1 <= index <= len(lines)
            else ""
        )
        reason = str(verdict.get("reason") or "").strip()
        return verdict["pass"], f"judge ({self._model.engine_name}): {reason}{chosen}"

"""An agent's eval suite: scenarios a simulated caller plays against the agent, and what each
must show afterwards (docs/evals.md).

The same document is a file ``aybiza eval`` runs (YAML or JSON) and the suite an agent stores
(``PUT /v1/agents/{id}/eval-suite``), so both are validated here, below the services that store
it and the command that runs it. ``suite_digest`` names a suite's content: a recorded eval run
counts for the publish gate only while the agent's stored suite has the digest the run had.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aybiza.agents.errors import AgentConfigError, FieldError, field_errors, located_error
from aybiza.agents.schema import LanguageTag

# What ``aybiza eval`` calls when a scenario names no agent: the seeded demo agent.
DEMO_AGENT_REF = "demo"
DEFAULT_THRESHOLD = 0.6
DEFAULT_CALLER_MODEL = "claude-3-5-haiku"
DEFAULT_MAX_TURNS = 6
_DTMF = re.compile(r"^[0-9*#]{1,32}$")

NonEmpty = Annotated[str, Field(min_length=1, pattern=r"\S")]
Threshold = Annotated[float, Field(gt=0.0, le=1.0)]


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class CallerStep(_Block):
    """One thing the scripted caller does: ``say`` a line (synthesized in ``language``, by
    default the scenario's) or press ``dtmf`` keys. Exactly one of the two."""

    say: NonEmpty | None = None
    dtmf: str | None = Field(default=None, description="Keys among 0-9, * and #.")
    language: LanguageTag | None = None

    @model_validator(mode="after")
    def _one_action(self) -> CallerStep:
        if (self.say is None) == (self.dtmf is None):
            problem = FieldError("", "expected exactly one of 'say' or 'dtmf'", None)
            raise located_error([problem])
        if self.dtmf is not None and not _DTMF.match(self.dtmf):
            raise located_error(
                [FieldError("dtmf", "expected 1 to 32 keys among 0-9, * and #", self.dtmf)]
            )
        if self.dtmf is not None and self.language is not None:
            raise located_error([FieldError("language", "only a 'say' step has a language")])
        return self


class SaidExpectation(_Block):
    """The agent said something meaning ``text``: in its answer to the caller's ``turn``-th
    line (1 for the first; 0 for the greeting), or anywhere when ``turn`` is not given. Scored
    by keyword overlap against ``threshold``, or by the LLM judge (``judge: llm``)."""

    text: NonEmpty
    turn: int | None = Field(default=None, ge=0, le=200)
    threshold: Threshold | None = None


class ToolExpectation(_Block):
    """The agent called tool ``name``; with ``arguments``, those keys had those values (other
    keys may be present; strings compare case- and space-insensitively); with ``outcome``,
    the call's recorded outcome (``ok``, ``http_error``, ``unknown_tool``...)."""

    name: NonEmpty
    arguments: dict[str, Any] | None = None
    outcome: NonEmpty | None = None


class TurnRange(_Block):
    """Bounds on the caller turns the agent answered (both inclusive)."""

    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> TurnRange:
        if self.min is None and self.max is None:
            raise located_error([FieldError("", "give min, max or both", None)])
        if self.min is not None and self.max is not None and self.min > self.max:
            raise located_error([FieldError("min", f"must not exceed max ({self.max})", self.min)])
        return self


class Expectations(_Block):
    """What the call must show; every given check must pass (docs/evals.md lists them)."""

    said: list[SaidExpectation] = Field(default_factory=list)
    not_said: list[NonEmpty] = Field(
        default_factory=list,
        description="Phrases the agent must never say (matched as whole words, any case).",
    )
    tools: list[ToolExpectation] = Field(default_factory=list)
    tools_not_called: list[NonEmpty] = Field(default_factory=list)
    ended_reason: list[NonEmpty] | None = Field(
        default=None, description="Accepted ended reasons of the call (one or a list)."
    )
    success: bool | None = Field(
        default=None, description="The post-call analysis's verdict on the caller's goal."
    )
    turns: TurnRange | None = None
    latency_ms: int | None = Field(
        default=None,
        gt=0,
        le=60_000,
        description="Budget for each answer: ms from the end of the caller's speech (or key "
        "press) to the agent's first audio, as the caller heard it.",
    )
    languages: list[LanguageTag] | None = Field(
        default=None, description="The language the agent answered each caller turn in."
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        """``said: "text"``, ``ended_reason: "transferred"`` and ``turns: 3`` are accepted for
        a list of one, a list of one and ``{min: 3, max: 3}``."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        said = data.get("said")
        if isinstance(said, str | dict):
            said = [said]
        if isinstance(said, list):
            data["said"] = [{"text": item} if isinstance(item, str) else item for item in said]
        for key in ("not_said", "tools_not_called", "ended_reason"):
            if isinstance(data.get(key), str):
                data[key] = [data[key]]
        turns = data.get("turns")
        if isinstance(turns, int) and not isinstance(turns, bool):
            data["turns"] = {"min": turns, "max": turns}
        return data


class Scenario(_Block):
    """One call: a scripted ``caller`` (lines and keys, in order) or a ``persona`` an LLM
    plays for up to ``max_turns`` lines; then ``expect``."""

    name: NonEmpty = Field(max_length=200)
    language: LanguageTag = Field(default="en-US", description="The caller's language.")
    caller: list[CallerStep] | None = None
    persona: NonEmpty | None = Field(
        default=None, description="Who the caller is and what they want (for the LLM)."
    )
    max_turns: int = Field(default=DEFAULT_MAX_TURNS, ge=1, le=30)
    expect: Expectations = Expectations()

    @model_validator(mode="after")
    def _one_caller(self) -> Scenario:
        if (self.caller is None) == (self.persona is None):
            problem = FieldError("caller", "expected exactly one of 'caller' or 'persona'", None)
            raise located_error([problem])
        if self.caller is not None and not self.caller:
            raise located_error([FieldError("caller", "needs at least one step", [])])
        return self

    @property
    def simulated(self) -> bool:
        """Whether an LLM plays the caller."""
        return self.persona is not None


class EvalSpec(_Block):
    """A suite: ``scenarios`` with defaults for their checks. ``agent`` names what a file run
    calls on the eval's own server (``demo``, or an agent JSON/YAML file beside the spec); a
    stored suite belongs to its agent and names none."""

    name: NonEmpty = Field(default="eval", max_length=200)
    agent: NonEmpty | None = None
    threshold: Threshold = DEFAULT_THRESHOLD
    judge: Literal["similarity", "llm"] = "similarity"
    caller_model: NonEmpty = Field(
        default=DEFAULT_CALLER_MODEL,
        description="The model that plays personas and judges (judge: llm).",
    )
    latency_ms: int | None = Field(
        default=None, gt=0, le=60_000, description="Default per-turn budget of every scenario."
    )
    scenarios: list[Scenario] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _unique_names(self) -> EvalSpec:
        seen: dict[str, int] = {}
        problems = []
        for index, scenario in enumerate(self.scenarios):
            if scenario.name in seen:
                message = f"repeats the name of scenario {seen[scenario.name]}"
                problems.append(FieldError(f"scenarios.{index}.name", message, scenario.name))
            seen.setdefault(scenario.name, index)
        if problems:
            raise located_error(problems)
        return self

    def latency_budget_ms(self, scenario: Scenario) -> int | None:
        """The scenario's own budget, else the suite's."""
        return scenario.expect.latency_ms or self.latency_ms


class EvalSpecError(AgentConfigError):
    """An eval suite was rejected; ``errors`` lists every bad field by its path."""

    def __str__(self) -> str:
        count = len(self.errors)
        lines = [f"invalid eval suite ({count} error{'s' if count != 1 else ''}):"]
        lines.extend(f"  {error}" for error in self.errors)
        return "\n".join(lines)


def validate_eval_spec(data: object) -> EvalSpec:
    """Validate a parsed suite (a dict); ``EvalSpecError`` names every bad field."""
    if not isinstance(data, dict):
        raise EvalSpecError(
            [FieldError("", "expected an object with 'scenarios'", type(data).__name__)]
        )
    try:
        return EvalSpec.model_validate(data)
    except ValidationError as exc:
        errors = [
            FieldError(
                e.path, e.message.replace("agent schema", "eval suite (docs/evals.md)"), e.received
            )
            for e in field_errors(exc)
        ]
        raise EvalSpecError(errors) from exc


def suite_digest(spec: EvalSpec) -> str:
    """``sha256:`` and the hex digest of the suite's meaning: its validated form with every
    default filled in, as canonical JSON (so spelling a default out changes nothing)."""
    canonical = json.dumps(
        spec.model_dump(mode="json", exclude={"agent"}),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

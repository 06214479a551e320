"""What a request to start an outbound campaign may contain, and the contact list read from CSV
(the rules that need the database are in ``aybiza.services.campaigns``)."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from aybiza.agents.errors import FieldError
from aybiza.errors import Invalid
from aybiza.services.calling_windows import known_zone
from aybiza.services.number_specs import E164, AgentRef, Version

MAX_CONTACTS = 10_000
MAX_VARIABLES = 50
VariableName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
VariableValue = Annotated[str, StringConstraints(max_length=500)]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
EndTime = Annotated[str, StringConstraints(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
Retryable = Literal["busy", "no-answer", "voicemail", "failed"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ZoneName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_+/-]{0,63}$")]


def _working_days() -> list[Weekday]:
    return ["mon", "tue", "wed", "thu", "fri", "sat"]


def _unanswered() -> list[Retryable]:
    return ["busy", "no-answer", "voicemail"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ContactIn(_Spec):
    """One callee, with the variables the agent gets for this call."""

    number: E164 = Field(description="The callee (E.164).")
    variables: dict[VariableName, VariableValue] = Field(
        default_factory=dict,
        max_length=MAX_VARIABLES,
        description="Filled into the agent's prompt (`{{name}}`) and listed for the model.",
    )
    timezone: ZoneName | None = Field(
        default=None,
        description="The callee's IANA time zone (default: from the number's country/region).",
    )

    @field_validator("timezone")
    @classmethod
    def _zone_known(cls, value: str | None) -> str | None:
        if value is not None and not known_zone(value):
            raise ValueError(f"unknown time zone {value!r}")
        return value


class Pacing(_Spec):
    """How fast the campaign dials."""

    calls_per_minute: float = Field(default=10, gt=0, le=600, description="New calls a minute.")
    max_concurrent_calls: int = Field(
        default=5, ge=1, le=1000, description="Campaign calls live at once (at most)."
    )


class Window(_Spec):
    """When callees may be rung, in each callee's local time."""

    start: ClockTime = Field(default="09:00", description="Local opening time, HH:MM.")
    end: EndTime = Field(default="20:00", description="Local closing time, HH:MM (24:00).")
    days: list[Weekday] = Field(
        default_factory=_working_days,
        min_length=1,
        max_length=7,
        description="Days the window opens, local (default: Monday to Saturday).",
    )

    @field_validator("end")
    @classmethod
    def _after_start(cls, value: str, info: ValidationInfo) -> str:
        start = info.data.get("start")
        if start is not None and value != "24:00" and value <= start:
            raise ValueError(f"{value} is not after start {start}")
        return value


class RetryPolicy(_Spec):
    """Trying a contact again after an unanswered attempt."""

    max_attempts: int = Field(default=3, ge=1, le=10, description="Attempts per contact.")
    backoff_s: int = Field(
        default=900, ge=1, le=7 * 86_400, description="Wait before the 2nd attempt (seconds)."
    )
    multiplier: float = Field(default=2.0, ge=1, le=10, description="Each next wait: times this.")
    retry_on: list[Retryable] = Field(
        default_factory=_unanswered,
        description="Outcomes followed by another attempt.",
    )

    def delay_s(self, attempt: int) -> float:
        """The wait after attempt number ``attempt`` (1-based)."""
        return float(self.backoff_s * self.multiplier ** (attempt - 1))


class CampaignSettings(_Spec):
    """Everything about a campaign but its contacts (a CSV upload sends these as a form
    field ``campaign``, JSON)."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    from_number_id: AgentRef | None = Field(default=None, description="The number to call from.")
    from_: E164 | None = Field(default=None, alias="from", description="Or the number, E.164.")
    agent_id: AgentRef | None = Field(default=None, description="Default: the number's agent.")
    agent_version: Version | None = None
    pacing: Pacing = Field(default_factory=Pacing)
    calling_window: Window = Field(default_factory=Window)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)


class CampaignCreate(CampaignSettings):
    """A campaign with its contact list."""

    contacts: list[ContactIn] = Field(min_length=1, max_length=MAX_CONTACTS)


def contacts_from_csv(text: str) -> list[ContactIn]:
    """The contacts of a CSV file: a ``number`` (or ``phone``) column, an optional
    ``timezone`` column, every other column a variable. Raises ``Invalid`` naming each bad
    row as ``contacts.<row>.<column>`` (row 0 is the first line after the header)."""
    reader = csv.DictReader(io.StringIO(text))
    columns = [name.strip() for name in reader.fieldnames or []]
    number_column = next((c for c in ("number", "phone") if c in columns), None)
    if number_column is None:
        raise Invalid([FieldError("file", "the header needs a number column", columns[:10])])
    contacts: list[ContactIn] = []
    problems: list[FieldError] = []
    for row_index, row in enumerate(reader):
        if row_index >= MAX_CONTACTS:
            problems.append(FieldError("file", f"more than {MAX_CONTACTS} contacts"))
            break
        values = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
        if None in row:
            problems.append(FieldError(f"contacts.{row_index}", "more cells than columns"))
            continue
        zone = values.pop("timezone", "") or None
        number = values.pop(number_column, "")
        try:
            contacts.append(
                ContactIn.model_validate({"number": number, "variables": values, "timezone": zone})
            )
        except ValueError as exc:
            problems.extend(_row_errors(row_index, exc, number_column))
    if problems:
        raise Invalid(problems[:20])
    if not contacts:
        raise Invalid([FieldError("file", "no contacts after the header")])
    return contacts


def _row_errors(row: int, exc: ValueError, number_column: str) -> list[FieldError]:
    errors = getattr(exc, "errors", None)
    if errors is None:
        return [FieldError(f"contacts.{row}", str(exc))]
    found: list[FieldError] = []
    for error in errors():
        loc = [str(part) for part in error["loc"]]
        column = number_column if loc[:1] == ["number"] else (loc[-1] if loc else "")
        found.append(FieldError(f"contacts.{row}.{column}", error["msg"], error.get("input")))
    return found

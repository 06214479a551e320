"""What a request to place an outbound call may contain (the rules that need the database are
in ``aybiza.services.outbound_calls``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from aybiza.services.number_specs import E164, AgentRef, Version


class CallCreate(BaseModel):
    """Call ``to`` from one of the tenant's numbers, with that number's agent or another."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    to: E164 = Field(description="The number to call (E.164).")
    from_number_id: AgentRef | None = Field(
        default=None, description="The tenant's number to call from, by id (or give `from`)."
    )
    from_: E164 | None = Field(
        default=None, alias="from", description="The tenant's number to call from, as E.164."
    )
    agent_id: AgentRef | None = Field(
        default=None, description="The agent that talks (default: the number's agent)."
    )
    agent_version: Version | None = Field(
        default=None,
        description="Run this version (default: the number's routing for its own agent, else "
        "the agent's published version).",
    )


class CallTransfer(BaseModel):
    """Where to send a live call: a phone number (E.164) or a SIP URI."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    to: str = Field(
        pattern=r"^(\+[1-9][0-9]{6,14}|sips?:[^\s\x00-\x1f\x7f<>\"]{3,190})$",
        description="E.164 (`+14155550123`) or a SIP URI (`sip:desk@pbx.example.com`).",
        examples=["+14155550123"],
    )

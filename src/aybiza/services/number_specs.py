"""What a phone-number request may contain, field by field (cross-field rules are in
``aybiza.services.numbers``, checked against the stored number on updates)."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

E164 = Annotated[
    str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$"), Field(examples=["+14155550123"])
]
Region = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z]{2,10}(-[a-z0-9]{1,12}){1,3}$", max_length=40),
    Field(examples=["us-east-1"]),
]
Version = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z.+-]{1,64}$")]
# host or host:port (DNS name or IPv4).
Gateway = Annotated[
    str,
    StringConstraints(
        max_length=259,
        pattern=r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
        r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(:[0-9]{1,5})?$",
    ),
    Field(examples=["sip.carrier.example.com:5060"]),
]
# An E.164 number or a SIP URI to transfer to when the agent cannot serve the call.
FallbackTarget = Annotated[
    str,
    StringConstraints(pattern=r"^(\+[1-9][0-9]{6,14}|sips?:[^\s\x00-\x1f]{3,195})$"),
    Field(examples=["+14155550199", "sip:frontdesk@pbx.example.com"]),
]
# An IPv4 or IPv6 network the trunk's calls come from (checked in ``SipTrunk``).
Cidr = Annotated[str, StringConstraints(max_length=43), Field(examples=["203.0.113.0/24"])]
Credential = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]{1,256}$")]
AreaCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{2,5}$"), Field(examples=["415"])]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$"), Field(examples=["US"])]
AccountSid = Annotated[
    str, StringConstraints(pattern=r"^AC[0-9a-fA-F]{32}$"), Field(examples=["AC" + "0" * 32])
]
AgentRef = Annotated[str, StringConstraints(max_length=64)]
Weight = Annotated[int, Field(ge=0, le=10_000)]
NumberType = Literal["managed", "twilio", "sip_trunk"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


DigestAlgorithm = Literal["SHA-256", "MD5"]


def _strongest_first() -> list[DigestAlgorithm]:
    """The default challenge order (as ``trunk_gate.CHALLENGE_ALGORITHMS``)."""
    return ["SHA-256", "MD5"]


class SipAuth(_Spec):
    """Digest credentials the trunk uses; the password is stored sealed and never returned."""

    username: Credential
    password: Credential
    algorithms: list[DigestAlgorithm] = Field(
        default_factory=_strongest_first,
        min_length=1,
        max_length=2,
        description="Digest algorithms the trunk's calls are challenged with, most preferred "
        "first (RFC 8760). A PBX that reads only the first challenge and knows only MD5 (many "
        'older ones, and SIPp) needs ["MD5"]; a trunk that must not use MD5, ["SHA-256"].',
    )

    @field_validator("algorithms")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"algorithms: each algorithm at most once, got {value}")
        return value


class SipTrunk(_Spec):
    """A customer's SIP trunk that delivers calls for this number and carries its outbound
    calls. An incoming INVITE is taken when its source address is in ``allowed_cidrs`` or it
    answers a digest challenge with ``auth``; outbound INVITEs go to ``gateways`` in order."""

    gateways: list[Gateway] = Field(
        min_length=1,
        max_length=10,
        description="host[:port] each, in priority order: a gateway that stays silent, "
        "answers 5xx or 503 passes the call to the next.",
    )
    transport: Literal["udp", "tcp", "tls"] = Field(
        default="udp", description="How INVITEs reach the gateways."
    )
    allowed_cidrs: list[Cidr] = Field(
        default_factory=list,
        max_length=50,
        description="Networks the trunk's calls come from (taken without a challenge).",
    )
    auth: SipAuth | None = None
    register: bool = Field(
        default=False,
        description="REGISTER with the first gateway as auth.username (carriers that send "
        "calls only to registered accounts); needs auth.",
    )
    region: Region | None = Field(default=None, description="Where the trunk terminates.")

    @model_validator(mode="after")
    def _register_needs_auth(self) -> SipTrunk:
        if self.register and self.auth is None:
            raise ValueError("register: true needs auth (the account's username and password)")
        return self

    @field_validator("allowed_cidrs")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        networks = []
        for index, text in enumerate(value):
            try:
                networks.append(str(ipaddress.ip_network(text, strict=False)))
            except ValueError:
                raise ValueError(
                    f"allowed_cidrs[{index}]: {text!r} is not an IP network such as 203.0.113.0/24"
                ) from None
        return networks


class NumberCreate(_Spec):
    """Register a number and route it to an agent."""

    number: E164 | None = Field(
        default=None,
        description="Required, except for a managed number bought by area_code.",
    )
    type: NumberType = Field(
        description="managed: bought on the platform's Twilio account; twilio: the customer's "
        "own Twilio number; sip_trunk: reached through the customer's SIP trunk."
    )
    agent_id: AgentRef
    agent_version: Version | None = Field(
        default=None, description="Pin every call to this version instead of the published one."
    )
    version_weights: dict[Version, Weight] | None = Field(
        default=None,
        max_length=20,
        description='A/B split across versions by weight, e.g. {"1.0.0": 80, "1.1.0": 20}.',
    )
    region: Region = "us-east-1"
    fallback_region: Region | None = None
    fallback_number: FallbackTarget | None = None
    sip: SipTrunk | None = Field(default=None, description="Required for sip_trunk numbers.")
    area_code: AreaCode | None = Field(
        default=None,
        description="managed, without number: buy the first number for sale in this area code.",
    )
    country: Country | None = Field(
        default=None, description="managed, with area_code: the country searched (default US)."
    )
    twilio_account_sid: AccountSid | None = Field(
        default=None,
        description="twilio: the customer's account owning the number; with twilio_auth_token "
        "the platform points the number's voice URL here and restores it on delete.",
    )
    twilio_auth_token: Credential | None = Field(
        default=None,
        description="twilio: that account's auth token (stored sealed, never returned).",
    )


class NumberUpdate(_Spec):
    """Change a number's routing or settings; fields left out stay as they are, ``null`` clears
    an optional one. ``number`` and ``type`` cannot change (delete and register again)."""

    number: E164 | None = None
    type: NumberType | None = None
    agent_id: AgentRef | None = None
    agent_version: Version | None = None
    version_weights: dict[Version, Weight] | None = Field(default=None, max_length=20)
    region: Region | None = None
    fallback_region: Region | None = None
    fallback_number: FallbackTarget | None = None
    sip: SipTrunk | None = None
    twilio_auth_token: Credential | None = Field(
        default=None,
        description="Imported twilio numbers: the account's new auth token after a rotation.",
    )

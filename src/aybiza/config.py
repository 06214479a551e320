"""Process settings, read once from the environment (``AYBIZA_*`` and each vendor's usual names)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Environment = Literal["development", "production"]
MIB = 1024 * 1024
KIB = 1024
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the server reads from its environment, with embedded defaults.

    Nothing here is required: with no variables set the platform runs on SQLite under
    ``./data``, the embedded speech engines and the demo agent.
    """

    data_dir: Path = Path("data")
    database_url: str = ""
    public_url: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_api_url: str | None = None
    api_key: str | None = None
    deepgram_api_key: str | None = None
    deepgram_url: str | None = None
    # Speech synthesis from another Deepgram deployment than recognition (defaults to the same).
    deepgram_tts_url: str | None = None
    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None
    aws_region: str | None = None
    bedrock_endpoint_url: str | None = None
    # Bedrock is used when AWS credentials are configured; tests and VPC set-ups also set this.
    aws_credentials: bool = False
    openai_base_url: str | None = None
    openai_api_key: str | None = None
    stt_decoders: int = 2
    log_level: str = "info"
    # Platform API (tenants, keys, webhooks, costs); see docs/api.md.
    secret_key: str | None = None
    prices: str | None = None
    default_max_concurrent_calls: int = 10
    webhook_max_attempts: int = 8
    webhook_backoff_s: float = 2.0
    webhook_timeout_s: float = 10.0
    webhook_poll_s: float = 1.0
    hangup_poll_s: float = 1.0
    # Seconds between database probes (``/readyz`` reports the result; docs/operations.md).
    database_probe_s: float = 5.0
    # A live call's lease (renewed every third of it); a call whose process died is ended as
    # ``server-lost`` within about two leases.
    call_lease_s: float = 20.0
    # On SIGTERM, live calls may go on this long before they are ended (``server-shutdown``).
    drain_s: float = 300.0
    # Networks customers' URLs may reach although they are not public (loopback, private...);
    # empty: only public addresses (see docs/outbound.md).
    outbound_allow_cidrs: tuple[IpNetwork, ...] = ()
    # Hardening (docs/security.md): ``production`` turns on the strict start-up checks.
    env: Environment = "development"
    max_body_bytes: int = MIB
    max_webhook_body_bytes: int = 64 * KIB
    max_ws_message_bytes: int = 64 * KIB
    max_json_depth: int = 64
    header_timeout_s: float = 10.0
    # Requests per minute (bursts up to the same number); 0 turns a limit off.
    rate_limit_key_per_min: int = 1200
    rate_limit_address_per_min: int = 6000
    # Set: rate limits are counted in this Redis, shared by every worker and server.
    redis_url: str | None = None
    rate_limit_prefix: str = "aybiza:rate:"

    @property
    def production(self) -> bool:
        """``AYBIZA_ENV=production``: refuse to start with settings that are unsafe there."""
        return self.env == "production"

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(_env("AYBIZA_DATA_DIR") or "data")
        return cls(
            data_dir=data_dir,
            database_url=_env("AYBIZA_DATABASE_URL")
            or f"sqlite+aiosqlite:///{(data_dir / 'aybiza.db').as_posix()}",
            public_url=_env("AYBIZA_PUBLIC_URL"),
            twilio_account_sid=_env("TWILIO_ACCOUNT_SID"),
            twilio_auth_token=_env("TWILIO_AUTH_TOKEN"),
            twilio_api_url=_env("AYBIZA_TWILIO_API_URL"),
            api_key=_env("AYBIZA_API_KEY"),
            deepgram_api_key=_env("DEEPGRAM_API_KEY"),
            deepgram_url=_env("AYBIZA_DEEPGRAM_URL"),
            deepgram_tts_url=_env("AYBIZA_DEEPGRAM_TTS_URL"),
            anthropic_api_key=_env("ANTHROPIC_API_KEY"),
            anthropic_base_url=_env("AYBIZA_ANTHROPIC_BASE_URL"),
            aws_region=_env("AWS_REGION") or _env("AWS_DEFAULT_REGION"),
            bedrock_endpoint_url=_env("AYBIZA_BEDROCK_ENDPOINT_URL"),
            aws_credentials=_aws_credentials_configured(),
            openai_base_url=_env("AYBIZA_OPENAI_BASE_URL"),
            openai_api_key=_env("OPENAI_API_KEY"),
            stt_decoders=int(_env("AYBIZA_STT_DECODERS") or 2),
            log_level=(_env("AYBIZA_LOG_LEVEL") or "info").lower(),
            secret_key=_env("AYBIZA_SECRET_KEY"),
            prices=_env("AYBIZA_PRICES"),
            default_max_concurrent_calls=int(_env("AYBIZA_DEFAULT_MAX_CONCURRENT_CALLS") or 10),
            webhook_max_attempts=int(_env("AYBIZA_WEBHOOK_MAX_ATTEMPTS") or 8),
            webhook_backoff_s=float(_env("AYBIZA_WEBHOOK_BACKOFF_S") or 2.0),
            webhook_timeout_s=float(_env("AYBIZA_WEBHOOK_TIMEOUT_S") or 10.0),
            database_probe_s=float(_env("AYBIZA_DATABASE_PROBE_S") or 5.0),
            call_lease_s=float(_env("AYBIZA_CALL_LEASE_S") or 20.0),
            drain_s=float(_env("AYBIZA_DRAIN_S") or 300.0),
            outbound_allow_cidrs=cidrs(
                "AYBIZA_OUTBOUND_ALLOW_CIDRS", _env("AYBIZA_OUTBOUND_ALLOW_CIDRS")
            ),
            env=_environment(_env("AYBIZA_ENV")),
            max_body_bytes=int(_env("AYBIZA_MAX_BODY_BYTES") or MIB),
            max_webhook_body_bytes=int(_env("AYBIZA_MAX_WEBHOOK_BODY_BYTES") or 64 * KIB),
            max_ws_message_bytes=int(_env("AYBIZA_MAX_WS_MESSAGE_BYTES") or 64 * KIB),
            max_json_depth=int(_env("AYBIZA_MAX_JSON_DEPTH") or 64),
            header_timeout_s=float(_env("AYBIZA_HEADER_TIMEOUT_S") or 10.0),
            rate_limit_key_per_min=int(_env("AYBIZA_RATE_LIMIT_KEY_PER_MIN") or 1200),
            rate_limit_address_per_min=int(_env("AYBIZA_RATE_LIMIT_ADDRESS_PER_MIN") or 6000),
            redis_url=_env("AYBIZA_REDIS_URL"),
            rate_limit_prefix=_env("AYBIZA_RATE_LIMIT_PREFIX") or "aybiza:rate:",
        )


def cidrs(name: str, value: str | None) -> tuple[IpNetwork, ...]:
    """Comma-separated networks (``127.0.0.0/8,::1/128``; a bare address is one host); a bad
    entry is an error naming the variable, the entry and the expected form."""
    networks: list[IpNetwork] = []
    for entry in (value or "").split(","):
        text = entry.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError as exc:
            raise ValueError(
                f"{name}: {text!r} is not a network; expected CIDRs like 127.0.0.0/8,::1/128"
            ) from exc
    return tuple(networks)


class StartupRefused(Exception):
    """The settings are unsafe for the environment; the message says what to set."""


@dataclass(frozen=True, slots=True)
class StartupRisk:
    """A risk of running with the settings: ``name`` for the log event, ``message`` for
    people (what can happen, and what to set)."""

    name: str
    message: str


def check_startup(settings: Settings) -> list[StartupRisk]:
    """The risks of running with these settings, to log as warnings at start; raises
    ``StartupRefused`` where ``AYBIZA_ENV=production`` forbids the risk outright."""
    risks: list[StartupRisk] = []
    if not settings.twilio_auth_token:
        if settings.production:
            raise StartupRefused(
                "AYBIZA_ENV=production needs TWILIO_AUTH_TOKEN: without it Twilio webhooks "
                "and media streams are not signature-checked and anyone can post calls. Set "
                "TWILIO_AUTH_TOKEN to the auth token of your Twilio account (Twilio Console, "
                "Account > API keys & tokens)."
            )
        risks.append(
            StartupRisk(
                "unsigned_twilio_webhooks",
                "TWILIO_AUTH_TOKEN is not set: Twilio webhooks and media streams for the "
                "platform's numbers are accepted without a signature, so anyone who can reach "
                "this server can post calls (and run up engine costs). Set TWILIO_AUTH_TOKEN; "
                "AYBIZA_ENV=production refuses to start without it.",
            )
        )
    return risks


def _environment(value: str | None) -> Environment:
    name = (value or "development").lower()
    if name == "production":
        return "production"
    if name == "development":
        return "development"
    raise ValueError(f"AYBIZA_ENV must be 'development' or 'production', got {value!r}")


def _aws_credentials_configured() -> bool:
    """Whether the AWS credential chain has something to find, without network calls: keys or
    a Bedrock bearer token in the environment, a profile, a shared credentials file, or a
    container/instance role endpoint."""
    if _env("AWS_ACCESS_KEY_ID") or _env("AWS_BEARER_TOKEN_BEDROCK") or _env("AWS_PROFILE"):
        return True
    if _env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or _env("AWS_WEB_IDENTITY_TOKEN_FILE"):
        return True
    credentials = Path(_env("AWS_SHARED_CREDENTIALS_FILE") or Path.home() / ".aws" / "credentials")
    return credentials.exists()

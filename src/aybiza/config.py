"""Process settings, read once from the environment (``AYBIZA_*`` and each vendor's usual names)."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Environment = Literal["development", "production"]
MIB = 1024 * 1024
KIB = 1024
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


DEFAULT_SIP_LISTEN = "udp:127.0.0.1:5060,tcp:127.0.0.1:5060"


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
    # A read replica of the database for configuration read at call admission (numbers,
    # agents, versions); unset: the primary (docs/scaling.md, "Cross-region data").
    database_read_url: str | None = None
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
    # Caller audio to the recogniser in batches (aybiza.pipeline.recognition_feed): how long a
    # frame may wait while the caller is quiet and while they speak (multiples of 20 ms).
    stt_batch_quiet_ms: int = 100
    stt_batch_speech_ms: int = 60
    log_level: str = "info"
    # Platform API (tenants, keys, webhooks, costs); see docs/api.md.
    secret_key: str | None = None
    # Field encryption at rest (docs/security.md): the master key that wraps the tenants' data
    # keys is the AWS KMS key ``kms_key_id`` when set (``kms_endpoint_url`` for VPC endpoints
    # and tests), else the key file ``master_key_file`` (default ``<data dir>/master.key``).
    master_key_file: Path | None = None
    kms_key_id: str | None = None
    kms_endpoint_url: str | None = None
    prices: str | None = None
    default_max_concurrent_calls: int = 10
    webhook_max_attempts: int = 8
    webhook_backoff_s: float = 2.0
    webhook_timeout_s: float = 10.0
    webhook_poll_s: float = 1.0
    hangup_poll_s: float = 1.0
    # Seconds between the campaign dispatcher's passes (a call ending wakes it sooner).
    campaign_poll_s: float = 1.0
    # Seconds between retention sweeps (docs/security.md, "Retention and erasure").
    retention_sweep_s: float = 3600.0
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
    # Set: each call's trace is exported to this OpenTelemetry collector (OTLP/HTTP).
    otel_exporter_otlp_endpoint: str | None = None
    # Set: rate limits are counted in this Redis, shared by every worker and server.
    redis_url: str | None = None
    rate_limit_prefix: str = "aybiza:rate:"
    # Native SIP (docs/sip.md): where SIP listens ("" turns it off; ``from_env`` defaults to
    # udp and tcp on 127.0.0.1:5060), its TLS certificate, the address put in Contact and SDP,
    # the RTP port range, and how long a gateway may stay silent before the next is tried.
    sip_listen: str = ""
    sip_tls_cert: str | None = None
    sip_tls_key: str | None = None
    sip_public_address: str | None = None
    rtp_ports: str = "20000-20999"
    sip_failover_s: float = 4.0
    sip_ring_timeout_s: float = 60.0
    sip_options_interval_s: float = 30.0
    rtp_timeout_s: float = 60.0
    # Multi-region (docs/edge.md): the region this server runs in, the live calls one server
    # process is meant to carry (``/readyz`` publishes live calls / capacity as its load), the
    # secret the edge workers and the server share, and where the edge takes pushed events.
    region: str | None = None
    capacity_calls: int = 100
    edge_secret: str | None = None
    edge_event_urls: tuple[str, ...] = ()
    # Call recordings (docs/recordings.md): ``s3://bucket/prefix`` or a directory (unset: the
    # data directory's ``recordings/``), and the S3 endpoint of S3-compatible storage.
    recordings_url: str | None = None
    recordings_endpoint_url: str | None = None

    @property
    def region_path(self) -> str:
        """``/regions/<region>`` when a region is set, else empty: the path prefix of the
        Twilio URLs that must come back to this region (a call's stream and callbacks)."""
        return f"/regions/{self.region}" if self.region else ""

    # People: sessions, sign-in lock-outs, passkeys, single sign-on, threat detection.
    access: AccessSettings = field(default_factory=lambda: AccessSettings())

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
            database_read_url=_env("AYBIZA_DATABASE_READ_URL"),
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
            stt_batch_quiet_ms=_hold_ms("AYBIZA_STT_BATCH_QUIET_MS", 100),
            stt_batch_speech_ms=_hold_ms("AYBIZA_STT_BATCH_SPEECH_MS", 60),
            log_level=(_env("AYBIZA_LOG_LEVEL") or "info").lower(),
            secret_key=_env("AYBIZA_SECRET_KEY"),
            master_key_file=_path(_env("AYBIZA_MASTER_KEY_FILE")),
            kms_key_id=_env("AYBIZA_KMS_KEY_ID"),
            kms_endpoint_url=_env("AYBIZA_KMS_ENDPOINT_URL"),
            prices=_env("AYBIZA_PRICES"),
            default_max_concurrent_calls=int(_env("AYBIZA_DEFAULT_MAX_CONCURRENT_CALLS") or 10),
            webhook_max_attempts=int(_env("AYBIZA_WEBHOOK_MAX_ATTEMPTS") or 8),
            webhook_backoff_s=float(_env("AYBIZA_WEBHOOK_BACKOFF_S") or 2.0),
            webhook_timeout_s=float(_env("AYBIZA_WEBHOOK_TIMEOUT_S") or 10.0),
            database_probe_s=float(_env("AYBIZA_DATABASE_PROBE_S") or 5.0),
            retention_sweep_s=float(_env("AYBIZA_RETENTION_SWEEP_S") or 3600.0),
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
            otel_exporter_otlp_endpoint=_env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            or _env("OTEL_EXPORTER_OTLP_ENDPOINT"),
            redis_url=_env("AYBIZA_REDIS_URL"),
            rate_limit_prefix=_env("AYBIZA_RATE_LIMIT_PREFIX") or "aybiza:rate:",
            # Set but empty turns SIP off; unset listens on loopback.
            sip_listen=os.environ.get("AYBIZA_SIP_LISTEN", DEFAULT_SIP_LISTEN).strip(),
            sip_tls_cert=_env("AYBIZA_SIP_TLS_CERT"),
            sip_tls_key=_env("AYBIZA_SIP_TLS_KEY"),
            sip_public_address=_env("AYBIZA_SIP_PUBLIC_ADDRESS"),
            rtp_ports=_env("AYBIZA_RTP_PORTS") or "20000-20999",
            sip_failover_s=float(_env("AYBIZA_SIP_FAILOVER_S") or 4.0),
            sip_ring_timeout_s=float(_env("AYBIZA_SIP_RING_TIMEOUT_S") or 60.0),
            sip_options_interval_s=float(_env("AYBIZA_SIP_OPTIONS_INTERVAL_S") or 30.0),
            rtp_timeout_s=float(_env("AYBIZA_RTP_TIMEOUT_S") or 60.0),
            region=region_name(_env("AYBIZA_REGION")),
            capacity_calls=capacity(_env("AYBIZA_CAPACITY_CALLS")),
            edge_secret=_env("AYBIZA_EDGE_SECRET"),
            edge_event_urls=edge_urls(_env("AYBIZA_EDGE_EVENT_URLS")),
            recordings_url=_env("AYBIZA_RECORDINGS_URL"),
            recordings_endpoint_url=_env("AYBIZA_RECORDINGS_ENDPOINT_URL")
            or _env("AWS_ENDPOINT_URL_S3")
            or _env("AWS_ENDPOINT_URL"),
            access=AccessSettings.from_env(),
        )


@dataclass(frozen=True, slots=True)
class AccessSettings:
    """How people sign in and what counts as an attack (docs/security.md, docs/configuration.md)."""

    # A session ends after this long without a request, and this long after sign-in at most.
    session_idle_s: float = 1800.0
    session_absolute_s: float = 43200.0
    invitation_ttl_s: float = 7 * 86400.0
    # Failed sign-ins (password or second factor) before an account, or an address, is locked;
    # the first lock lasts ``sign_in_lock_s`` and each further failure doubles it.
    sign_in_attempts: int = 5
    sign_in_address_attempts: int = 20
    sign_in_lock_s: float = 30.0
    sign_in_lock_max_s: float = 3600.0
    # ``denied_burst`` answers 401/403 to one address within ``denied_window_s``: an alert.
    denied_burst: int = 20
    denied_window_s: float = 60.0
    # WebAuthn relying party id (a domain); default: the host of AYBIZA_PUBLIC_URL or request.
    webauthn_rp_id: str | None = None
    # OpenID Connect single sign-on: on when the issuer and client id are set.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_scopes: str = "openid email profile"

    @classmethod
    def from_env(cls) -> AccessSettings:
        return cls(
            session_idle_s=float(_env("AYBIZA_SESSION_IDLE_S") or 1800.0),
            session_absolute_s=float(_env("AYBIZA_SESSION_ABSOLUTE_S") or 43200.0),
            invitation_ttl_s=float(_env("AYBIZA_INVITATION_TTL_S") or 7 * 86400.0),
            sign_in_attempts=int(_env("AYBIZA_SIGN_IN_ATTEMPTS") or 5),
            sign_in_address_attempts=int(_env("AYBIZA_SIGN_IN_ADDRESS_ATTEMPTS") or 20),
            sign_in_lock_s=float(_env("AYBIZA_SIGN_IN_LOCK_S") or 30.0),
            sign_in_lock_max_s=float(_env("AYBIZA_SIGN_IN_LOCK_MAX_S") or 3600.0),
            denied_burst=int(_env("AYBIZA_DENIED_BURST") or 20),
            denied_window_s=float(_env("AYBIZA_DENIED_WINDOW_S") or 60.0),
            webauthn_rp_id=_env("AYBIZA_WEBAUTHN_RP_ID"),
            oidc_issuer=_env("AYBIZA_OIDC_ISSUER"),
            oidc_client_id=_env("AYBIZA_OIDC_CLIENT_ID"),
            oidc_client_secret=_env("AYBIZA_OIDC_CLIENT_SECRET"),
            oidc_scopes=_env("AYBIZA_OIDC_SCOPES") or "openid email profile",
        )

    @property
    def oidc_enabled(self) -> bool:
        """Single sign-on is configured."""
        return bool(self.oidc_issuer and self.oidc_client_id)


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


REGION_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def region_name(value: str | None) -> str | None:
    """``AYBIZA_REGION``: lower-case letters, digits and '-' (``us-east-1``), at most 63."""
    if value is None:
        return None
    if not REGION_NAME.match(value):
        raise ValueError(
            f"AYBIZA_REGION must be lower-case letters, digits and '-' like us-east-1, "
            f"got {value!r}"
        )
    return value


def capacity(value: str | None) -> int:
    """``AYBIZA_CAPACITY_CALLS``: a whole number of calls, at least 1 (default 100)."""
    if value is None:
        return 100
    try:
        calls = int(value)
    except ValueError:
        calls = 0
    if calls < 1:
        raise ValueError(f"AYBIZA_CAPACITY_CALLS must be a whole number >= 1, got {value!r}")
    return calls


def edge_urls(value: str | None) -> tuple[str, ...]:
    """``AYBIZA_EDGE_EVENT_URLS``: comma-separated http(s) URLs the edge takes events at."""
    urls = tuple(entry.strip() for entry in (value or "").split(",") if entry.strip())
    for url in urls:
        if not url.lower().startswith(("https://", "http://")):
            raise ValueError(
                f"AYBIZA_EDGE_EVENT_URLS: {url!r} is not a URL; expected "
                "https://edge.example.com/_edge/events[,...]"
            )
    return urls


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


def _hold_ms(name: str, default: int) -> int:
    value = _env(name)
    if value is None:
        return default
    if not value.isdigit() or int(value) % 20 or int(value) > 1000:
        raise ValueError(f"{name} must be a multiple of 20 from 0 to 1000 (ms), got {value!r}")
    return int(value)


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


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

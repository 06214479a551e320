"""Process settings, read once from the environment (``AYBIZA_*`` and each vendor's usual names)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


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
    anthropic_api_key: str | None = None
    aws_region: str | None = None
    stt_decoders: int = 2
    log_level: str = "info"

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
            anthropic_api_key=_env("ANTHROPIC_API_KEY"),
            aws_region=_env("AWS_REGION") or _env("AWS_DEFAULT_REGION"),
            stt_decoders=int(_env("AYBIZA_STT_DECODERS") or 2),
            log_level=(_env("AYBIZA_LOG_LEVEL") or "info").lower(),
        )

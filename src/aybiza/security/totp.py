"""Time-based one-time passwords (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps) and
recovery codes.

A code is accepted in the step it was made for or one step either side (clock drift), and
only once: the caller remembers the last step used and passes it back. Recovery codes carry 80
random bits each, so a SHA-256 of them is safe to store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp

ISSUER = "AYBIZA"
DIGITS = 6
STEP_S = 30
RECOVERY_CODES = 10


def new_totp_secret() -> str:
    """A fresh shared secret: 160 random bits, base32 (what authenticator apps expect)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from a QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S).provisioning_uri(
        name=account, issuer_name=ISSUER
    )


def code_at(secret: str, at: datetime) -> str:
    """The code for the step containing ``at``."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S).at(at)


def matching_step(secret: str, code: str, at: datetime, last_step: int | None) -> int | None:
    """The step ``code`` belongs to (this one or one either side of ``at``), if it is valid
    and later than ``last_step``; None otherwise."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S)
    now_step = totp.timecode(at)
    for step in (now_step - 1, now_step, now_step + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """Fresh recovery codes, shown once: ``xxxx-xxxx-xxxx-xxxx`` (base32, 80 bits)."""
    codes = []
    for _ in range(count):
        raw = base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    return codes


def recovery_code_hash(code: str) -> str:
    """The stored form of a recovery code (spaces, dashes and case do not matter)."""
    normal = "".join(ch for ch in code.lower() if ch.isalnum())
    return hashlib.sha256(normal.encode("ascii", "ignore")).hexdigest()

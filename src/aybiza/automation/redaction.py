"""Secrets are never written to the tool-call and workflow records: values under sensitive keys
are replaced before anything is stored."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"
# A key is sensitive when one of its words is one of these ("X-Auth-Token", "cardNumber",
# "client_secret", "Authorization", "pin"), or its words run together contain a compound below
# ("api_key", "privateKey"). Words, not substrings: "shipping" and "author" stay visible.
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_SENSITIVE_WORDS = frozenset(
    {
        "password",
        "passwd",
        "passcode",
        "pass",
        "token",
        "secret",
        "authorization",
        "auth",
        "cookie",
        "card",
        "cvv",
        "cvc",
        "pin",
        "ssn",
        "signature",
        "credential",
        "credentials",
        "apikey",
        "otp",
    }
)
_SENSITIVE_COMPOUNDS = ("apikey", "privatekey", "accesskey", "secretkey", "creditcard")


def is_sensitive(key: str) -> bool:
    """True when values under ``key`` must not be stored."""
    words = [word.lower() for word in _WORDS.findall(key)]
    if any(word in _SENSITIVE_WORDS for word in words):
        return True
    joined = "".join(words)
    return any(compound in joined for compound in _SENSITIVE_COMPOUNDS)


def redact(value: Any) -> Any:
    """A copy of a JSON-like value with every sensitive key's value replaced by ``[redacted]``."""
    if isinstance(value, Mapping):
        return {
            str(key): REDACTED if is_sensitive(str(key)) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value

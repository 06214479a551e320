"""How audit events are written down and chained: canonical JSON, masking of secrets, the
hash that links each event to the one before, and the check that finds a broken link.

``hash = SHA-256(prev_hash || canonical JSON of the hashed fields)``, hex. Canonical JSON sorts
keys, has no spaces and keeps non-ASCII characters as they are; timestamps are ISO 8601 in UTC
with microseconds. The first event of a chain links to ``GENESIS``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

GENESIS = "0" * 64
MASK = "[masked]"
HASHED_FIELDS = (
    "chain",
    "seq",
    "tenant_id",
    "created_at",
    "action",
    "target_type",
    "target_id",
    "actor_kind",
    "actor_id",
    "actor_name",
    "actor_role",
    "source_address",
    "request",
    "before",
    "after",
    "details",
)
# A key naming a secret: any of these words in it (split at _ - . and case changes).
_SECRET_WORDS = frozenset(
    {"secret", "password", "passwd", "token", "sealed", "hash", "authorization", "cookie", "pin"}
)
_SECRET_NAMES = frozenset({"api_key", "apikey", "private_key", "x-api-key", "key"})
_WORD = re.compile(r"[A-Za-z][a-z0-9]*|[A-Z]+(?![a-z])")


def is_secret_name(name: str) -> bool:
    """True for a field whose value must not appear in the log (``secret_sealed``,
    ``Authorization``, ``password_hash``, ``api_key``), false for ``max_tokens``."""
    if name.lower() in _SECRET_NAMES:
        return True
    return any(word.lower() in _SECRET_WORDS for word in _WORD.findall(name))


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: timestamps as ISO 8601 (UTC), bytes as their length."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(item) for item in value]
        return sorted(items, key=canonical) if isinstance(value, set | frozenset) else items
    return str(value)


def masked(value: Any) -> Any:
    """``value`` (plain JSON) with every secret-named member replaced by ``[masked]`` (a
    missing secret stays null, so the log still shows whether one was set)."""
    if isinstance(value, dict):
        return {
            key: (MASK if item is not None else None) if is_secret_name(key) else masked(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


def canonical(value: Any) -> str:
    """The canonical JSON text of ``value``."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def hashed_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of an event the hash covers, as plain JSON."""
    return {name: jsonable(row.get(name)) for name in HASHED_FIELDS}


def chain_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """The hash of an event whose predecessor's hash is ``prev_hash``."""
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    digest.update(canonical(hashed_fields(row)).encode("utf-8"))
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """Something wrong in a chain: ``kind`` is ``edited``, ``missing`` or ``unlinked``."""

    chain: str
    seq: int
    kind: str
    message: str


@dataclass(slots=True)
class ChainCheck:
    """Walks one chain's events in ``seq`` order (fed a batch at a time), then its head."""

    chain: str
    expected_seq: int = 1
    prev_hash: str = GENESIS
    count: int = 0
    problems: list[ChainProblem] = field(default_factory=list)

    def feed(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Check the next events of the chain (ordered by ``seq``)."""
        for row in rows:
            seq = int(row["seq"])
            gap = seq != self.expected_seq
            if gap:
                self._problem(
                    self.expected_seq,
                    "missing",
                    f"events {self.expected_seq}..{seq - 1} are missing (deleted)",
                )
            elif row["prev_hash"] != self.prev_hash:
                self._problem(
                    seq, "unlinked", "does not link to the event before it (that one changed)"
                )
            if chain_hash(str(row["prev_hash"]), row) != row["hash"]:
                self._problem(seq, "edited", "its content does not match its hash (edited)")
            self.prev_hash, self.expected_seq = str(row["hash"]), seq + 1
            self.count += 1

    def finish(self, head_seq: int | None, head_hash: str | None) -> list[ChainProblem]:
        """Compare the last event with the chain's head; returns every problem found."""
        last = self.expected_seq - 1
        if head_seq is None:
            if last:
                self._problem(last, "unlinked", "the chain has no head record")
        elif head_seq > last:
            self._problem(last + 1, "missing", f"events {last + 1}..{head_seq} are missing")
        elif head_seq < last or head_hash != self.prev_hash:
            self._problem(last, "edited", "the last event does not match the chain's head")
        return self.problems

    def _problem(self, seq: int, kind: str, message: str) -> None:
        self.problems.append(ChainProblem(self.chain, seq, kind, message))

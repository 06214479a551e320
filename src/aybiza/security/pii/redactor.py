"""The redactor an agent's ``redaction`` block asks for: finds personal data of the chosen
categories in a line of a call and masks it or replaces it with the category's label."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aybiza.security.pii.cards import card_expiries, credit_cards, security_codes
from aybiza.security.pii.categories import (
    CATEGORIES,
    LABELS,
    RANK,
    Category,
    RedactionMode,
)
from aybiza.security.pii.credentials import passwords, pins
from aybiza.security.pii.identifiers import (
    bank_accounts,
    ibans,
    phone_numbers,
    social_security_numbers,
)
from aybiza.security.pii.personal import dates_of_birth, emails, street_addresses
from aybiza.security.pii.scan import Scan, Span

Detector = Callable[[Scan], Iterator[Span]]
DETECTORS: dict[Category, Detector] = {
    "credit_card": credit_cards,
    "card_expiry": card_expiries,
    "cvv": security_codes,
    "ssn": social_security_numbers,
    "phone_number": phone_numbers,
    "email": emails,
    "date_of_birth": dates_of_birth,
    "bank_account": bank_accounts,
    "iban": ibans,
    "address": street_addresses,
    "pin": pins,
    "password": passwords,
}
_REGION = re.compile(r"^[a-z]{2,3}(?:-[A-Z][a-z]{3})?-([A-Z]{2})$")
_MASKED = re.compile(r"\S")


@dataclass(frozen=True, slots=True)
class Finding:
    """Personal data of ``category`` at ``text[start:end]`` of the line scanned."""

    start: int
    end: int
    category: Category


class Redactor:
    """Redacts the ``categories`` from text: ``mask`` keeps the shape (digits become ``#``,
    other characters ``*``, spaces stay), ``replace_with_category`` puts ``[CREDIT_CARD]``
    and the like in place of each finding. ``region`` is the country whose national phone
    numbers are recognised (international ones always are). With no categories it changes
    nothing (``enabled`` is false). Pure and shared: one per agent version, any number of
    calls."""

    __slots__ = ("_detectors", "categories", "mode", "region")

    def __init__(
        self,
        categories: Iterable[Category] = (),
        mode: RedactionMode = "replace_with_category",
        region: str = "US",
    ) -> None:
        chosen = set(categories)
        unknown = chosen - set(CATEGORIES)
        if unknown:
            raise ValueError(
                f"unknown PII categories {sorted(unknown)}; expected some of {list(CATEGORIES)}"
            )
        self.categories: tuple[Category, ...] = tuple(sorted(chosen, key=RANK.__getitem__))
        self.mode: RedactionMode = mode
        self.region = region
        self._detectors = [(category, DETECTORS[category]) for category in self.categories]

    @property
    def enabled(self) -> bool:
        return bool(self.categories)

    def find(self, text: str, prompt: str = "") -> list[Finding]:
        """The findings in ``text``, in order, none overlapping (of two overlapping findings,
        the category earlier in ``PRIORITY`` wins). ``prompt`` is the agent's line the caller
        is answering: a short number after "What is your PIN?" is a PIN."""
        if not self._detectors or not text:
            return []
        scan = Scan(text, prompt, self.region)
        kept: list[tuple[int, int, Category]] = []
        for category, detector in self._detectors:
            for start, end in detector(scan):
                if not any(
                    start < other_end and other_start < end
                    for other_start, other_end in scan.claimed
                ):
                    kept.append((start, end, category))
                    scan.claimed.append((start, end))
        findings = []
        for start, end, category in sorted(kept):
            original_start, original_end = scan.normalised.original_span(start, end)
            findings.append(Finding(original_start, original_end, category))
        return findings

    def redact(self, text: str, prompt: str = "") -> str:
        """``text`` with every finding masked or replaced by its label."""
        findings = self.find(text, prompt)
        if not findings:
            return text
        pieces: list[str] = []
        cursor = 0
        for finding in findings:
            pieces.append(text[cursor : finding.start])
            pieces.append(self._replacement(text[finding.start : finding.end], finding.category))
            cursor = finding.end
        pieces.append(text[cursor:])
        return "".join(pieces)

    def redact_value(self, value: Any) -> Any:
        """A copy of a JSON-like value (tool arguments, analysis results) with every string
        in it redacted; keys are kept."""
        if not self.enabled:
            return value
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {key: self.redact_value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_value(item) for item in value]
        return value

    def _replacement(self, found: str, category: Category) -> str:
        if self.mode == "replace_with_category":
            return LABELS[category]
        return _MASKED.sub(lambda m: "#" if m.group().isdigit() else "*", found)


NO_REDACTION = Redactor()


def phone_region(language: str) -> str:
    """The country of a BCP 47 tag ("en-GB" -> "GB"); "US" when it names none."""
    match = _REGION.match(language)
    return match.group(1) if match else "US"

"""The kinds of personal data a redactor knows, the label each is replaced with, and the order in
which overlapping findings are settled."""

from __future__ import annotations

from typing import Literal, get_args

Category = Literal[
    "credit_card",
    "card_expiry",
    "cvv",
    "ssn",
    "phone_number",
    "email",
    "date_of_birth",
    "bank_account",
    "iban",
    "address",
    "pin",
    "password",
]
CATEGORIES: tuple[Category, ...] = get_args(Category)

# ``mask`` keeps the shape (digits become ``#``, other characters ``*``, spaces stay);
# ``replace_with_category`` puts the category's label in place of the whole finding.
RedactionMode = Literal["mask", "replace_with_category"]
MODES: tuple[RedactionMode, ...] = get_args(RedactionMode)

LABELS: dict[Category, str] = {category: f"[{category.upper()}]" for category in CATEGORIES}

# When two findings overlap, the one whose category comes first here is kept: a Luhn-valid card
# number is a card even when an account number cue precedes it, and a card's expiry is not a
# CVV because both are three or four digits.
PRIORITY: tuple[Category, ...] = (
    "email",
    "iban",
    "credit_card",
    "ssn",
    "phone_number",
    "bank_account",
    "date_of_birth",
    "card_expiry",
    "cvv",
    "pin",
    "address",
    "password",
)
RANK: dict[Category, int] = {category: rank for rank, category in enumerate(PRIORITY)}

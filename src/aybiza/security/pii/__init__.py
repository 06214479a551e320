"""Personal data in what callers say, found in written and spoken forms and redacted per agent
(``redaction.categories``, ``redaction.mode``): card numbers (Luhn), expiry and CVV, Social
Security numbers, phone numbers, email addresses, dates of birth, bank accounts and IBANs,
street addresses, PINs and passwords."""

from aybiza.security.pii.categories import CATEGORIES, LABELS, MODES, Category, RedactionMode
from aybiza.security.pii.redactor import NO_REDACTION, Finding, Redactor, phone_region

__all__ = [
    "CATEGORIES",
    "LABELS",
    "MODES",
    "NO_REDACTION",
    "Category",
    "Finding",
    "RedactionMode",
    "Redactor",
    "phone_region",
]

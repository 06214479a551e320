"""Workflow templates and conditions, and what is redacted from every record."""

from __future__ import annotations

from typing import Any

import pytest

from aybiza.automation.redaction import redact
from aybiza.automation.workflows.spec import Condition
from aybiza.automation.workflows.templates import holds, lookup, render

CONTEXT: dict[str, Any] = {
    "call": {"id": "c1", "from": "+15551230001"},
    "steps": {"facts": {"fields": {"party": 4, "day": None, "tags": ["vip", "late"]}}},
}


def test_a_lone_placeholder_keeps_the_value_and_text_placeholders_become_text() -> None:
    template = {
        "party": "{{ steps.facts.fields.party }}",
        "line": "Call {{call.id}} from {{call.from}} for {{steps.facts.fields.party}}",
        "tags": "{{steps.facts.fields.tags}}",
        "text_tags": "tags: {{steps.facts.fields.tags}}",
        "missing": "{{steps.nothing.here}}",
        "list": ["{{call.id}}", 3],
    }
    assert render(template, CONTEXT) == {
        "party": 4,
        "line": "Call c1 from +15551230001 for 4",
        "tags": ["vip", "late"],
        "text_tags": 'tags: ["vip","late"]',
        "missing": None,
        "list": ["c1", 3],
    }
    assert lookup(CONTEXT, "steps.facts.fields.tags.1") == "late"


@pytest.mark.parametrize(
    ("path", "op", "value", "expected"),
    [
        ("steps.facts.fields.party", "gte", 4, True),
        ("steps.facts.fields.party", "lt", 4, False),
        ("steps.facts.fields.party", "gt", "3", False),  # mismatched types are false
        ("steps.facts.fields.day", "exists", None, False),
        ("call.id", "exists", None, True),
        ("steps.facts.fields.tags", "contains", "vip", True),
        ("call.from", "contains", "555", True),
        ("call.id", "in", ["c1", "c2"], True),
        ("call.id", "ne", "c1", False),
        ("steps.facts.fields.day", "falsy", None, True),
        ("nothing", "truthy", None, False),
    ],
)
def test_conditions(path: str, op: str, value: Any, expected: bool) -> None:
    condition = Condition.model_validate({"path": path, "op": op, "value": value})
    assert holds(condition, CONTEXT) is expected


def test_secrets_are_redacted_by_key_at_any_depth_but_ordinary_words_stay() -> None:
    value = {
        "password": "hunter2",
        "X-Auth-Token": "t",
        "payment": {"cardNumber": "4111", "cvv": "123", "amount": 10},
        "items": [{"api_key": "k", "shipping": "ground", "author": "me"}],
        "usage_tokens": 42,
    }
    assert redact(value) == {
        "password": "[redacted]",
        "X-Auth-Token": "[redacted]",
        "payment": {"cardNumber": "[redacted]", "cvv": "[redacted]", "amount": 10},
        "items": [{"api_key": "[redacted]", "shipping": "ground", "author": "me"}],
        "usage_tokens": 42,
    }

"""The agent's ``redaction`` block: off by default, the categories and mode it names give the
call's redactor and the recogniser's options, and every mistake names its field."""

from __future__ import annotations

from typing import Any

import pytest

from aybiza.agents import AgentConfigError
from aybiza.agents.schema import validate_agent_config
from aybiza.security.pii import CATEGORIES


def agent(**overrides: Any) -> dict[str, Any]:
    return {"name": "Desk", "system_prompt": "Help.", **overrides}


def problems(data: object) -> list[tuple[str, str]]:
    with pytest.raises(AgentConfigError) as caught:
        validate_agent_config(data)
    return [(error.path, error.message) for error in caught.value.errors]


def test_redaction_is_off_unless_categories_are_named() -> None:
    config = validate_agent_config(agent())
    assert config.redaction.categories == []
    assert config.redaction.mode == "replace_with_category" and config.redaction.stt is True
    assert not config.redactor().enabled
    assert config.stt_options().redact == ()


def test_the_block_gives_the_call_s_redactor_and_the_recogniser_s_options() -> None:
    config = validate_agent_config(
        agent(
            language={"primary": "en-GB"},
            redaction={"categories": ["credit_card", "email", "phone_number"], "mode": "mask"},
        )
    )
    redactor = config.redactor()
    assert redactor.mode == "mask" and redactor.region == "GB"
    assert redactor.redact("it's jo@example.com") == "it's **************"
    assert config.stt_options().redact == ("credit_card", "email", "phone_number")
    every = validate_agent_config(agent(redaction={"categories": list(CATEGORIES), "stt": False}))
    assert every.redactor().categories and every.stt_options().redact == ()


@pytest.mark.parametrize(
    ("redaction", "path", "words"),
    [
        ({"categories": ["credit_card", "blood_type"]}, "redaction.categories.1", "'email'"),
        ({"categories": ["email", "email"]}, "redaction.categories", "more than once"),
        ({"categories": "email"}, "redaction.categories", "list"),
        ({"mode": "hash"}, "redaction.mode", "'mask' or 'replace_with_category'"),
        ({"stt": "yes please"}, "redaction.stt", "boolean"),
        ({"category": ["email"]}, "redaction.category", "unknown field"),
    ],
)
def test_mistakes_are_reported_with_their_field(
    redaction: dict[str, Any], path: str, words: str
) -> None:
    [(where, message)] = problems(agent(redaction=redaction))
    assert where == path
    assert words in message


def test_a_redaction_block_that_is_not_an_object_is_named() -> None:
    [(where, _message)] = problems(agent(redaction=["email"]))
    assert where == "redaction"

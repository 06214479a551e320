"""Cloud adapters tell the model the caller's language and send Claude well-formed turns."""

from __future__ import annotations

from aybiza.providers.base import Message, ToolCall, ToolResult
from aybiza.providers.llm.prompting import (
    CALL_CONNECTED,
    claude_turns,
    language_instruction,
    system_prompt,
)


def test_english_calls_get_no_language_line() -> None:
    for language in ("en-US", "en-GB", "en", ""):
        assert language_instruction(language) is None
    assert system_prompt("Be brief.", "en-US") == "Be brief."


def test_other_languages_get_one_line_naming_the_language() -> None:
    assert language_instruction("es-ES") == "Answer in Spanish (es-ES)."
    assert language_instruction("pt_BR") == "Answer in Portuguese (pt-BR)."
    assert language_instruction("sw-KE") == "Answer in the language with BCP 47 tag sw-KE."
    assert system_prompt("Be brief.", "fr-CA") == "Be brief.\n\nAnswer in French (fr-CA)."
    assert system_prompt("", "de-DE") == "Answer in German (de-DE)."


def test_an_opening_greeting_gets_a_call_connected_user_turn_first() -> None:
    turns = claude_turns([Message("assistant", "Hello!"), Message("user", "Hi")])
    assert [(turn.role, turn.text) for turn in turns] == [
        ("user", CALL_CONNECTED),
        ("assistant", "Hello!"),
        ("user", "Hi"),
    ]


def test_empty_messages_are_dropped_and_same_role_neighbours_merged() -> None:
    call = ToolCall("t1", "lookup", {"q": "x"})
    result = ToolResult("t1", {"ok": True})
    turns = claude_turns(
        [
            Message("user", "Hi"),
            Message("user", "   "),
            Message("user", "Anyone there?"),
            Message("assistant", "Let me check.", [call]),
            Message("user", "", tool_results=[result]),
            Message("user", "Thanks"),
        ]
    )
    assert turns == [
        Message("user", "Hi\nAnyone there?"),
        Message("assistant", "Let me check.", [call]),
        Message("user", "Thanks", tool_results=[result]),
    ]

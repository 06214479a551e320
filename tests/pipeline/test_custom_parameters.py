"""A call's custom parameters (a SIP INVITE's X- headers) reach the model's system prompt."""

from __future__ import annotations

from aybiza.services.call_plan import with_parameters


def test_parameters_are_appended_to_the_prompt_in_name_order() -> None:
    prompt = with_parameters("You help callers.", {"X-Queue": "sales", "X-Account-Id": "4242"})
    assert prompt.startswith("You help callers.\n\n")
    assert prompt.endswith("- X-Account-Id: 4242\n- X-Queue: sales")


def test_no_parameters_leave_the_prompt_as_it_is() -> None:
    assert with_parameters("You help callers.", {}) == "You help callers."

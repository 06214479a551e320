"""The demo agent: ACME support, answering on the Twilio test number with no cloud accounts.

Its ``flow`` runs on the embedded flow engine; its ``system_prompt`` serves the same calls when a
cloud model is configured. Every branch keyword is drawn from ``speech.expected_phrases``, so an
embedded recogniser constrained to those phrases hears exactly what the flow can branch on.
"""

from __future__ import annotations

from typing import Any

from aybiza.agents.schema import AgentConfig, validate_agent_config

# Twilio's magic test number for an available, valid "from" number.
DEMO_PHONE_NUMBER = "+15005550006"
# Where "speak to a person" is transferred (another Twilio test number).
DEMO_TRANSFER_NUMBER = "+15005550009"
# Said when the booking tool failed: nothing was booked.
NOT_BOOKED = (
    "Sorry, I could not book that appointment just now, so nothing is booked. You can call "
    "again later, or say speak to a person."
)
# Said when the tenant has no booking tool (a fresh install): nothing was booked.
NO_BOOKING_SYSTEM = (
    "Sorry, I could not book that, because no booking system is connected to this line yet. "
    "Nothing is booked. You can say speak to a person."
)

_SYSTEM_PROMPT = (
    "You are the phone support agent for ACME. You can book appointments, tell callers the "
    "opening hours (Monday to Friday, nine to five, closed at weekends) and transfer them to "
    f"a person at {DEMO_TRANSFER_NUMBER} with the transfer_call tool. To book, ask which day "
    "and time suits the caller, then confirm it back to them. You are speaking on the phone: "
    "answer in one or two short sentences, never use lists, markdown or symbols, and spell "
    "out numbers and times as words. When the caller has nothing else to ask, thank them for "
    "calling ACME, say goodbye and use the end_call tool."
)

_ANYTHING_ELSE_BRANCHES: list[dict[str, Any]] = [
    {
        "intent": "book",
        "keywords": ["book an appointment", "book"],
        "digits": ["1"],
        "next": "ask_time",
    },
    {"intent": "hours", "keywords": ["opening hours", "hours"], "digits": ["2"], "next": "hours"},
    {
        "intent": "person",
        "keywords": ["speak to a person", "person"],
        "digits": ["0"],
        "next": "person",
    },
    {
        "intent": "goodbye",
        "keywords": ["goodbye", "no", "no thank you", "that is all"],
        "next": "goodbye",
    },
    {"intent": "more", "keywords": ["yes"], "next": "more"},
]

_FLOW: dict[str, Any] = {
    "start": "main",
    "nodes": {
        # No prompt: the greeting has already asked "How can I help you today?".
        "main": {
            "type": "listen",
            "branches": [
                {
                    "intent": "book",
                    "keywords": ["book an appointment", "book", "appointment"],
                    "digits": ["1"],
                    "next": "ask_time",
                },
                {
                    "intent": "hours",
                    "keywords": ["opening hours", "hours", "opening"],
                    "digits": ["2"],
                    "next": "hours",
                },
                {
                    "intent": "person",
                    "keywords": ["speak to a person", "person", "speak"],
                    "digits": ["0"],
                    "next": "person",
                },
                {
                    "intent": "goodbye",
                    "keywords": ["goodbye", "no thank you", "that is all"],
                    "next": "goodbye",
                },
            ],
            "fallback": {
                "text": "Sorry, I did not catch that. You can say book an appointment, opening "
                "hours, or speak to a person. Or press 1, 2 or 0."
            },
            "max_retries": 2,
            # A caller the menu cannot understand is better served by a person than a loop.
            "on_max_retries": "person",
        },
        "ask_time": {
            "type": "listen",
            "prompt": "What day and time would suit you?",
            "capture": "when",
            "branches": [
                {
                    "intent": "time",
                    "keywords": [
                        "today",
                        "tomorrow",
                        "morning",
                        "afternoon",
                        "monday",
                        "tuesday",
                        "wednesday",
                        "thursday",
                        "friday",
                    ],
                    "next": "book",
                }
            ],
            "fallback": {
                "text": "Sorry, which day and time would suit you? For example, tomorrow morning."
            },
            "max_retries": 2,
            "on_max_retries": "person",
        },
        # The booking goes to the tenant's ``book_appointment`` HTTP tool. The flow waits for
        # its outcome: only a booking that worked is confirmed and texted (built-in
        # ``send_sms``); a failed or missing booking tool is owned up to.
        "book": {
            "type": "tool",
            "tool": "book_appointment",
            "arguments": {"when": "{{when}}"},
            "next": "booked",
            "on_error": "not_booked",
            "on_missing": "no_booking_system",
        },
        "booked": {
            "type": "say",
            "text": "You are booked for {{when}}.",
            "next": "confirm_by_text",
        },
        "confirm_by_text": {
            "type": "tool",
            "tool": "send_sms",
            "arguments": {"body": "ACME: you are booked for {{when}}. Call us to change it."},
            "next": "anything_else",
        },
        "not_booked": {"type": "say", "text": NOT_BOOKED, "next": "anything_else"},
        "no_booking_system": {"type": "say", "text": NO_BOOKING_SYSTEM, "next": "anything_else"},
        "hours": {
            "type": "say",
            "text": "We are open Monday to Friday, nine to five, and closed at weekends.",
            "next": "anything_else",
        },
        "more": {"type": "say", "text": "Sure. What else can I help with?", "next": "main"},
        "anything_else": {
            "type": "listen",
            "prompt": "Is there anything else I can help with?",
            "branches": _ANYTHING_ELSE_BRANCHES,
            "fallback": {
                "text": "Sorry, I did not catch that. Is there anything else I can help with? "
                "You can say yes or no."
            },
            "max_retries": 1,
            "on_max_retries": "goodbye",
        },
        "person": {
            "type": "transfer",
            "text": "Connecting you to a person now.",
            "to": DEMO_TRANSFER_NUMBER,
        },
        "goodbye": {"type": "end", "text": "Thank you for calling ACME. Goodbye!"},
    },
}

_EXPECTED_PHRASES = [
    "i would like to book an appointment",
    "book an appointment",
    "tomorrow morning",
    "tomorrow afternoon",
    "today",
    "this afternoon",
    "next monday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "what are your opening hours",
    "opening hours",
    "i want to speak to a person",
    "speak to a person",
    "goodbye",
    "no thank you",
    "yes",
    "no",
    "that is all",
]

DEMO_AGENT: dict[str, Any] = {
    "name": "ACME Support (demo)",
    "version": "1.0.0",
    "system_prompt": _SYSTEM_PROMPT,
    "voice": {
        "model": "aura-2-thalia-en",
        "style": "calm_informative",
        "natural_speech": True,
        "emotion_control": "moderate",
    },
    "language": {"primary": "en-US", "auto_detect": False, "supported": ["en-US"]},
    "greeting": "Hello, thank you for calling ACME support. How can I help you today?",
    "automation": {
        "tools_enabled": True,
        "max_tool_calls": 3,
        "async_workflows": True,
        "tools": ["book_appointment", "send_sms"],
    },
    "analysis": {"fields": {"when": "the day and time the caller booked"}},
    "parameters": {
        "max_response_time": 1500,
        "interruption_threshold": 0.5,
        "context_window": 8000,
        "temperature": 0.3,
        "max_call_duration_s": 600,
    },
    "phone_integration": {"type": "twilio", "region": "us-east-1"},
    "speech": {"expected_phrases": _EXPECTED_PHRASES, "keyterms": ["ACME"]},
    "flow": _FLOW,
}
"""The demo agent as seed-shaped JSON (a plain dict, ready to post to the API or store)."""


def demo_agent_config() -> AgentConfig:
    """The demo agent, validated."""
    return validate_agent_config(DEMO_AGENT)

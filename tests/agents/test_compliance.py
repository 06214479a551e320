"""What a tenant's compliance mode does to an agent's configuration."""

from __future__ import annotations

from aybiza.agents.compliance import compliance_problems, compliant_config
from aybiza.agents.schema import validate_agent_config
from aybiza.security.pii import CATEGORIES

AGENT = {"name": "Clinic", "system_prompt": "You book appointments."}


def test_hipaa_redacts_every_category_and_asks_the_recogniser_to_redact_too() -> None:
    config = validate_agent_config({**AGENT, "redaction": {"categories": ["email"], "stt": False}})
    hipaa = compliant_config(config, "hipaa")
    assert set(hipaa.redaction.categories) == set(CATEGORIES)
    assert hipaa.redaction.stt is True
    assert hipaa.redactor().redact("write to ada@example.org") == "write to [EMAIL]"
    assert hipaa.redactor().redact("my date of birth is 04/07/1961") != (
        "my date of birth is 04/07/1961"
    )


def test_pci_adds_the_card_categories_and_keeps_the_agents_own() -> None:
    config = validate_agent_config({**AGENT, "redaction": {"categories": ["email"]}})
    pci = compliant_config(config, "pci")
    assert pci.redaction.categories == ["email", "credit_card", "card_expiry", "cvv"]


def test_no_mode_changes_nothing() -> None:
    config = validate_agent_config(AGENT)
    assert compliant_config(config, "none") is config
    assert compliance_problems(config, "none") == []


def test_hipaa_needs_bedrock_named_explicitly() -> None:
    for engine in ("auto", "flow", "anthropic", "openai"):
        config = validate_agent_config({**AGENT, "engines": {"llm": engine}})
        [problem] = compliance_problems(config, "hipaa")
        assert problem.path == "engines.llm" and problem.received == engine
    bedrock = validate_agent_config({**AGENT, "engines": {"llm": "bedrock"}})
    assert compliance_problems(bedrock, "hipaa") == []
    assert compliance_problems(validate_agent_config(AGENT), "pci") == []


def test_hipaa_turns_recording_off_whatever_the_agent_says() -> None:
    config = validate_agent_config({**AGENT, "recording": {"enabled": True}})
    assert compliant_config(config, "hipaa").recording.enabled is False
    assert compliant_config(config, "pci").recording.enabled is True
    assert config.recording.enabled is True

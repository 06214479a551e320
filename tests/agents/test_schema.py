"""Agent configuration: the seed's example validates, defaults are documented values, and every
mistake is reported with the path the author wrote."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from aybiza.agents import AgentConfig, AgentConfigError, FieldError, FlowSpec
from aybiza.agents.flow_spec import ToolNode
from aybiza.agents.schema import ParametersConfig, validate_agent_config

# The seed's "Enhanced Agent Configuration Example", verbatim but for its `// ...` comment
# (and one trailing space, insignificant in JSON, that the linter rejects).
SEED_EXAMPLE = """
{
  "name": "Customer Support Agent",
  "version": "2.1.0",
  "system_prompt": "You are a helpful customer support agent for ACME Corp...",
  "voice": {
    "model": "aura-asteria-en",
    "style": "calm_informative",
    "natural_speech": true,
    "emotion_control": "moderate"
  },
  "language": {
    "primary": "en-US",
    "auto_detect": true,
    "supported": ["en-US", "es-ES", "fr-FR"]
  },
  "greeting": "Hello, thank you for calling ACME support. How can I help you today?",
  "models": {
    "default": "claude-3-5-sonnet-v2",
    "fast": "claude-3-5-haiku",
    "complex": "claude-3-7-sonnet"
  },
  "automation": {
    "tools_enabled": true,
    "max_tool_calls": 5,
    "async_workflows": true
  },
  "parameters": {
    "max_response_time": 1500,
    "interruption_threshold": 0.7,
    "context_window": 32000,
    "temperature": 0.3
  },
  "phone_integration": {
    "type": "managed",
    "region": "us-east-1",
    "fallback_region": "us-west-2"
  }
}
"""

SMALL_FLOW: dict[str, Any] = {
    "start": "main",
    "nodes": {
        "main": {
            "type": "listen",
            "capture": "when",
            "branches": [{"keywords": ["book"], "next": "done"}],
        },
        "done": {"type": "end", "text": "Booked for {{when}}."},
    },
}


def errors_of(data: object) -> list[FieldError]:
    with pytest.raises(AgentConfigError) as caught:
        validate_agent_config(data)
    return caught.value.errors


def paths_of(data: object) -> list[str]:
    return [error.path for error in errors_of(data)]


def agent(**overrides: Any) -> dict[str, Any]:
    return {"name": "Test agent", "system_prompt": "Be helpful.", **overrides}


def test_seed_example_validates_unchanged_from_json_text() -> None:
    config = validate_agent_config(SEED_EXAMPLE)

    assert config.name == "Customer Support Agent"
    assert config.version == "2.1.0"
    assert config.voice.model == "aura-asteria-en"
    assert config.voice.emotion_control == "moderate"
    assert config.language.supported == ["en-US", "es-ES", "fr-FR"]
    assert config.models.complex == "claude-3-7-sonnet"
    assert config.automation.async_workflows is True
    assert config.parameters.interruption_threshold == 0.7
    assert config.parameters.context_window == 32000
    assert config.phone_integration.type == "managed"
    assert config.phone_integration.fallback_region == "us-west-2"
    assert config.flow is None


def test_seed_example_validates_as_parsed_dict() -> None:
    assert validate_agent_config(json.loads(SEED_EXAMPLE)).name == "Customer Support Agent"


def test_minimal_prompt_agent_gets_documented_defaults() -> None:
    config = validate_agent_config({"name": "Minimal", "system_prompt": "Be brief."})

    assert config.version == "1.0.0"
    assert config.greeting == ""
    assert config.language.primary == "en-US"
    assert config.language.supported == ["en-US"]
    assert config.phone_integration.type == "twilio"
    params = config.parameters
    assert (params.max_response_time, params.interruption_threshold) == (1500, 0.5)
    assert (params.context_window, params.temperature, params.max_tokens) == (32000, 0.3, 300)
    assert params.max_call_duration_s == 1800
    assert params.end_of_turn_silence_ms == 500
    assert params.filler_phrases == ["One moment."]
    assert config.speech.endpointing_ms == 300
    assert config.speech.expected_phrases == []
    assert {"uh-huh", "yeah", "okay", "mm-hmm", "right", "sure"} <= set(
        config.speech.backchannel_phrases
    )
    assert (config.engines.stt, config.engines.tts, config.engines.llm) == ("auto",) * 3


def test_minimal_flow_agent_needs_no_system_prompt() -> None:
    config = validate_agent_config({"name": "Flow only", "flow": SMALL_FLOW})

    assert config.system_prompt == ""
    assert isinstance(config.flow, FlowSpec)
    assert config.flow.start == "main"


def test_supported_languages_default_to_the_primary_language() -> None:
    config = validate_agent_config(agent(language={"primary": "es-ES"}))
    assert config.language.supported == ["es-ES"]


@pytest.mark.parametrize("prompt", ["", "   "])
def test_agent_without_prompt_or_flow_is_rejected_naming_both(prompt: str) -> None:
    errors = errors_of({"name": "Nothing to say", "system_prompt": prompt})

    assert len(errors) == 1
    assert errors[0].path == "system_prompt"
    assert "system_prompt" in errors[0].message and "flow" in errors[0].message


def test_unknown_top_level_key_is_rejected_with_its_name() -> None:
    errors = errors_of(agent(greting="Hi"))

    assert [e.path for e in errors] == ["greting"]
    assert errors[0].received == "Hi"
    assert "unknown field" in errors[0].message


def test_unknown_nested_key_is_rejected_with_its_path() -> None:
    assert paths_of(agent(voice={"modle": "aura-2-thalia-en"})) == ["voice.modle"]


def test_out_of_range_temperature_names_field_and_value() -> None:
    errors = errors_of(agent(parameters={"temperature": 1.5}))

    assert errors == [
        FieldError("parameters.temperature", "Input should be less than or equal to 1", 1.5)
    ]


def test_missing_name_is_reported_without_a_received_value() -> None:
    errors = errors_of({"system_prompt": "Be helpful."})

    assert [(e.path, e.received) for e in errors] == [("name", None)]


def test_list_items_are_named_by_index() -> None:
    errors = errors_of(agent(language={"primary": "en-US", "supported": ["en-US", "english"]}))

    assert [e.path for e in errors] == ["language.supported.1"]
    assert "BCP 47" in errors[0].message
    assert errors[0].received == "english"


def test_supported_languages_must_include_primary() -> None:
    errors = errors_of(agent(language={"primary": "fr-FR", "supported": ["en-US"]}))

    assert [e.path for e in errors] == ["language.supported"]
    assert "fr-FR" in errors[0].message


@pytest.mark.parametrize("version", ["2.1", "v2.1.0", "2.1.0.4", "01.2.3"])
def test_version_must_be_semver(version: str) -> None:
    errors = errors_of(agent(version=version))

    assert [e.path for e in errors] == ["version"]
    assert "semantic version" in errors[0].message


@pytest.mark.parametrize("version", ["0.1.0", "2.1.0-beta.1", "1.0.0+build.7"])
def test_semver_prerelease_and_build_versions_are_accepted(version: str) -> None:
    assert validate_agent_config(agent(version=version)).version == version


def test_every_error_is_collected_and_listed_in_the_message() -> None:
    data = agent(
        version="two",
        voice={"model": ""},
        phone_integration={"type": "pstn"},
        engines={"llm": "gpt"},
    )
    with pytest.raises(AgentConfigError) as caught:
        validate_agent_config(data)

    paths = [e.path for e in caught.value.errors]
    assert paths == ["version", "voice.model", "phone_integration.type", "engines.llm"]
    text = str(caught.value)
    for error in caught.value.errors:
        assert f"{error.path}: {error.message}" in text
    assert "(received 'pstn')" in text


def test_fallback_region_must_differ_from_region() -> None:
    data = agent(phone_integration={"region": "eu-west-1", "fallback_region": "eu-west-1"})
    assert paths_of(data) == ["phone_integration.fallback_region"]


def test_invalid_json_text_is_an_agent_config_error() -> None:
    errors = errors_of('{"name": "x", ')
    assert errors[0].path == ""
    assert "JSON" in errors[0].message


def test_non_object_document_is_rejected() -> None:
    assert paths_of(["not", "an", "agent"]) == [""]


@pytest.mark.parametrize(("threshold", "expected_ms"), [(0.0, 150), (0.7, 500), (1.0, 650)])
def test_min_interruption_speech_grows_with_threshold(threshold: float, expected_ms: int) -> None:
    params = ParametersConfig(interruption_threshold=threshold)
    assert params.min_voice_ms == expected_ms


def test_config_is_immutable() -> None:
    config = validate_agent_config(agent())
    with pytest.raises(ValidationError):
        config.name = "Renamed"  # type: ignore[misc]


def test_engine_options_carry_speech_and_voice_settings() -> None:
    config = validate_agent_config(
        agent(
            language={"primary": "es-ES"},
            voice={"model": "aura-2-celeste-es"},
            speech={"expected_phrases": ["sí", "no"], "keyterms": ["ACME"], "endpointing_ms": 450},
        )
    )

    stt = config.stt_options()
    assert (stt.language, stt.expected_phrases, stt.keyterms) == ("es-ES", ("sí", "no"), ("ACME",))
    assert stt.endpointing_ms == 450
    voice = config.voice_options()
    assert (voice.model, voice.language) == ("aura-2-celeste-es", "es-ES")


# ---------------------------------------------------------------- flow validation


def flow_agent(nodes: dict[str, Any], start: str = "main") -> dict[str, Any]:
    return {"name": "Flow agent", "flow": {"start": start, "nodes": nodes}}


def test_branch_to_unknown_node_names_the_branch_field() -> None:
    nodes = {"main": {"type": "listen", "branches": [{"keywords": ["book"], "next": "bok"}]}}
    errors = errors_of(flow_agent(nodes))

    assert [e.path for e in errors] == ["flow.nodes.main.branches.0.next"]
    assert errors[0].received == "bok"
    assert "'bok'" in errors[0].message and "main" in errors[0].message


def test_every_dangling_reference_is_reported() -> None:
    nodes = {
        "main": {
            "type": "listen",
            "branches": [{"keywords": ["hi"], "next": "main"}],
            "fallback": {"next": "nowhere"},
            "on_max_retries": "gone",
        },
        "intro": {"type": "say", "text": "Hello.", "next": "missing"},
    }
    assert paths_of(flow_agent(nodes, start="begin")) == [
        "flow.start",
        "flow.nodes.main.fallback.next",
        "flow.nodes.main.on_max_retries",
        "flow.nodes.intro.next",
    ]


def test_missing_node_field_path_omits_the_node_type() -> None:
    nodes = {"main": {"type": "say", "text": "Hello."}}
    assert paths_of(flow_agent(nodes)) == ["flow.nodes.main.next"]


def test_unknown_node_type_is_reported_at_the_node() -> None:
    errors = errors_of(flow_agent({"main": {"type": "hangup"}}))

    assert [e.path for e in errors] == ["flow.nodes.main"]
    assert "hangup" in errors[0].message


def test_flow_needs_at_least_one_node() -> None:
    assert paths_of(flow_agent({})) == ["flow.nodes"]


def test_listen_node_needs_a_branch() -> None:
    assert paths_of(flow_agent({"main": {"type": "listen", "branches": []}})) == [
        "flow.nodes.main.branches"
    ]


def test_node_ids_may_not_contain_dots() -> None:
    nodes = {"main.menu": {"type": "end"}}
    assert paths_of(flow_agent(nodes, start="main")) == ["flow.nodes.main.menu", "flow.start"]


def test_say_loop_that_never_listens_is_rejected_once() -> None:
    nodes = {
        "main": {"type": "say", "text": "One.", "next": "again"},
        "again": {"type": "tool", "tool": "log", "next": "main"},
    }
    errors = errors_of(flow_agent(nodes))

    assert [e.path for e in errors] == ["flow.nodes.main.next"]
    assert "main -> again -> main" in errors[0].message


def test_placeholder_must_name_a_captured_slot() -> None:
    nodes = {
        "main": {"type": "listen", "capture": "when", "branches": [{"next": "done"}]},
        "done": {"type": "end", "text": "Booked for {{wen}}."},
    }
    errors = errors_of(flow_agent(nodes))

    assert [e.path for e in errors] == ["flow.nodes.done.text"]
    assert "wen" in errors[0].message and "when" in errors[0].message


def test_tool_argument_placeholders_are_checked_too() -> None:
    nodes = {
        "main": {"type": "listen", "branches": [{"next": "book"}]},
        "book": {"type": "tool", "tool": "book", "arguments": {"at": ["{{when}}"]}, "next": "main"},
    }
    assert paths_of(flow_agent(nodes)) == ["flow.nodes.book.arguments.at.0"]


@pytest.mark.parametrize("target", ["5550009", "+0123456789", "tel:+15005550009", "sip:"])
def test_transfer_target_must_be_e164_or_sip(target: str) -> None:
    nodes = {"main": {"type": "transfer", "to": target}}
    assert paths_of(flow_agent(nodes)) == ["flow.nodes.main.to"]


@pytest.mark.parametrize("target", ["+15005550009", "sip:support@pbx.example.com"])
def test_transfer_accepts_e164_and_sip_uris(target: str) -> None:
    assert validate_agent_config(flow_agent({"main": {"type": "transfer", "to": target}}))


def test_bad_dtmf_digits_are_reported_by_index() -> None:
    nodes = {"main": {"type": "listen", "branches": [{"digits": ["1", "one"], "next": "main"}]}}
    assert paths_of(flow_agent(nodes)) == ["flow.nodes.main.branches.0.digits.1"]


def test_keywords_are_normalised_to_lower_case_single_spaced() -> None:
    nodes = {
        "main": {"type": "listen", "branches": [{"keywords": [" Book  NOW "], "next": "main"}]}
    }
    config = validate_agent_config(flow_agent(nodes))

    assert config.flow is not None
    main = config.flow.nodes["main"]
    assert main.type == "listen"
    assert main.branches[0].keywords == ["book now"]


def test_flow_spec_validated_alone_raises_pydantic_error_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        FlowSpec.model_validate({"start": "nope", "nodes": {"main": {"type": "end"}}})
    assert "start: no node named 'nope'" in str(caught.value)


def test_already_validated_config_passes_through() -> None:
    config = validate_agent_config(agent())
    assert isinstance(validate_agent_config(config), AgentConfig)


@pytest.mark.parametrize("tool", ["end_call", "transfer_call"])
def test_tool_nodes_may_not_use_call_control_tools(tool: str) -> None:
    nodes = {
        "main": {"type": "tool", "tool": tool, "next": "wait"},
        "wait": {"type": "listen", "branches": [{"next": "main"}]},
    }
    errors = errors_of(flow_agent(nodes))

    assert [e.path for e in errors] == ["flow.nodes.main.tool"]
    assert "transfer or end node" in errors[0].message


def outcome_flow(**book: str) -> dict[str, Any]:
    """A flow whose ``book`` tool node has the given outcome branches."""
    return flow_agent(
        {
            "main": {"type": "listen", "branches": [{"next": "book"}]},
            "book": {"type": "tool", "tool": "book", "next": "main", **book},
            "sorry": {"type": "say", "text": "Sorry.", "next": "main"},
        }
    )


def test_item17_tool_outcome_branches_must_name_existing_nodes() -> None:
    errors = errors_of(outcome_flow(on_error="sory", on_missing="nowhere"))

    assert [e.path for e in errors] == ["flow.nodes.book.on_error", "flow.nodes.book.on_missing"]
    assert errors[0].received == "sory"
    assert "no node named 'sory'" in errors[0].message and "sorry" in errors[0].message


def test_tool_outcome_branches_validate_and_are_followed_in_order() -> None:
    config = validate_agent_config(outcome_flow(on_error="sorry"))
    assert config.flow is not None
    book = config.flow.nodes["book"]
    assert isinstance(book, ToolNode) and book.waits_for_outcome
    assert [book.after(kind) for kind in ("ok", "error", "missing")] == ["main", "sorry", "sorry"]


def test_a_loop_through_a_tool_nodes_error_branch_is_rejected() -> None:
    # Retrying a failing tool without asking the caller would call it forever in one turn.
    nodes = {
        "main": {"type": "listen", "branches": [{"next": "book"}]},
        "book": {"type": "tool", "tool": "book", "next": "main", "on_error": "retry"},
        "retry": {"type": "say", "text": "Let me try again.", "next": "book"},
    }
    errors = errors_of(flow_agent(nodes))

    assert [e.path for e in errors] == ["flow.nodes.book.on_error"]
    assert "book -> retry -> book" in errors[0].message


def test_the_voicemail_block_defaults_to_off_and_names_bad_fields() -> None:
    base = {"name": "Reminders", "system_prompt": "Remind callers of appointments."}
    assert validate_agent_config(base).voicemail.detection == "off"
    screening = validate_agent_config(
        base | {"voicemail": {"detection": "local", "action": "leave_message", "message": "Hi."}}
    )
    assert (screening.voicemail.action, screening.voicemail.message) == ("leave_message", "Hi.")
    with pytest.raises(AgentConfigError) as missing:
        validate_agent_config(base | {"voicemail": {"action": "leave_message"}})
    assert [(e.path, e.message) for e in missing.value.errors] == [
        ("voicemail.message", "required when action is leave_message")
    ]
    with pytest.raises(AgentConfigError) as wrong:
        validate_agent_config(
            base | {"voicemail": {"detection": "twilio", "max_wait_for_beep_s": 0, "beep": 1}}
        )
    paths = sorted(e.path for e in wrong.value.errors)
    assert paths == ["voicemail.beep", "voicemail.detection", "voicemail.max_wait_for_beep_s"]


def test_the_carrier_detection_tuning_is_checked_in_twilio_s_ranges() -> None:
    base = {"name": "Reminders", "system_prompt": "Remind callers of appointments."}
    tuning = {
        "machine_detection_timeout_s": 45,
        "machine_detection_speech_threshold_ms": 3000,
        "machine_detection_speech_end_threshold_ms": 800,
        "machine_detection_silence_timeout_ms": 4000,
    }
    carrier = validate_agent_config(base | {"voicemail": {"detection": "carrier", **tuning}})
    assert carrier.voicemail.carrier_tuning() == tuning
    edges = {
        "machine_detection_timeout_s": (3, 59),
        "machine_detection_speech_threshold_ms": (1000, 6000),
        "machine_detection_speech_end_threshold_ms": (500, 5000),
        "machine_detection_silence_timeout_ms": (2000, 10000),
    }
    for name, (low, high) in edges.items():
        for good in (low, high):
            validate_agent_config(base | {"voicemail": {"detection": "carrier", name: good}})
        for bad in (low - 1, high + 1):
            with pytest.raises(AgentConfigError) as refused:
                validate_agent_config(base | {"voicemail": {"detection": "carrier", name: bad}})
            assert [e.path for e in refused.value.errors] == [f"voicemail.{name}"]
    with pytest.raises(AgentConfigError) as unused:
        validate_agent_config(
            base | {"voicemail": {"detection": "local", "machine_detection_timeout_s": 20}}
        )
    assert [(e.path, e.message) for e in unused.value.errors] == [
        ("voicemail.machine_detection_timeout_s", "only used when detection is carrier")
    ]

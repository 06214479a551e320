"""One table of turn-taking defaults: the schema, the call plan, the policies and the docs all
agree with ``aybiza.agents.defaults``."""

from __future__ import annotations

from pathlib import Path

from aybiza.agents import defaults
from aybiza.agents.demo import demo_agent_config
from aybiza.agents.schema import validate_agent_config
from aybiza.pipeline.interruption import InterruptionPolicy
from aybiza.pipeline.plan import CallPlan
from aybiza.providers.base import LlmRequest
from aybiza.providers.engines import Engines
from aybiza.providers.llm.flow import FlowEngine
from aybiza.providers.stt.pocketsphinx import PocketsphinxStt
from aybiza.providers.tts.espeak import EspeakTts
from aybiza.services.call_plan import build_plan

DOCS = Path(__file__).resolve().parents[2] / "docs" / "agents.md"
MINIMAL = {"name": "Desk", "system_prompt": "Help."}


def test_an_agent_that_sets_nothing_gets_the_table_s_defaults_in_its_call_plan() -> None:
    config = validate_agent_config(MINIMAL)
    flow = demo_agent_config().flow
    assert flow is not None
    engines = Engines(stt=PocketsphinxStt(), tts=EspeakTts(), llm=FlowEngine(flow))
    plan = build_plan(config, engines, call_id="c", call_sid="CA1", agent_key="a@1")
    bare = CallPlan(
        call_id="c",
        call_sid="CA1",
        agent_key="a@1",
        greeting="",
        system_prompt="",
        model="m",
        temperature=defaults.TEMPERATURE,
        max_tokens=defaults.MAX_TOKENS,
        context_window=defaults.CONTEXT_WINDOW_TOKENS,
        language="en-US",
        voice=plan.voice,
        stt=plan.stt,
    )
    for name in (
        "end_of_turn_silence_ms",
        "interruption",
        "max_response_ms",
        "filler_phrases",
        "max_call_duration_s",
        "max_tool_calls",
        "max_tokens",
        "temperature",
        "context_window",
    ):
        assert getattr(plan, name) == getattr(bare, name), name
    assert plan.interruption == InterruptionPolicy()
    assert plan.interruption.min_voice_ms == defaults.MIN_VOICE_MS == 400
    assert len(plan.interruption.backchannels) == len(defaults.BACKCHANNEL_PHRASES) == 10
    assert plan.stt.endpointing_ms == defaults.ENDPOINTING_MS
    assert LlmRequest(system="", messages=()).max_tokens == defaults.MAX_TOKENS == 300


def test_docs_agents_md_prints_the_table_the_code_uses() -> None:
    text = DOCS.read_text(encoding="utf-8")
    start = text.index("<!-- defaults:start -->") + len("<!-- defaults:start -->")
    end = text.index("<!-- defaults:end -->")
    assert text[start:end].strip() == defaults.markdown_table()

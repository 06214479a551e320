"""Who screens a call for answering machines: only outbound calls; the carrier only where it
has detection (Twilio), else the call loop."""

from __future__ import annotations

from typing import Any

from aybiza.agents.demo import demo_agent_config
from aybiza.agents.schema import validate_agent_config
from aybiza.pipeline.plan import CallPlan, VoicemailPlan
from aybiza.providers.engines import Engines
from aybiza.providers.llm.flow import FlowEngine
from aybiza.providers.stt.pocketsphinx import PocketsphinxStt
from aybiza.providers.tts.espeak import EspeakTts
from aybiza.services.call_plan import build_plan


def _plan(voicemail: dict[str, Any], outbound_carrier: str | None) -> CallPlan:
    config = validate_agent_config(
        {"name": "Desk", "system_prompt": "Help.", "voicemail": voicemail}
    )
    flow = demo_agent_config().flow
    assert flow is not None
    engines = Engines(stt=PocketsphinxStt(), tts=EspeakTts(), llm=FlowEngine(flow))
    return build_plan(
        config,
        engines,
        call_id="c",
        call_sid="CA1",
        agent_key="a@1",
        outbound_carrier=outbound_carrier,
    )


def test_only_outbound_calls_of_a_screening_agent_are_screened() -> None:
    leave = {"detection": "local", "action": "leave_message", "message": "Call us back."}
    assert _plan(leave, None).voicemail is None
    assert _plan({"detection": "off"}, "sip").voicemail is None
    assert _plan(leave, "sip").voicemail == VoicemailPlan(
        detection="local",
        action="leave_message",
        message="Call us back.",
        max_wait_for_beep_ms=30000,
    )


def test_carrier_detection_is_twilio_s_and_other_carriers_listen_themselves() -> None:
    carrier = {"detection": "carrier", "action": "hang_up", "max_wait_for_beep_s": 12}
    twilio, sip = _plan(carrier, "twilio").voicemail, _plan(carrier, "sip").voicemail
    assert twilio is not None and twilio.detection == "carrier"
    assert twilio.max_wait_for_beep_ms == 12000
    assert sip is not None and sip.detection == "local" and sip.action == "hang_up"

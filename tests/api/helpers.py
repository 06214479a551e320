"""Request helpers shared by the API tests."""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import httpx

from aybiza.agents.demo import DEMO_AGENT


def new_e164() -> str:
    """A random number in the 555 range, unique enough for a test session."""
    return "+1555" + "".join(secrets.choice("0123456789") for _ in range(7))


def agent_body(name: str = "Support bot", **changes: Any) -> dict[str, Any]:
    """A small valid agent (a system prompt is enough for the API)."""
    return {"name": name, "system_prompt": "You help callers.", **changes}


def demo_agent_body(**changes: Any) -> dict[str, Any]:
    """The demo agent (its flow runs on the embedded engines, so calls to it really talk)."""
    return {**DEMO_AGENT, **changes}


def create_agent(http: httpx.Client, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = http.post("/v1/agents", json=body or agent_body())
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def create_number(http: httpx.Client, agent_id: str, **fields: Any) -> dict[str, Any]:
    body = {"number": new_e164(), "type": "twilio", "agent_id": agent_id, **fields}
    response = http.post("/v1/phone-numbers", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@dataclass(frozen=True)
class Answer:
    """What the incoming-call webhook answered."""

    call_sid: str
    twiml: str

    @property
    def root(self) -> ET.Element:
        return ET.fromstring(self.twiml)

    @property
    def streams(self) -> bool:
        return self.root.find("./Connect/Stream") is not None

    def parameter(self, name: str) -> str | None:
        for element in self.root.iter("Parameter"):
            if element.get("name") == name:
                return element.get("value")
        return None

    @property
    def said(self) -> list[str]:
        return [(say.text or "").strip() for say in self.root.iter("Say")]

    @property
    def dialled(self) -> list[str]:
        return [(n.text or "").strip() for n in self.root.iter("Number")] + [
            (n.text or "").strip() for n in self.root.iter("Sip")
        ]


def ring(twilio: httpx.Client, to: str, *, from_: str = "+15558675310") -> Answer:
    """POST the incoming-call webhook as Twilio would (the test server checks no signature);
    ``twilio`` is a client of the server without an API key."""
    call_sid = "CA" + secrets.token_hex(16)
    form = {"CallSid": call_sid, "From": from_, "To": to, "Direction": "inbound"}
    response = twilio.post("/twilio/voice", data=form)
    assert response.status_code == 200, response.text
    return Answer(call_sid=call_sid, twiml=response.text)

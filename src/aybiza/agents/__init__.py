"""Agent configuration: the validated agent JSON, its conversation flow and the demo agent."""

from aybiza.agents.demo import DEMO_AGENT, DEMO_PHONE_NUMBER, demo_agent_config
from aybiza.agents.errors import AgentConfigError, FieldError
from aybiza.agents.flow_spec import FlowSpec
from aybiza.agents.schema import AgentConfig, validate_agent_config

__all__ = [
    "DEMO_AGENT",
    "DEMO_PHONE_NUMBER",
    "AgentConfig",
    "AgentConfigError",
    "FieldError",
    "FlowSpec",
    "demo_agent_config",
    "validate_agent_config",
]

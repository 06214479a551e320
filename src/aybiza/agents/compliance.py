"""What a tenant's compliance mode does to its agents (docs/security.md, "Compliance modes").

``hipaa``: calls are not recorded, every category of personal data is redacted from everything
stored and sent (so transcripts are kept only redacted), the recogniser is asked to redact too,
and the
conversation engine must be Claude on Amazon Bedrock (covered by AWS's BAA), named
explicitly: ``auto`` could fall back to another. ``pci``: digits the caller keys in are
masked wherever they would reach the model, a record or a log, and card numbers spoken are
redacted. ``none`` changes nothing.
"""

from __future__ import annotations

from typing import Literal, get_args

from aybiza.agents.errors import FieldError
from aybiza.agents.schema import AgentConfig
from aybiza.security.pii import CATEGORIES, Category

ComplianceMode = Literal["none", "hipaa", "pci"]
COMPLIANCE_MODES: tuple[ComplianceMode, ...] = get_args(ComplianceMode)
HIPAA_ENGINE = "bedrock"
_PCI_CATEGORIES: tuple[Category, ...] = ("credit_card", "card_expiry", "cvv")


def compliance_problems(config: AgentConfig, mode: str) -> list[FieldError]:
    """Why an agent cannot run under ``mode`` (empty: it can)."""
    if mode == "hipaa" and config.engines.llm != HIPAA_ENGINE:
        message = (
            "the tenant's compliance mode is hipaa: the conversation engine must be "
            f"{HIPAA_ENGINE!r} (Claude on Amazon Bedrock), named explicitly"
        )
        return [FieldError("engines.llm", message, config.engines.llm)]
    return []


def compliant_config(config: AgentConfig, mode: str) -> AgentConfig:
    """``config`` as a call of a tenant in ``mode`` runs it: redaction widened as the mode
    requires (never narrowed); under ``hipaa`` the call is not recorded, whatever the agent's
    ``recording`` says."""
    wanted: tuple[Category, ...] = ()
    if mode == "hipaa":
        wanted = CATEGORIES
    elif mode == "pci":
        wanted = _PCI_CATEGORIES
    missing = [category for category in wanted if category not in config.redaction.categories]
    changes: dict[str, object] = {}
    if missing:
        changes["redaction"] = config.redaction.model_copy(
            update={"categories": [*config.redaction.categories, *missing], "stt": True}
        )
    if mode == "hipaa" and config.recording.enabled:
        changes["recording"] = config.recording.model_copy(update={"enabled": False})
    return config.model_copy(update=changes) if changes else config

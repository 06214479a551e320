"""Claude model names: the short names agents use, mapped to Bedrock and Anthropic API ids.

Agents name a model by a short name (``claude-3-7-sonnet``); each engine needs its own id::

    short name            Bedrock base id                             Anthropic API id
    claude-3-7-sonnet     anthropic.claude-3-7-sonnet-20250219-v1:0   claude-3-7-sonnet-20250219
    claude-3-5-sonnet-v2  anthropic.claude-3-5-sonnet-20241022-v2:0   claude-3-5-sonnet-20241022
    claude-3-5-sonnet     anthropic.claude-3-5-sonnet-20240620-v1:0   claude-3-5-sonnet-20240620
    claude-3-5-haiku      anthropic.claude-3-5-haiku-20241022-v1:0    claude-3-5-haiku-20241022
    claude-3-haiku        anthropic.claude-3-haiku-20240307-v1:0      claude-3-haiku-20240307

Bedrock refuses a base ``anthropic.*`` id with on-demand throughput ("Retry your request with the
ID or ARN of an inference profile"), so a base id is turned into the cross-region inference
profile of the engine's region::

    region    profile prefix   example
    us-*      us.              us.anthropic.claude-3-7-sonnet-20250219-v1:0
    eu-*      eu.              eu.anthropic.claude-3-7-sonnet-20250219-v1:0
    ap-*      apac.            apac.anthropic.claude-3-haiku-20240307-v1:0

Ids that already name a profile (``us.anthropic...``), ARNs and other vendors' ids pass through
unchanged, as does a base id in a region with no profile prefix here (Bedrock then says why).
Either engine also accepts the other engine's ids for the same model, so an agent's ``model``
keeps working when it moves between Bedrock and the Anthropic API.
"""

from __future__ import annotations

# The seed's default model: what an agent gets when it names none.
DEFAULT_MODEL = "claude-3-7-sonnet"

BEDROCK_BASE_IDS: dict[str, str] = {
    "claude-3-7-sonnet": "anthropic.claude-3-7-sonnet-20250219-v1:0",
    "claude-3-5-sonnet-v2": "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "claude-3-5-sonnet": "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "claude-3-5-haiku": "anthropic.claude-3-5-haiku-20241022-v1:0",
    "claude-3-haiku": "anthropic.claude-3-haiku-20240307-v1:0",
}

ANTHROPIC_API_IDS: dict[str, str] = {
    "claude-3-7-sonnet": "claude-3-7-sonnet-20250219",
    "claude-3-5-sonnet-v2": "claude-3-5-sonnet-20241022",
    "claude-3-5-sonnet": "claude-3-5-sonnet-20240620",
    "claude-3-5-haiku": "claude-3-5-haiku-20241022",
    "claude-3-haiku": "claude-3-haiku-20240307",
}

# Region prefix -> inference-profile prefix.
_PROFILE_PREFIXES: tuple[tuple[str, str], ...] = (("us-", "us."), ("eu-", "eu."), ("ap-", "apac."))

# Any engine's id for a model -> its short name.
_SHORT_NAMES: dict[str, str] = {
    **{model_id: short for short, model_id in BEDROCK_BASE_IDS.items()},
    **{model_id: short for short, model_id in ANTHROPIC_API_IDS.items()},
}


def inference_profile_prefix(region: str) -> str | None:
    """The cross-region inference-profile prefix for ``region`` (``us.``), or None if unknown."""
    for region_prefix, profile_prefix in _PROFILE_PREFIXES:
        if region.startswith(region_prefix):
            return profile_prefix
    return None


def bedrock_model_id(name: str, region: str) -> str:
    """The Bedrock ``modelId`` for ``name`` (a short name, base id, profile id or ARN).

    An empty name means ``DEFAULT_MODEL``; short names and base ``anthropic.*`` ids become the
    region's inference profile.
    """
    name = name.strip() or DEFAULT_MODEL
    short = _SHORT_NAMES.get(name, name)
    model_id = BEDROCK_BASE_IDS.get(short, name)
    if not model_id.startswith("anthropic."):
        return model_id
    prefix = inference_profile_prefix(region)
    return model_id if prefix is None else prefix + model_id


def anthropic_model_id(name: str) -> str:
    """The Anthropic API model id for ``name`` (a short name, an API id or a Bedrock id).

    An empty name means ``DEFAULT_MODEL``; names this table does not know pass through, so new
    models work without a code change.
    """
    name = name.strip() or DEFAULT_MODEL
    if name.startswith("arn:"):
        return name
    # A Bedrock profile id is its base id behind a region prefix (``us.anthropic.``).
    _, dot, rest = name.partition(".anthropic.")
    base = "anthropic." + rest if dot else name
    short = _SHORT_NAMES.get(base, base)
    return ANTHROPIC_API_IDS.get(short, name)

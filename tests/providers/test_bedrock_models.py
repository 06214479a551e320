"""Short model names become each engine's id; Bedrock base ids become inference profiles."""

from __future__ import annotations

from aybiza.providers.llm.bedrock_models import anthropic_model_id, bedrock_model_id


def test_seed_short_names_map_to_the_regions_inference_profile() -> None:
    assert bedrock_model_id("claude-3-7-sonnet", "us-east-1") == (
        "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
    )
    assert bedrock_model_id("claude-3-5-sonnet-v2", "us-west-2") == (
        "us.anthropic.claude-3-5-sonnet-20241022-v2:0"
    )
    assert bedrock_model_id("claude-3-5-sonnet", "eu-central-1") == (
        "eu.anthropic.claude-3-5-sonnet-20240620-v1:0"
    )
    assert bedrock_model_id("claude-3-haiku", "ap-northeast-1") == (
        "apac.anthropic.claude-3-haiku-20240307-v1:0"
    )
    assert bedrock_model_id("anthropic.claude-3-5-haiku-20241022-v1:0", "eu-west-1") == (
        "eu.anthropic.claude-3-5-haiku-20241022-v1:0"
    )
    assert bedrock_model_id("claude-3-7-sonnet-20250219", "us-east-1") == (
        "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
    )


def test_profiles_arns_and_other_vendors_ids_pass_through() -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.x-v1:0"
    for model_id in ("eu.anthropic.claude-3-haiku-20240307-v1:0", arn, "amazon.nova-pro-v1:0"):
        assert bedrock_model_id(model_id, "us-east-1") == model_id


def test_anthropic_api_names_for_the_same_short_names() -> None:
    assert anthropic_model_id("claude-3-7-sonnet") == "claude-3-7-sonnet-20250219"
    assert anthropic_model_id("claude-3-5-sonnet-v2") == "claude-3-5-sonnet-20241022"
    assert anthropic_model_id("us.anthropic.claude-3-5-haiku-20241022-v1:0") == (
        "claude-3-5-haiku-20241022"
    )
    assert anthropic_model_id("") == "claude-3-7-sonnet-20250219"
    assert anthropic_model_id("claude-sonnet-9") == "claude-sonnet-9"


def test_an_empty_name_is_the_default_model_and_unknown_regions_keep_the_base_id() -> None:
    assert bedrock_model_id("", "us-east-2") == "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
    assert bedrock_model_id("claude-3-haiku", "ca-central-1") == (
        "anthropic.claude-3-haiku-20240307-v1:0"
    )

from aybiza.conversation.routing import ModelRouter

ROUTER = ModelRouter(default="sonnet-v2", fast="haiku", complex="sonnet-3-7")


def test_short_factual_turns_go_to_the_fast_model() -> None:
    choice = ROUTER.choose("what are your opening hours")
    assert (choice.tier, choice.model) == ("fast", "haiku")
    assert choice.models == ("haiku", "sonnet-v2", "sonnet-3-7")
    assert ROUTER.choose("DTMF 1").tier == "fast"


def test_reasoning_cues_and_long_turns_go_to_the_complex_model() -> None:
    assert ROUTER.choose("why was I charged twice").tier == "complex"
    assert ROUTER.choose("can you explain the difference between the plans").tier == "complex"
    long_turn = " ".join(["word"] * 30)
    choice = ROUTER.choose(long_turn)
    assert (choice.tier, choice.model) == ("complex", "sonnet-3-7")
    assert "30 words" in choice.reason


def test_turns_after_a_tool_call_go_to_the_complex_model() -> None:
    choice = ROUTER.choose("yes", after_tool_use=True)
    assert choice.tier == "complex"
    assert choice.reason == "follows a tool call"


def test_ordinary_turns_use_the_default_and_fall_back_to_the_others() -> None:
    choice = ROUTER.choose("I would like to move my appointment to next week please")
    assert choice.tier == "default"
    assert choice.models == ("sonnet-v2", "haiku", "sonnet-3-7")


def test_duplicate_models_are_tried_once() -> None:
    router = ModelRouter(default="m", fast="m", complex="big")
    assert router.choose("hello").models == ("m", "big")

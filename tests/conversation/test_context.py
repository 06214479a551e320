from aybiza.conversation.context import estimate_tokens, merge_roles, trim_to_window
from aybiza.providers.base import Message


def conversation(turns: int, words: int = 50) -> list[Message]:
    messages: list[Message] = []
    for i in range(turns):
        messages.append(Message("user", f"question {i} " + "word " * words))
        messages.append(Message("assistant", f"answer {i} " + "word " * words))
    return messages


def test_everything_is_kept_when_it_fits() -> None:
    messages = conversation(3)
    assert trim_to_window(messages, system="sys", context_window=10_000, reserve_tokens=100) == (
        messages
    )


def test_oldest_turns_go_first_and_the_result_starts_with_the_caller() -> None:
    messages = conversation(20)
    kept = trim_to_window(messages, system="s" * 400, context_window=1000, reserve_tokens=200)
    assert kept, "the newest turn always stays"
    assert kept[0].role == "user"
    assert kept[-1] is messages[-1]
    assert "question 0 " not in " ".join(m.text for m in kept)
    budget = 1000 - estimate_tokens("s" * 400) - 200
    assert sum(estimate_tokens(m.text) + 4 for m in kept) <= budget


def test_a_larger_system_prompt_leaves_room_for_fewer_turns() -> None:
    messages = conversation(20)
    short = trim_to_window(messages, system="", context_window=2000, reserve_tokens=100)
    long = trim_to_window(messages, system="x" * 4000, context_window=2000, reserve_tokens=100)
    assert len(long) < len(short)


def test_neighbouring_caller_utterances_are_merged() -> None:
    merged = merge_roles(
        [Message("user", "hello"), Message("user", "are you there"), Message("assistant", "yes")]
    )
    assert [(m.role, m.text) for m in merged] == [
        ("user", "hello are you there"),
        ("assistant", "yes"),
    ]

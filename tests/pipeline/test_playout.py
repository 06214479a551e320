from aybiza.pipeline.playout import Playout, Utterance


class RecordingTransport:
    """Stands in for the carrier socket: records what the playout sends."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, object]] = []

    async def send_media(self, mulaw: bytes) -> None:
        self.sent.append(("media", len(mulaw)))

    async def send_mark(self, name: str) -> None:
        self.sent.append(("mark", name))

    async def send_clear(self) -> None:
        self.sent.append(("clear", None))

    async def send_digits(self, digits: str) -> bool:
        return False

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.sent.append(("close", code))


async def speak(
    playout: Playout, sentences: list[str], chunks: int = 2
) -> tuple[Utterance, list[str]]:
    utterance = playout.start_utterance()
    for text in sentences:
        index = playout.add_sentence(utterance, text)
        for _ in range(chunks):
            await playout.send(utterance, index, b"\xff" * 800)
        playout.finish_sentence(utterance, index)
    sent = playout._transport.sent  # type: ignore[attr-defined]
    return utterance, [name for kind, name in sent if kind == "mark"]


async def test_every_chunk_is_followed_by_its_mark() -> None:
    transport = RecordingTransport()
    playout = Playout(transport)
    _, marks = await speak(playout, ["One sentence."])
    assert [kind for kind, _ in transport.sent] == ["media", "mark", "media", "mark"]
    assert len(set(marks)) == 2
    assert playout.speaking


async def test_all_marks_echoed_means_everything_was_heard() -> None:
    playout = Playout(RecordingTransport())
    utterance, utterance_marks = await speak(playout, ["First one here.", "Second one here."])
    for name in utterance_marks:
        assert playout.on_mark(name)
    assert not playout.speaking
    assert utterance.heard_text() == "First one here. Second one here."


async def test_marks_echoed_after_clear_do_not_count_as_heard() -> None:
    transport = RecordingTransport()
    playout = Playout(transport)
    utterance, marks = await speak(playout, ["First one here.", "Second one here."])
    playout.on_mark(marks[0])
    playout.on_mark(marks[1])
    await playout.clear()
    assert transport.sent[-1] == ("clear", None)
    # Twilio echoes the pending marks after a clear: they must be ignored.
    assert not playout.on_mark(marks[2])
    assert not playout.on_mark(marks[3])
    assert utterance.heard_text() == "First one here."
    assert not playout.speaking


async def test_a_partly_heard_sentence_keeps_its_first_words() -> None:
    playout = Playout(RecordingTransport())
    utterance, marks = await speak(playout, ["one two three four five six"], chunks=2)
    playout.on_mark(marks[0])
    await playout.clear()
    assert utterance.heard_text() == "one two three..."


async def test_unknown_marks_are_ignored() -> None:
    playout = Playout(RecordingTransport())
    assert not playout.on_mark("not-ours")

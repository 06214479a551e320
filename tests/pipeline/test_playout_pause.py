"""``Playout.pause``/``resume``: the caller stops hearing the agent at once, and the answer
goes on from where it stopped, with no byte heard twice."""

from __future__ import annotations

from aybiza.pipeline.playout import Playout
from aybiza.telephony.memory.connection import MemoryMedia


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Echoes:
    """The carrier's mark echoes, delivered to the playout."""

    def __init__(self, playout: Playout) -> None:
        self._playout = playout

    def on_mark(self, name: str) -> None:
        self._playout.on_mark(name)


def tone(seed: int, size: int) -> bytes:
    return bytes((seed * 31 + i) % 251 for i in range(size))


async def test_pause_keeps_what_was_not_heard_and_resume_plays_it_once() -> None:
    clock, media = Clock(), MemoryMedia()
    playout = Playout(media, clock)
    media.listener = Echoes(playout)
    utterance = playout.start_utterance()
    index = playout.add_sentence(utterance, "one two three four")
    audio = tone(1, 8000) + tone(2, 8000)
    await playout.send(utterance, index, audio[:8000])
    await playout.send(utterance, index, audio[8000:])
    playout.finish_sentence(utterance, index)
    clock.now += 1.0
    media.play(1000)  # the first second: its mark comes back
    clock.now += 0.25
    media.play(250)  # a quarter of the second chunk
    assert await playout.pause()
    assert media.clears == 1 and playout.paused and playout.speaking
    # Audio synthesized while paused is held, not sent.
    more = playout.add_sentence(utterance, "five")
    await playout.send(utterance, more, tone(3, 800))
    assert media.queued_ms == 0
    await playout.resume()
    assert not playout.paused
    media.play()
    assert bytes(media.heard) == audio + tone(3, 800)
    playout.finish_sentence(utterance, more)
    assert utterance.heard_text() == "one two three four five"
    assert not playout.speaking


async def test_clear_after_a_pause_drops_the_held_audio_without_a_second_clear() -> None:
    clock, media = Clock(), MemoryMedia()
    playout = Playout(media, clock)
    media.listener = Echoes(playout)
    utterance = playout.start_utterance()
    index = playout.add_sentence(utterance, "one two three four")
    await playout.send(utterance, index, tone(1, 8000))
    playout.finish_sentence(utterance, index)
    clock.now += 0.5
    media.play(500)
    await playout.pause()
    await playout.clear()
    assert media.clears == 1
    assert not playout.speaking
    await playout.wait_drained()
    assert utterance.heard_text() == "one two..."


async def test_pause_with_nothing_playing_does_nothing() -> None:
    media = MemoryMedia()
    playout = Playout(media)
    assert not await playout.pause()
    assert media.clears == 0

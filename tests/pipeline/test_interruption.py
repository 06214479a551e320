from aybiza.pipeline.interruption import InterruptionPolicy

POLICY = InterruptionPolicy.from_phrases(500, ["uh-huh", "yeah", "okay", "mm-hmm", "right"])


def test_backchannels_never_interrupt() -> None:
    for text in ("uh-huh", "Yeah.", "okay okay", "mm-hmm, right"):
        assert POLICY.is_backchannel(text)
        assert not POLICY.interrupts(2000, text)
        assert not POLICY.final_interrupts(text)


def test_real_words_interrupt_after_the_minimum_speech() -> None:
    assert not POLICY.interrupts(480, "wait I have a question")
    assert POLICY.interrupts(500, "wait I have a question")
    assert POLICY.interrupts(600, "yeah but what about Monday")


def test_without_text_twice_the_minimum_is_needed() -> None:
    assert not POLICY.interrupts(900, "")
    assert POLICY.interrupts(1000, "")


def test_a_short_final_with_real_words_interrupts() -> None:
    assert POLICY.final_interrupts("no")
    assert not POLICY.final_interrupts("   ")

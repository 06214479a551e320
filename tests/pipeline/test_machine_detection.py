from tests.pipeline.callee_audio import (
    frames,
    human_greeting,
    machine_greeting,
    noise,
    silence,
    spoken,
    tone,
)

from aybiza.pipeline.machine_detection import (
    Detection,
    DetectionSettings,
    MachineDetector,
    MessageEndDetector,
)


def detect(audio: bytes, settings: DetectionSettings | None = None) -> Detection | None:
    detector = MachineDetector(settings)
    for frame in frames(audio):
        decision = detector.feed(frame)
        if decision is not None:
            return decision
    return None


def test_a_short_hello_then_silence_is_a_human() -> None:
    decision = detect(human_greeting())
    assert decision is not None and decision.answered_by == "human"
    # Decided once the hello is followed by the after-greeting silence, not at the window end.
    assert decision.at_ms < 2500


def test_a_long_recorded_greeting_is_a_machine_before_its_end() -> None:
    decision = detect(machine_greeting())
    assert decision is not None and decision.answered_by == "machine"
    assert "greeting longer" in decision.reason
    assert decision.at_ms < 3500


def test_a_beep_alone_is_a_machine_that_is_ready_for_the_message() -> None:
    decision = detect(silence(500) + tone(1400, 400) + silence(1000))
    assert decision is not None and decision.answered_by == "machine" and decision.beep
    assert "1400 Hz" in decision.reason


def test_common_beep_frequencies_are_beeps() -> None:
    for frequency in (440, 850, 950, 1000):
        decision = detect(noise(200) + tone(frequency, 300) + silence(300))
        assert decision is not None and decision.beep, frequency


def test_a_click_shorter_than_a_beep_is_not_a_beep() -> None:
    decision = detect(silence(300) + tone(1000, 60) + silence(4000))
    assert decision is not None and decision.answered_by == "unknown"


def test_fax_calling_and_answer_tones_are_a_fax() -> None:
    cng = detect(silence(200) + tone(1100, 500) + silence(3000))
    ced = detect(tone(2100, 3000))
    assert cng is not None and cng.answered_by == "fax"
    assert ced is not None and ced.answered_by == "fax"


def test_silence_or_hiss_with_no_speech_is_unknown() -> None:
    for audio in (silence(6000), noise(6000)):
        decision = detect(audio)
        assert decision is not None and decision.answered_by == "unknown"
        assert decision.at_ms == DetectionSettings().initial_silence_ms


def test_a_greeting_of_several_phrases_between_the_limits_is_a_machine() -> None:
    settings = DetectionSettings(machine_greeting_min_ms=6000)
    audio = spoken("Hi.") + silence(250) + spoken("It's Dana.")
    audio += silence(250) + spoken("Leave one.")
    decision = detect(audio + silence(2000), settings)
    assert decision is not None and decision.answered_by == "machine"
    assert "phrases" in decision.reason


def test_the_message_starts_after_the_beep_ends() -> None:
    settings = DetectionSettings()
    end = MessageEndDetector(settings)
    audio = spoken("please leave a message after the tone") + silence(300)
    heard = [end.feed(frame) for frame in frames(audio + tone(1000, 500) + silence(400))]
    assert "beep" in heard
    # The beep counts once it is over: 500 ms of tone after the speech and pause.
    assert heard.index("beep") * 20 >= (len(audio) + 500 * 8) // 8 - 40


def test_without_a_beep_the_message_starts_after_the_greeting_silence() -> None:
    settings = DetectionSettings(message_end_silence_ms=1500)
    end = MessageEndDetector(settings)
    heard = [end.feed(f) for f in frames(spoken("leave a message") + silence(2000))]
    assert heard.count("silence") >= 1 and "beep" not in heard


def test_a_machine_that_never_stops_ends_the_wait() -> None:
    settings = DetectionSettings(message_max_wait_ms=1000, message_end_silence_ms=5000)
    end = MessageEndDetector(settings)
    heard = [end.feed(f) for f in frames(noise(1200, amplitude=0.3))]
    assert heard[49] == "other" and heard[:49] == [None] * 49

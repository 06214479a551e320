import numpy as np
import pytest

from aybiza.audio.codec import FRAME_BYTES, SAMPLE_RATE_HZ
from aybiza.audio.goertzel import ToneBank


def _sine(frequency_hz: float, amplitude: float = 8000.0) -> np.ndarray:
    t = np.arange(FRAME_BYTES) / SAMPLE_RATE_HZ
    return amplitude * np.sin(2 * np.pi * frequency_hz * t)


def test_a_pure_tone_on_a_bin_holds_all_the_energy_of_that_bin() -> None:
    bank = ToneBank([440.0, 1000.0, 1400.0])
    shares = bank.powers(_sine(1000.0))
    assert shares[1] == pytest.approx(1.0, abs=0.01)
    assert shares[0] < 0.01 and shares[2] < 0.01


def test_the_strongest_bin_names_a_tone_between_bins() -> None:
    bank = ToneBank(np.arange(300, 2201, 25).tolist())
    tone = bank.strongest(_sine(1012.0))
    assert tone is not None
    assert tone.frequency_hz in (1000.0, 1025.0)
    assert tone.share > 0.75


def test_noise_has_no_dominant_tone_and_silence_has_none_at_all() -> None:
    bank = ToneBank(np.arange(300, 2201, 25).tolist())
    hiss = np.random.default_rng(1).normal(0, 3000, FRAME_BYTES)
    tone = bank.strongest(hiss)
    assert tone is not None and tone.share < 0.3
    assert bank.strongest(np.zeros(FRAME_BYTES)) is None


def test_a_block_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(ValueError, match="expected 160 samples"):
        ToneBank([1000.0]).powers(np.zeros(100))
    with pytest.raises(ValueError, match="at least one frequency"):
        ToneBank([])

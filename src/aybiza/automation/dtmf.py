"""The keys ``send_dtmf`` presses: as audio, each key the sum of a row and a column tone
(ITU-T Q.23) played into the call as μ-law 8 kHz, so whatever is on the other end (an IVR, a
voicemail system) hears keys; or, where the carrier has keypad events (RFC 4733 on SIP), as
groups of keys with the pauses between them.

Every key is a 100 ms tone followed by 60 ms of silence (Q.24 asks for at least 40 ms of each);
``w`` is a 500 ms pause, as in Twilio's ``sendDigits``.
"""

from __future__ import annotations

import re

import numpy as np

from aybiza.audio.codec import SAMPLE_RATE_HZ, pcm16_to_ulaw, silence

ROW_HZ = (697, 770, 852, 941)
COLUMN_HZ = (1209, 1336, 1477, 1633)
_KEYPAD = ("123A", "456B", "789C", "*0#D")
# key -> (row frequency, column frequency)
FREQUENCIES: dict[str, tuple[int, int]] = {
    key: (ROW_HZ[row], COLUMN_HZ[column])
    for row, keys in enumerate(_KEYPAD)
    for column, key in enumerate(keys)
}
TONE_MS = 100
GAP_MS = 60
PAUSE_MS = 500
DIGITS_PATTERN = r"^[0-9A-D*#w]{1,64}$"
_DIGITS = re.compile(DIGITS_PATTERN)
_PAUSES = re.compile(r"(w+)")
# Each tone at about -6 dBFS: their sum stays clear of clipping.
_AMPLITUDE = 0.5 * 32767 / 2


def check_digits(digits: str) -> None:
    """Raise ValueError naming what is wrong unless ``digits`` is 1 to 64 keys and pauses."""
    if not _DIGITS.match(digits):
        raise ValueError(
            f"digits must be 1 to 64 of 0-9, A-D, *, # and w (a 500 ms pause); got {digits!r}"
        )


def key_groups(digits: str) -> list[str]:
    """``digits`` cut at its pauses, each run of ``w`` a group of its own: ``12w3ww#`` is
    ``["12", "w", "3", "ww", "#"]``. Raises ValueError as ``check_digits``."""
    check_digits(digits)
    return [group for group in _PAUSES.split(digits) if group]


def dtmf_audio(digits: str) -> bytes:
    """μ-law 8 kHz audio of ``digits`` (0-9, A-D, * and #; ``w`` pauses 500 ms).

    Raises ValueError naming what is not a key."""
    check_digits(digits)
    samples = np.arange(SAMPLE_RATE_HZ * TONE_MS // 1000) / SAMPLE_RATE_HZ
    parts: list[bytes] = []
    for key in digits:
        if key == "w":
            parts.append(silence(PAUSE_MS))
            continue
        low, high = FREQUENCIES[key]
        wave = _AMPLITUDE * (np.sin(2 * np.pi * low * samples) + np.sin(2 * np.pi * high * samples))
        parts.append(pcm16_to_ulaw(np.round(wave).astype(np.int16)))
        parts.append(silence(GAP_MS))
    return b"".join(parts)

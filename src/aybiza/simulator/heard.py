"""What the caller heard of one known piece of agent audio: where each stretch of it came from.

A pause-then-resume barge-in must neither repeat nor skip words. Given the audio the agent
meant to play (``expected``, e.g. the fake engine's deterministic synthesis) and what the
caller heard (``SimulatedCall.played_audio``), ``heard_stretches`` finds each stretch of
continuous agent audio and where it sits in ``expected``; ``Continuity`` sums the overlap
(repeated) and the gap (skipped) between consecutive stretches.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from aybiza.audio.codec import FRAME_BYTES, SILENCE_BYTE

_GAP = bytes([SILENCE_BYTE]) * FRAME_BYTES  # 20 ms of exact μ-law silence separates stretches
_PROBE_BYTES = 400  # 50 ms: long enough to place a stretch in ``expected``


@dataclass(frozen=True, slots=True)
class Stretch:
    """Heard bytes ``[start, end)`` of ``expected``."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Continuity:
    """How the heard stretches join: bytes heard twice, bytes never heard between stretches,
    and how far into ``expected`` the caller got."""

    stretches: tuple[Stretch, ...]
    repeated_bytes: int
    skipped_bytes: int
    reached_bytes: int


def heard_stretches(heard: bytes, expected: bytes) -> list[Stretch]:
    """Each run of heard audio (split at 20 ms of silence) placed in ``expected``; runs not
    found there (other answers) are left out. Where the probe matches several places, the one
    nearest the end of the previous stretch wins. Audio samples that happen to equal the silence
    byte at the start of a run (split off with the silence before it) are given back to the
    stretch where ``expected`` has them too, so a resume joined to the byte measures as such
    (a stretch's end stops before such samples, its successor's start then reaches back to it)."""
    stretches: list[Stretch] = []
    for offset, run in _runs(heard):
        probe = run[:_PROBE_BYTES]
        if len(probe) < _PROBE_BYTES:
            continue
        previous_end = stretches[-1].end if stretches else 0
        candidates = _occurrences(expected, probe)
        if not candidates:
            continue
        start = min(candidates, key=lambda at: abs(at - previous_end))
        end = start + _common_prefix(run, expected[start:])
        before = offset  # the heard bytes before a run are silence: give back what matches
        while start > 0 and before > 0 and expected[start - 1] == heard[before - 1] == SILENCE_BYTE:
            start, before = start - 1, before - 1
        stretches.append(Stretch(start, end))
    return stretches


def continuity(heard: bytes, expected: bytes) -> Continuity:
    """Repeated and skipped bytes between consecutive heard stretches of ``expected``."""
    stretches = heard_stretches(heard, expected)
    repeated = skipped = 0
    for before, after in itertools.pairwise(stretches):
        repeated += max(0, before.end - after.start)
        skipped += max(0, after.start - before.end)
    reached = max((s.end for s in stretches), default=0)
    return Continuity(tuple(stretches), repeated, skipped, reached)


def words_between(text: str, start: int, end: int, bytes_per_char: int) -> int:
    """Whole words of ``text`` whose audio lies in bytes ``[start, end)`` of its synthesis at
    ``bytes_per_char`` (the fake engine's fixed rate)."""
    if end <= start:
        return 0
    first, last = start / bytes_per_char, end / bytes_per_char
    count = 0
    position = 0
    for word in text.split(" "):
        if word and first <= position and position + len(word) <= last:
            count += 1
        position += len(word) + 1
    return count


def _runs(heard: bytes) -> list[tuple[int, bytes]]:
    """Each run of audio between stretches of silence, with its offset in ``heard``."""
    runs: list[tuple[int, bytes]] = []
    position = 0
    while position < len(heard):
        gap = heard.find(_GAP, position)
        end = len(heard) if gap < 0 else gap
        if end > position:
            runs.append((position, heard[position:end].rstrip(bytes([SILENCE_BYTE]))))
        if gap < 0:
            break
        position = gap + len(_GAP)
        while position < len(heard) and heard[position] == SILENCE_BYTE:
            position += 1
    return [(offset, run) for offset, run in runs if run]


def _occurrences(haystack: bytes, needle: bytes) -> list[int]:
    found: list[int] = []
    at = haystack.find(needle)
    while at >= 0:
        found.append(at)
        at = haystack.find(needle, at + 1)
    return found


def _common_prefix(a: bytes, b: bytes) -> int:
    limit = min(len(a), len(b))
    low, high = 0, limit
    while low < high:  # binary search on equal prefixes
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low

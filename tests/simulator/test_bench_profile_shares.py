"""``bench.profile_shares`` counts each sample once, in its innermost matching category."""

from __future__ import annotations

from bench.profile_shares import OTHER, shares

PROFILE = [
    # numpy under the turn detector: the detector's (numpy itself matches nothing).
    "run (uvloop/__init__.py:1);_run (asyncio/events.py:80);"
    "on_frame (aybiza/pipeline/turn_detector.py:130);"
    "sum (numpy/core/fromnumeric.py:2300) 7\n",
    # the websockets library under the Deepgram adapter: the protocol code, the innermost match.
    "_run (asyncio/events.py:80);send (aybiza/providers/stt/deepgram.py:90);"
    "send_frame (websockets/protocol.py:500) 3\n",
    "_run (asyncio/events.py:80) 10\n",
    "main (somewhere/else.py:1) 1\n",
    "not a profile line\n",
]


def test_each_sample_is_counted_once_in_its_innermost_category() -> None:
    counts, total = shares(PROFILE)
    assert total == 21
    assert counts["the turn detector"] == 7
    assert counts["the `websockets` protocol code (frames, masking)"] == 3
    assert counts["the event loop itself (uvloop, asyncio scheduling)"] == 10
    assert counts[OTHER] == 1

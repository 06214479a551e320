"""Per-frame costs on the call loop's hot path, in microseconds (one inbound 20 ms frame).

python -m bench.hot_path
"""

from __future__ import annotations

import base64
import json
import time
import timeit

import numpy as np

from aybiza.pipeline.vad import VoiceActivityDetector
from aybiza.telephony.twilio.wire import parse_message

STREAM = "MZ" + "a" * 32


def main() -> None:
    frame = bytes(np.random.default_rng(1).integers(0, 256, 160, dtype=np.uint8))
    body = {
        "event": "media",
        "sequenceNumber": "2",
        "streamSid": STREAM,
        "media": {"track": "inbound", "chunk": "1", "timestamp": "52", "payload": ""},
    }
    body["media"]["payload"] = base64.b64encode(frame).decode()  # type: ignore[index]
    compact = json.dumps(body, separators=(",", ":"))  # Twilio's shape: the fast path
    spaced = json.dumps(body)  # any other spacing: the full JSON parse
    vad, quiet_vad = VoiceActivityDetector(), VoiceActivityDetector()
    silence = b"\xff" * len(frame)
    n = 10_000
    for name, action in (
        ("parse media (Twilio's compact JSON, fast path)", lambda: parse_message(compact)),
        ("parse media (full JSON parse)", lambda: parse_message(spaced)),
        ("VAD on one frame of noise (decode + webrtcvad)", lambda: vad.feed(frame)),
        ("VAD on one frame of digital silence", lambda: quiet_vad.feed(silence)),
    ):
        # CPU time, not wall time: on a shared machine the process is often descheduled.
        repeats = timeit.repeat(action, number=n, repeat=9, timer=time.process_time)
        seconds = min(repeats) / n
        print(f"{name:50s} {seconds * 1e6:6.2f} us")


if __name__ == "__main__":
    main()

"""Where a server's CPU goes, from a py-spy raw (collapsed) profile: each sample counted once,
in the innermost of its frames that matches a category, and the shares printed as a table.

    py-spy record -r 100 -d 10 --nonblocking -f raw -o profile.txt --pid SERVER_PID
    python -m bench.profile_shares profile.txt

A collapsed profile has one line per distinct stack, ``frame;frame;...;frame COUNT``, outermost
frame first; a frame reads ``function (path/to/file.py:line)``. py-spy leaves idle samples out
unless asked for them, so the shares are of the busy time.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

# Checked innermost frame first; a frame takes the first category one of whose markers it holds.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Bedrock", ("providers/llm/bedrock",)),
    ("TTS", ("providers/tts/",)),
    ("the STT send path", ("providers/stt/",)),
    ("the VAD", ("pipeline/vad.py", "webrtcvad")),
    ("the turn detector", ("pipeline/turn_detector.py",)),
    ("the ORM and the database driver", ("sqlalchemy/", "aiosqlite/", "asyncpg/", "store/")),
    (
        "the Media Streams handler (parse, dispatch, the direct socket)",
        ("telephony/twilio/", "direct_websocket.py", "eager_start.py"),
    ),
    ("the `websockets` protocol code (frames, masking)", ("websockets/",)),
    ("uvicorn and starlette (ASGI)", ("uvicorn/", "starlette/")),
    ("HTTP requests (FastAPI, httpx, h11)", ("fastapi/", "httpx/", "httpcore/", "h11/")),
    ("the call loop (session, answer, playout)", ("aybiza/pipeline/", "aybiza/conversation/")),
    ("metrics and logging", ("prometheus_client/", "structlog/", "aybiza/analytics/")),
    ("the event loop itself (uvloop, asyncio scheduling)", ("asyncio/", "uvloop")),
)
OTHER = "other"


def category(stack: list[str]) -> str:
    """The category of one sample's stack (outermost frame first)."""
    for frame in reversed(stack):
        for name, markers in CATEGORIES:
            if any(marker in frame for marker in markers):
                return name
    return OTHER


def shares(lines: Iterable[str]) -> tuple[Counter[str], int]:
    """Samples per category, and the total, from a collapsed profile's lines."""
    counts: Counter[str] = Counter()
    for line in lines:
        stack_text, _, count_text = line.rstrip("\n").rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        counts[category(stack_text.split(";"))] += int(count_text)
    return counts, sum(counts.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path, help="py-spy record -f raw output")
    args = parser.parse_args()
    with args.profile.open(encoding="utf-8") as lines:
        counts, total = shares(lines)
    if not total:
        raise SystemExit(f"{args.profile}: no samples (is it py-spy's -f raw output?)")
    print(f"{total} samples")
    print("| share | where |\n|---|---|")
    for name, count in counts.most_common():
        print(f"| {100 * count / total:.0f} % | {name} |")


if __name__ == "__main__":
    main()

"""CPU per streamed model answer through AYBIZA's OpenAI-compatible adapter, in milliseconds.

The fake OpenAI-compatible server (``tests/fakes/openai.py``) runs in its own process, so only
the adapter's side is measured: building the request, the connection pool, reading the event
stream, assembling the answer. Two cases: answers one after another, and answers twenty at a
time after a burst of ``--pool`` concurrent ones has filled the connection pool (what a server
with hundreds of calls sees).

    python -m bench.llm_cpu --requests 500 --pool 100
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
from pathlib import Path

from aybiza.providers.base import AnswerEnd, LlmRequest, Message
from aybiza.providers.llm.openai_compat import OpenAICompatibleLlm

REPO = Path(__file__).resolve().parents[1]
API_KEY = "sk-bench"
REQUEST = LlmRequest(
    system="You are a friendly phone agent. Answer in one short sentence.",
    model="gpt-4.1",
    messages=(
        Message("assistant", "Hello, thank you for calling. How can I help you today?"),
        Message("user", "I would like to book an appointment"),
    ),
)


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def answer(llm: OpenAICompatibleLlm) -> None:
    ended = False
    async for event in llm.open_session("bench").respond(REQUEST):
        ended = ended or isinstance(event, AnswerEnd)
    if not ended:
        raise RuntimeError("the answer did not end")


async def per_request_ms(llm: OpenAICompatibleLlm, requests: int, at_once: int) -> float:
    started = cpu_s()
    for _ in range(requests // at_once):
        await asyncio.gather(*(answer(llm) for _ in range(at_once)))
    return 1000 * (cpu_s() - started) / (requests // at_once * at_once)


async def measure(url: str, requests: int, pool: int) -> None:
    llm = OpenAICompatibleLlm(base_url=url + "/v1", api_key=API_KEY)
    try:
        for _ in range(30):  # warm up: imports, first connections
            await answer(llm)
        sequential = await per_request_ms(llm, requests, 1)
        await asyncio.gather(*(answer(llm) for _ in range(pool)))  # fill the pool
        pooled = await per_request_ms(llm, requests, 20)
    finally:
        await llm.aclose()
    print(f"one at a time                          {sequential:6.2f} ms CPU per answer")
    print(f"20 at a time, pool filled by {pool:4d}     {pooled:6.2f} ms CPU per answer")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--pool", type=int, default=100)
    args = parser.parse_args(argv)
    fake = subprocess.Popen(
        [sys.executable, "tests/fakes/openai.py", "--port", "0", "--api-key", API_KEY],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert fake.stdout is not None
        url = fake.stdout.readline().strip()
        import uvloop

        uvloop.run(measure(url, args.requests, args.pool))
    finally:
        fake.terminate()
        fake.wait()


if __name__ == "__main__":
    main()

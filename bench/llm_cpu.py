"""CPU per streamed model answer through AYBIZA's model adapters, in milliseconds.

The fake model server (``tests/fakes/openai.py`` or ``tests/fakes/bedrock.py``) runs in its own
process, so only the client's side is measured: building (and signing) the request, the
connection pool, reading the event stream, assembling the answer. Two cases: answers one after
another, and answers twenty at a time after a burst of ``--pool`` concurrent ones has filled the
connection pool (what a server with hundreds of calls sees).

``--engine bedrock`` also measures, in the same run and interleaved round by round, the path
the Bedrock adapter took before it spoke HTTP directly (aiobotocore's ``converse_stream``,
``bench/bedrock_aiobotocore.py``), and prints the ratio.

    python -m bench.llm_cpu --engine openai --requests 500 --pool 100
    python -m bench.llm_cpu --engine bedrock --requests 300 --pool 100 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aybiza.providers.base import AnswerEnd, LlmEngine, LlmRequest, Message
from aybiza.providers.llm.bedrock import BedrockLlm
from aybiza.providers.llm.openai_compat import OpenAICompatibleLlm
from bench.bedrock_aiobotocore import AiobotocoreBedrock

REPO = Path(__file__).resolve().parents[1]
API_KEY = "sk-bench"
MESSAGES = (
    Message("assistant", "Hello, thank you for calling. How can I help you today?"),
    Message("user", "I would like to book an appointment"),
)
SYSTEM = "You are a friendly phone agent. Answer in one short sentence."
OPENAI_REQUEST = LlmRequest(system=SYSTEM, model="gpt-4.1", messages=MESSAGES)
BEDROCK_REQUEST = LlmRequest(system=SYSTEM, model="claude-3-7-sonnet", messages=MESSAGES)
REGION = "us-east-1"

Answer = Callable[[], Awaitable[None]]


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def engine_answer(engine: LlmEngine, request: LlmRequest) -> Answer:
    async def answer() -> None:
        ended = False
        async for event in engine.open_session("bench").respond(request):
            ended = ended or isinstance(event, AnswerEnd)
        if not ended:
            raise RuntimeError("the answer did not end")

    return answer


async def per_request_ms(answer: Answer, requests: int, at_once: int) -> float:
    started = cpu_s()
    for _ in range(requests // at_once):
        await asyncio.gather(*(answer() for _ in range(at_once)))
    return 1000 * (cpu_s() - started) / (requests // at_once * at_once)


@dataclass
class Figures:
    sequential: list[float]
    pooled: list[float]


async def warm(answer: Answer, pool: int) -> None:
    for _ in range(30):  # imports, first connections
        await answer()
    await asyncio.gather(*(answer() for _ in range(pool)))  # fill the pool


async def measure(paths: dict[str, Answer], requests: int, pool: int, rounds: int) -> None:
    figures = {name: Figures([], []) for name in paths}
    for answer in paths.values():
        await warm(answer, pool)
    for _ in range(rounds):  # interleaved, so a busy moment of the machine hits every path
        for name, answer in paths.items():
            figures[name].sequential.append(await per_request_ms(answer, requests, 1))
            figures[name].pooled.append(await per_request_ms(answer, requests, 20))
    for name, figure in figures.items():
        sequential, pooled = statistics.median(figure.sequential), statistics.median(figure.pooled)
        print(
            f"{name:<12} one at a time                          {sequential:6.2f} ms CPU per answer"
        )
        print(
            f"{name:<12} 20 at a time, pool filled by {pool:4d}     {pooled:6.2f} ms CPU per answer"
        )
    if len(figures) == 2:
        (before, old), (after, new) = figures.items()
        for case, old_ms, new_ms in (
            ("one at a time", old.sequential, new.sequential),
            ("20 at a time", old.pooled, new.pooled),
        ):
            ratio = statistics.median(old_ms) / statistics.median(new_ms)
            print(f"{case:<14} {before} / {after}: {ratio:4.1f}x")


async def run_openai(url: str, requests: int, pool: int, rounds: int) -> None:
    llm = OpenAICompatibleLlm(base_url=url + "/v1", api_key=API_KEY)
    try:
        await measure({"openai": engine_answer(llm, OPENAI_REQUEST)}, requests, pool, rounds)
    finally:
        await llm.aclose()


async def run_bedrock(url: str, requests: int, pool: int, rounds: int) -> None:
    before = AiobotocoreBedrock(region=REGION, endpoint_url=url)
    await before.open()
    after = BedrockLlm(region=REGION, endpoint_url=url)

    async def aiobotocore_answer() -> None:
        await before.answer(BEDROCK_REQUEST)

    paths = {"aiobotocore": aiobotocore_answer, "direct": engine_answer(after, BEDROCK_REQUEST)}
    try:
        await measure(paths, requests, pool, rounds)
    finally:
        await before.aclose()
        await after.aclose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("openai", "bedrock"), default="openai")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--pool", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    if args.engine == "openai":
        command = ["tests/fakes/openai.py", "--port", "0", "--api-key", API_KEY]
    else:
        command = ["tests/fakes/bedrock.py", "--port", "0"]
        # Dummy keys for the signer; never look for real credentials on this machine.
        os.environ.update(
            AWS_ACCESS_KEY_ID="AKIDBENCH",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_EC2_METADATA_DISABLED="true",
        )
    fake = subprocess.Popen([sys.executable, *command], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert fake.stdout is not None
        url = fake.stdout.readline().strip()
        import uvloop

        run = run_openai if args.engine == "openai" else run_bedrock
        uvloop.run(run(url, args.requests, args.pool, args.rounds))
    finally:
        fake.terminate()
        fake.wait()


if __name__ == "__main__":
    main()

"""The Bedrock adapter's answer path before it spoke HTTP directly: aiobotocore's client.

Kept for ``bench.llm_cpu`` to measure against, in the same run: one long-lived
``bedrock-runtime`` client (its connection pool, retries off), ``converse_stream`` with the same
arguments the adapter builds, the event stream iterated to its end as botocore's dicts and
assembled by the adapter's own ``ConverseAnswer``, then closed. This is what
``aybiza.providers.llm.bedrock`` did per answer up to the change that replaced it.
"""

from __future__ import annotations

import time
from contextlib import AsyncExitStack
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from aybiza.providers.base import AnswerEnd, LlmRequest
from aybiza.providers.llm.bedrock import converse_stream_arguments
from aybiza.providers.llm.bedrock_stream import ConverseAnswer


class AiobotocoreBedrock:
    """Streams answers through aiobotocore's ``converse_stream``."""

    def __init__(self, *, region: str, endpoint_url: str) -> None:
        self._region = region
        self._endpoint_url = endpoint_url
        self._stack = AsyncExitStack()
        self._client: Any = None

    async def open(self) -> None:
        config = AioConfig(
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=3.0,
            read_timeout=30.0,
            max_pool_connections=256,
        )
        self._client = await self._stack.enter_async_context(
            get_session().create_client(
                "bedrock-runtime",
                region_name=self._region,
                endpoint_url=self._endpoint_url,
                config=config,
            )
        )

    async def answer(self, request: LlmRequest) -> AnswerEnd:
        started = time.monotonic()
        response = await self._client.converse_stream(
            **converse_stream_arguments(request, self._region)
        )
        stream = response["stream"]
        answer = ConverseAnswer()
        try:
            async for event in stream:
                for event_type, payload in event.items():
                    answer.add(event_type, payload)
        finally:
            stream.close()
        return answer.end(started)

    async def aclose(self) -> None:
        await self._stack.aclose()

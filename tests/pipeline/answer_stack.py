"""One agent answer with everything real but the network's far ends: the Bedrock adapter against
FakeBedrock, Deepgram synthesis against FakeDeepgram, the tenant's HTTP tools run by the real
tool runner against a loopback receiver, a migrated SQLite database, and a carrier socket that
records what it is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.api.databases import create_database
from tests.automation.helpers import SECRET_KEY, Controls, make_call, make_tenant
from tests.automation.receiver import Receiver
from tests.fakes.bedrock import FakeBedrock
from tests.fakes.deepgram import FAKE_API_KEY, FakeDeepgram
from tests.fakes.llm_server import Reply
from tests.fakes.loopback import LOOPBACK_NETWORKS, LoopbackOnlyNetwork

from aybiza.agents.schema import validate_agent_config
from aybiza.automation.tool_runner import AgentToolRunner, load_tool_kit
from aybiza.automation.tool_specs import ToolCreate
from aybiza.automation.tool_store import ToolService
from aybiza.config import Settings
from aybiza.conversation.engine import Conversation, ConversationSettings
from aybiza.conversation.routing import ModelRouter
from aybiza.outbound.guard import Guard
from aybiza.pipeline.answer import AgentAnswer
from aybiza.pipeline.playout import Playout
from aybiza.pipeline.timings import TurnTimings
from aybiza.providers.llm.bedrock import BedrockLlm
from aybiza.providers.tts.deepgram import DeepgramTts
from aybiza.security.secretbox import HmacSecretBox
from aybiza.store.database import Database
from aybiza.store.migrate import upgrade_to_head

AGENT = validate_agent_config({"name": "Bookings", "system_prompt": "You book tables."})
ROUTER = ModelRouter(
    default="claude-3-5-sonnet-v2", fast="claude-3-5-haiku", complex="claude-3-7-sonnet"
)
# The inference profiles Bedrock is asked for (us-east-1).
FAST_ID = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
COMPLEX_ID = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
OPEN_SCHEMA = {"type": "object", "properties": {"party_size": {"type": "integer"}}}


class CarrierSocket:
    """The carrier's end of the media connection: records what the call loop sends."""

    def __init__(self) -> None:
        self.media_bytes = 0
        self.marks: list[str] = []

    async def send_media(self, mulaw: bytes) -> None:
        self.media_bytes += len(mulaw)

    async def send_mark(self, name: str) -> None:
        self.marks.append(name)

    async def send_clear(self) -> None:
        self.marks.clear()

    async def send_digits(self, digits: str) -> bool:
        return False

    async def close(self, code: int = 1000, reason: str = "") -> None:
        return None


@dataclass
class AnswerStack:
    """What a test drives: the fakes, the runner, the conversation and the call's ids."""

    bedrock: FakeBedrock
    receiver: Receiver
    database: Database
    runner: AgentToolRunner
    conversation: Conversation
    tts: DeepgramTts
    playout: Playout
    call_id: str

    def answer(
        self,
        models: tuple[str, ...] = ("claude-3-5-haiku",),
        *,
        max_tool_calls: int = 5,
        models_after_tools: tuple[str, ...] = (),
    ) -> AgentAnswer:
        """An answer to the conversation so far, as the call loop builds one."""
        return AgentAnswer(
            conversation=self.conversation,
            tts=self.tts.open_session(AGENT.voice_options()),
            playout=self.playout,
            timings=TurnTimings(speech_end=0.0),
            models=models,
            engine="bedrock",
            max_response_s=30.0,
            runner=self.runner,
            max_tool_calls=max_tool_calls,
            models_after_tools=models_after_tools,
        )


@asynccontextmanager
async def answer_stack(
    tmp_path: Path, tools: dict[str, dict[str, Any]], *, default: Reply | None = None
) -> AsyncIterator[AnswerStack]:
    """The stack with the tenant's HTTP ``tools`` (name -> extra options), each posting to
    ``/<name>`` on the receiver."""
    async with AsyncExitStack() as stack:
        database = Database(create_database("sqlite", tmp_path).url)
        stack.push_async_callback(database.dispose)
        await upgrade_to_head(database)
        box = HmacSecretBox(SECRET_KEY)
        receiver = await Receiver().start()
        stack.push_async_callback(receiver.stop)
        bedrock = await stack.enter_async_context(FakeBedrock(default=default))
        deepgram = await stack.enter_async_context(FakeDeepgram())
        tenant = await make_tenant(database)
        for name, options in tools.items():
            created = await ToolService(database, box, Guard(LOOPBACK_NETWORKS)).create(
                tenant,
                ToolCreate.model_validate(
                    {
                        "name": name,
                        "description": f"The {name} tool.",
                        "parameters": OPEN_SCHEMA,
                        "options": {"url": receiver.url(f"/{name}"), **options},
                    }
                ),
            )
            receiver.path_secrets[f"/{name}"] = created.secret
        call_id = await make_call(database, tenant, ended_reason=None)
        runner = (
            await load_tool_kit(
                tenant_id=tenant,
                agent_config=AGENT,
                call_id=call_id,
                database=database,
                box=box,
                settings=Settings(outbound_allow_cidrs=LOOPBACK_NETWORKS),
                network=LoopbackOnlyNetwork(),
                tool_names=list(tools),
            )
        ).bind(Controls(call_id))
        stack.push_async_callback(runner.aclose)
        llm = BedrockLlm(region="us-east-1", endpoint_url=bedrock.url)
        stack.push_async_callback(llm.aclose)
        tts = DeepgramTts(FAKE_API_KEY, base_url=deepgram.url)
        stack.push_async_callback(tts.aclose)
        conversation = Conversation(
            llm.open_session(call_id),
            ConversationSettings(
                system_prompt=AGENT.system_prompt,
                model="claude-3-5-sonnet-v2",
                temperature=0.3,
                max_tokens=300,
                context_window=32_000,
            ),
            tools=runner.specs(),
        )
        yield AnswerStack(
            bedrock=bedrock,
            receiver=receiver,
            database=database,
            runner=runner,
            conversation=conversation,
            tts=tts,
            playout=Playout(CarrierSocket()),
            call_id=call_id,
        )

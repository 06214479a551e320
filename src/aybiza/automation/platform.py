"""``Automation``: the automation engine of one server process, wired to its database, secret
box, store writer and engine registry. The app creates one in its lifespan, starts it, puts it on
``app.state.automation`` (the ``/v1/tools`` and ``/v1/workflows`` routers use it) and asks it for
each call's tool runner."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from aybiza.agents.schema import AgentConfig
from aybiza.automation.messaging import Messaging
from aybiza.automation.settings import AutomationSettings
from aybiza.automation.tool_runner import ToolKit, load_tool_kit
from aybiza.automation.tool_store import ToolService
from aybiza.automation.workflows.analysis import CallAnalyzer
from aybiza.automation.workflows.arq_runner import ArqRunner
from aybiza.automation.workflows.events import WorkflowEvents
from aybiza.automation.workflows.executor import WorkflowExecutor
from aybiza.automation.workflows.runners import InProcessRunner, WorkflowRunner
from aybiza.automation.workflows.steps import StepServices
from aybiza.automation.workflows.store import WorkflowService
from aybiza.config import Settings
from aybiza.outbound.connector import Network
from aybiza.outbound.guard import Guard
from aybiza.outbound.sender import Sender
from aybiza.providers.registry import EngineRegistry
from aybiza.security.secretbox import SecretBox
from aybiza.store.database import Database
from aybiza.store.writer import StoreWriter


class Automation:
    """Tools, workflows and their runner for this process (``runner``: in-process by default,
    arq when ``AYBIZA_WORKFLOW_RUNNER=arq``, or the one given; ``messaging``: how tools send
    SMS, given by the carrier that can). ``sender``: the process's
    outbound sender (else one of its own, guarded by ``settings.outbound_allow_cidrs`` and
    opening sockets through ``network``, closed by ``stop()``)."""

    def __init__(
        self,
        database: Database,
        box: SecretBox,
        *,
        settings: Settings,
        automation: AutomationSettings | None = None,
        registry: EngineRegistry | None = None,
        writer: StoreWriter | None = None,
        runner: WorkflowRunner | None = None,
        sender: Sender | None = None,
        messaging: Messaging | None = None,
        network: Network | None = None,
    ) -> None:
        self._runs_created = False
        self.database = database
        self.box = box
        self.settings = settings
        self.messaging = messaging
        self.automation = automation or AutomationSettings.from_env()
        self.writer = writer
        self._owns_sender = sender is None
        self.sender = sender or Sender(Guard(settings.outbound_allow_cidrs), network=network)
        self.tools = ToolService(database, box, self.sender.guard)
        self.workflows = WorkflowService(database, box, self.sender.guard)
        self.analyzer = CallAnalyzer(database, registry)
        self.executor = WorkflowExecutor(
            database,
            StepServices(
                database=database,
                box=box,
                sender=self.sender,
                analyzer=self.analyzer,
            ),
            lease_s=self.automation.workflow_lease_s,
        )
        self.runner = runner or self._default_runner()
        self.events = WorkflowEvents(self.runner.wake)

    def _default_runner(self) -> WorkflowRunner:
        options = self.automation
        if options.workflow_runner == "arq":
            return ArqRunner(
                self.database,
                self.executor,
                redis_url=options.redis_url,
                queue=options.workflow_queue,
                poll_s=options.workflow_poll_s,
            )
        return InProcessRunner(
            self.database,
            self.executor,
            poll_s=options.workflow_poll_s,
            concurrency=options.workflow_concurrency,
        )

    async def start(self) -> None:
        """Start the workflow runner (in-process: resumes unfinished runs)."""
        await self.runner.start()

    async def stop(self) -> None:
        """Stop the runner (and close the sender if it is this engine's own)."""
        await self.runner.stop()
        if self._owns_sender:
            await self.sender.aclose()

    def wake(self) -> None:
        """New runs were committed: look for due work now."""
        self.runner.wake()

    def wake_if_runs_created(self) -> None:
        """After a commit (``StoreWriter.on_commit``): wake the runner only when that commit
        created runs; most commits (transcript lines, turns) create none, and a wake costs
        several queries."""
        if self._runs_created:
            self._runs_created = False
            self.runner.wake()

    async def call_ended(self, session: AsyncSession, call_id: str) -> list[str]:
        """``call.ended``: create the call's workflow runs in the transaction that ends it."""
        runs = await self.events.call_ended(session, call_id)
        if runs:
            self._runs_created = True
        return runs

    async def tool_kit(
        self,
        *,
        tenant_id: str,
        agent_config: AgentConfig,
        call_id: str,
        tool_names: Sequence[str] | None = None,
    ) -> ToolKit:
        """The tools of one call, loaded before its loop starts (see ``load_tool_kit``)."""
        return await load_tool_kit(
            tenant_id=tenant_id,
            agent_config=agent_config,
            call_id=call_id,
            database=self.database,
            box=self.box,
            settings=self.settings,
            messaging=self.messaging,
            writer=self.writer,
            events=self.events,
            sender=self.sender,
            tool_names=tool_names,
        )

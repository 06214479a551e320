"""Running a suite: each scenario is one call placed as Twilio places it (``SimulatedCall``),
its caller scripted (``run_script``) or played by the eval model (``PersonaCaller``), then
checked against the server's record of the call."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from aybiza.agents.eval_spec import CallerStep, EvalSpec, Scenario, suite_digest
from aybiza.agents.speech import VoiceOptions
from aybiza.audio.codec import silence
from aybiza.evals.checks import SaidJudge, SimilarityJudge, check_scenario
from aybiza.evals.judge import LlmJudge
from aybiza.evals.local_server import ServerAccess
from aybiza.evals.model import EvalModel
from aybiza.evals.persona import PersonaCaller
from aybiza.evals.results import Observation, ScenarioResult, SuiteResult
from aybiza.evals.server_api import CallTarget
from aybiza.providers.base import TtsEngine
from aybiza.simulator.call_record import CallRecord, CallRecordError, fetch_call_record
from aybiza.simulator.errors import CallEndedError, SimulatorError
from aybiza.simulator.script import DtmfStep, SayStep, ScriptStep, ScriptTiming, run_script
from aybiza.simulator.twilio_client import SimulatedCall

# Called with (message, done), as ``run_script`` reports its steps.
Progress = Callable[[str, bool], None]
# How long the server may take to finish writing a call's record, and its analysis.
RECORD_SETTLE_S = 15.0
ANALYSIS_WAIT_S = 60.0
# Before each line, as a caller draws breath: the agent's VAD hears a clean onset.
LEAD_IN_MS = 200


@dataclass(frozen=True, slots=True)
class RunSettings:
    """How patient the caller is (``ScriptTiming``) and which model plays and judges."""

    timing: ScriptTiming
    model: EvalModel


class CallerVoice:
    """The caller's lines, synthesized locally with espeak-ng in the line's language."""

    def __init__(self) -> None:
        self._tts: TtsEngine | None = None

    async def speak(self, text: str, language: str) -> bytes:
        """μ-law 8 kHz audio of ``text`` with a short lead-in of silence."""
        if self._tts is None:
            # Imported here: espeak-ng loads only when a scenario speaks.
            from aybiza.providers.tts.espeak import EspeakTts

            self._tts = EspeakTts()
        voice = VoiceOptions(model=language.lower(), language=language)
        return silence(LEAD_IN_MS) + await self._tts.synthesize(text, voice)

    async def aclose(self) -> None:
        """Release espeak-ng."""
        if self._tts is not None:
            await self._tts.aclose()


class SuiteRunner:
    """Runs the scenarios of one suite against one target, one call at a time."""

    def __init__(
        self, spec: EvalSpec, access: ServerAccess, target: CallTarget, settings: RunSettings
    ) -> None:
        self.spec = spec
        self._access = access
        self._target = target
        self._settings = settings
        self._voice = CallerVoice()
        self._judge: SaidJudge = (
            LlmJudge(settings.model) if spec.judge == "llm" else SimilarityJudge()
        )

    def new_result(self) -> SuiteResult:
        """The suite's result, before any scenario ran."""
        return SuiteResult(
            name=self.spec.name,
            digest=suite_digest(self.spec),
            target=f"{self._target.description} at {self._access.base_url}",
            agent_id=self._target.agent_id,
            agent_version=self._target.version,
        )

    def skip_reason(self, scenario: Scenario) -> str | None:
        """Why ``scenario`` cannot run here (it needs a model and none is configured)."""
        model = self._settings.model
        if model.available:
            return None
        if scenario.simulated:
            return (
                f"its caller is a persona played by a language model, and "
                f"{model.unavailable_reason}"
            )
        if self.spec.judge == "llm" and scenario.expect.said:
            return f"its 'said' checks use the LLM judge, and {model.unavailable_reason}"
        return None

    async def run(self, scenario: Scenario, progress: Progress) -> ScenarioResult:
        """Place the scenario's call and check it."""
        reason = self.skip_reason(scenario)
        if reason is not None:
            return ScenarioResult(scenario.name, "skipped", skipped_reason=reason)
        started = time.monotonic()
        result = ScenarioResult(scenario.name, "failed")
        try:
            seen = await self._call(scenario, progress)
        except (SimulatorError, CallRecordError, OSError) as exc:
            result.errors.append(str(exc))
        except Exception as exc:  # an engine or the eval model failing: report, go on
            result.errors.append(f"{type(exc).__name__}: {exc}")
        else:
            result.call_sid = seen.call_sid
            result.transcript = [(line.speaker, line.text) for line in seen.record.transcript]
            result.latencies_ms = seen.latencies_ms
            result.engines = {k: v for k, v in seen.record.engines.items() if k != "reason"}
            agent = seen.record.agent
            result.agent_id = str(agent["id"]) if agent.get("id") else None
            result.agent_version = str(agent["version"]) if agent.get("version") else None
            progress("checking", False)
            result.checks = await check_scenario(self.spec, scenario, seen, self._judge)
            if not result.failures:
                result.status = "passed"
        result.duration_s = round(time.monotonic() - started, 2)
        return result

    async def _call(self, scenario: Scenario, progress: Progress) -> Observation:
        access = self._access
        progress(f"calling {self._target.number}", False)
        call = await SimulatedCall.dial(
            access.base_url, to=self._target.number, auth_token=access.auth_token
        )
        if call.ended:
            raise SimulatorError(
                f"the server closed the media stream at once (code {call.close_code}, "
                f"reason {call.close_reason!r})"
            )
        try:
            if scenario.caller is not None:
                steps = [await self._step(step, scenario.language) for step in scenario.caller]
                outcome = await run_script(call, steps, self._settings.timing, progress)
                latencies = [_ms(step.latency_s) for step in outcome.steps]
                problems = list(outcome.problems)
            else:
                latencies, problems = await self._persona_call(call, scenario, progress)
        finally:
            await call.hangup()
        progress("reading the call record", False)
        record = await fetch_call_record(
            access.base_url, call.call_sid, access.api_key, settle_s=RECORD_SETTLE_S
        )
        if scenario.expect.success is not None:
            record = await self._with_analysis(record)
        return Observation(call.call_sid, record, latencies, problems, list(call.protocol_errors))

    async def _step(self, step: CallerStep, language: str) -> ScriptStep:
        if step.say is not None:
            return SayStep(step.say, await self._voice.speak(step.say, step.language or language))
        assert step.dtmf is not None
        return DtmfStep(step.dtmf)

    async def _persona_call(
        self, call: SimulatedCall, scenario: Scenario, progress: Progress
    ) -> tuple[list[float | None], list[str]]:
        """The persona's conversation: hear the agent out, ask the model for the next line,
        say it, until the model hangs up, the agent does, or ``max_turns`` lines were said."""
        assert scenario.persona is not None
        timing = self._settings.timing
        caller = PersonaCaller(self._settings.model, scenario.persona, scenario.language)
        latencies: list[float | None] = []
        problems: list[str] = []
        try:
            await call.wait_for_agent_audio(timing.answer_timeout_s)
            await call.wait_until_agent_done(
                quiet_ms=timing.quiet_ms, timeout=timing.answer_timeout_s
            )
        except TimeoutError:
            progress("no greeting", True)
        except CallEndedError:
            return latencies, problems
        said = 0
        for _ in range(scenario.max_turns):
            if call.ended:
                break
            conversation = await self._conversation(call.call_sid, said)
            try:
                line = await caller.next_line(conversation)
            except Exception as exc:  # the model failing ends the call, as a failure
                problems.append(f"the simulated caller's model failed: {exc}")
                break
            if line is None:
                progress("the simulated caller hung up", True)
                break
            progress(f"caller: {line}", False)
            try:
                await call.say(await self._voice.speak(line, scenario.language))
                said += 1
                latency = await call.wait_for_agent_audio(timing.answer_timeout_s)
                latencies.append(_ms(latency))
                progress(f"{line} → answered after {latency * 1000:.0f} ms", True)
                await call.wait_until_agent_done(
                    quiet_ms=timing.quiet_ms, timeout=timing.answer_timeout_s
                )
            except TimeoutError as exc:
                latencies.append(None)
                problems.append(f"{line}: {exc}")
                break
            except CallEndedError:
                break
        if not call.ended:
            # As a scripted caller does: a moment on the line for an agent ending the call.
            with contextlib.suppress(TimeoutError):
                await call.wait_until_ended(timing.hangup_grace_ms / 1000)
        return latencies, problems

    async def _conversation(self, call_sid: str, caller_lines: int) -> list[tuple[str, str]]:
        """The transcript so far, once the server wrote the agent's answer to the caller's
        latest line (a few seconds at most; the caller goes on with what there is)."""
        access = self._access
        deadline = time.monotonic() + 5.0
        while True:
            record = await fetch_call_record(access.base_url, call_sid, access.api_key, settle_s=0)
            lines = [(line.speaker, line.text) for line in record.transcript if line.text]
            callers = sum(1 for speaker, _ in lines if speaker == "caller")
            answered = bool(lines) and lines[-1][0] == "agent"
            if (callers >= caller_lines and answered) or time.monotonic() > deadline:
                return lines
            await asyncio.sleep(0.25)

    async def _with_analysis(self, record: CallRecord) -> CallRecord:
        """The record once its post-call analysis is stored (or as it is after a minute)."""
        access = self._access
        deadline = time.monotonic() + ANALYSIS_WAIT_S
        while record.analysis is None and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            record = await fetch_call_record(access.base_url, record.call_sid, access.api_key)
        return record

    async def aclose(self) -> None:
        """Release the caller's voice and the eval model."""
        await self._voice.aclose()
        await self._settings.model.aclose()


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)

"""OpenTelemetry traces of calls: a ``call`` span per call, a ``turn`` span per caller turn
under it, and under each turn the stages it waited on (``stt``, ``llm``, ``tts``, ``tool``),
every one carrying the call id (``aybiza.call_id``) and the turn index (``aybiza.turn_index``).

Spans are exported over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (``configure``,
once per process; the exporter reads the standard ``OTEL_EXPORTER_OTLP_*`` variables, the
provider ``OTEL_TRACES_SAMPLER`` and ``OTEL_RESOURCE_ATTRIBUTES``). Without it no span is ever
created: ``CallTrace`` holds nothing and ``stage`` returns one shared no-op context.

Recognition is timed by the call loop itself (end of speech to final transcript), so its span
is made after the fact with the measured times (``TurnTrace.stage``). The model's stream, each
sentence's synthesis and each tool run inside the turn's task, which runs with the turn span
current (``TurnTrace.active``): their spans are live (``stage``) and children of the turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode, Tracer

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

CALL_ID = "aybiza.call_id"
TURN_INDEX = "aybiza.turn_index"
Attributes = Mapping[str, str | int | float | bool]

_tracer: Tracer | None = None
_provider: TracerProvider | None = None
# The call id and turn index of the turn whose task is running (set by ``TurnTrace.active``).
_scope: ContextVar[Attributes | None] = ContextVar("aybiza_trace_scope", default=None)
_NO_SPAN: contextlib.nullcontext[None] = contextlib.nullcontext()


def configure(endpoint: str | None) -> bool:
    """Export spans to the OTLP/HTTP collector at ``endpoint`` (``OTEL_EXPORTER_OTLP_ENDPOINT``)
    from now on; nothing when it is unset. Returns whether tracing is on."""
    global _tracer, _provider
    if _provider is not None or not endpoint:
        return _provider is not None
    # The SDK is only imported where tracing is wanted.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    service = os.environ.get("OTEL_SERVICE_NAME", "").strip() or "aybiza"
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    # The exporter reads the endpoint (``/v1/traces`` appended), headers and timeout itself.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _provider, _tracer = provider, provider.get_tracer("aybiza")
    return True


def shutdown() -> None:
    """Export what is still queued and stop tracing (the process is stopping)."""
    global _tracer, _provider
    provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()


def enabled() -> bool:
    """Whether spans are being made."""
    return _tracer is not None


def clock_offset_ns() -> int:
    """What to add to a ``time.monotonic()`` reading in nanoseconds to get epoch nanoseconds.
    Read once per turn, so the turn and its stages are placed with the same offset: two reads
    differ by the tens of nanoseconds between them, enough to put a stage before its turn."""
    return time.time_ns() - time.monotonic_ns()


def epoch_ns(monotonic_s: float, offset_ns: int | None = None) -> int:
    """A ``time.monotonic()`` reading as nanoseconds since the epoch (what spans carry)."""
    return (clock_offset_ns() if offset_ns is None else offset_ns) + round(monotonic_s * 1e9)


def stage(
    name: str, **attributes: str | int | float | bool
) -> contextlib.AbstractContextManager[Span | None]:
    """A live span for a stage of the current turn, its child, with the turn's call id and
    index; yields the span (to add what is learnt meanwhile), or None outside a turn or with
    tracing off. Cancellation (a barge-in) marks it ``aybiza.cancelled``, not an error."""
    scope = _scope.get()
    if _tracer is None or scope is None:
        return _NO_SPAN
    return _live(_tracer, name, {**scope, **attributes})


@contextlib.contextmanager
def _live(tracer: Tracer, name: str, attributes: Attributes) -> Iterator[Span]:
    span = tracer.start_span(name, attributes=attributes)
    try:
        with trace.use_span(
            span, end_on_exit=False, record_exception=False, set_status_on_exception=False
        ):
            yield span
    except asyncio.CancelledError:
        span.set_attribute("aybiza.cancelled", True)
        raise
    except Exception as exc:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        raise
    finally:
        span.end()


class TurnTrace:
    """The span of one turn (or nothing, with tracing off)."""

    __slots__ = ("_offset_ns", "_scope", "_span")

    def __init__(self, span: Span | None, scope: Attributes, offset_ns: int | None = None) -> None:
        self._span = span
        self._scope = scope
        self._offset_ns = clock_offset_ns() if offset_ns is None else offset_ns

    def stage(self, name: str, start_s: float, end_s: float, **attributes: str | int) -> None:
        """A stage already over, from its measured monotonic start and end."""
        if self._span is None or _tracer is None:
            return
        span = _tracer.start_span(
            name,
            context=trace.set_span_in_context(self._span, Context()),
            attributes={**self._scope, **attributes},
            start_time=epoch_ns(start_s, self._offset_ns),
        )
        span.end(end_time=epoch_ns(max(end_s, start_s), self._offset_ns))

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Run the turn's work with its span current: ``stage`` spans become its children."""
        if self._span is None:
            yield
            return
        token = _scope.set(self._scope)
        try:
            with trace.use_span(
                self._span, end_on_exit=False, record_exception=False, set_status_on_exception=False
            ):
                yield
        finally:
            _scope.reset(token)

    def end(self, **attributes: str | int | bool) -> None:
        """The turn is settled (answered, interrupted or superseded)."""
        if self._span is not None:
            self._span.set_attributes(attributes)
            self._span.end()
            self._span = None


_NO_TURN = TurnTrace(None, {})


def untraced_turn() -> TurnTrace:
    """The trace of a turn that makes no span (the greeting, or tracing off)."""
    return _NO_TURN


class CallTrace:
    """The ``call`` span of one call: started when its media starts, ended with the call."""

    __slots__ = ("_attributes", "_span", "call_id")

    def __init__(self, call_id: str, **attributes: str) -> None:
        self.call_id = call_id
        self._attributes = attributes
        self._span: Span | None = None

    def start(self) -> None:
        if _tracer is not None:
            # A root span: whatever request started the call is not its parent.
            self._span = _tracer.start_span(
                "call", context=Context(), attributes={CALL_ID: self.call_id, **self._attributes}
            )

    def turn(
        self, index: int, speech_end_s: float, heard_s: float | None, stt_engine: str
    ) -> TurnTrace:
        """The span of turn ``index``, from the caller's end of speech (monotonic), with its
        ``stt`` stage up to the final transcript at ``heard_s`` (None: digits keyed in)."""
        if self._span is None or _tracer is None:
            return _NO_TURN
        scope: Attributes = {CALL_ID: self.call_id, TURN_INDEX: index}
        offset_ns = clock_offset_ns()
        span = _tracer.start_span(
            "turn",
            context=trace.set_span_in_context(self._span, Context()),
            attributes={**scope, "aybiza.input": "keypad" if heard_s is None else "speech"},
            start_time=epoch_ns(speech_end_s, offset_ns),
        )
        turn = TurnTrace(span, scope, offset_ns)
        if heard_s is not None:
            turn.stage("stt", speech_end_s, heard_s, **{"aybiza.engine": stt_engine})
        return turn

    def stage(self, name: str, start_s: float, end_s: float) -> None:
        """A stage of the call outside any turn (the greeting), already over."""
        if self._span is not None:
            TurnTrace(self._span, {CALL_ID: self.call_id}).stage(name, start_s, end_s)

    def end(self, reason: str) -> None:
        if self._span is not None:
            self._span.set_attribute("aybiza.ended_reason", reason)
            self._span.end()
            self._span = None

"""The end-of-call report: transcript, then per turn the latency the caller felt beside the
server's own breakdown of where that time went."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aybiza.simulator.call_record import CallRecord, TurnTimings
from aybiza.simulator.script import ScriptOutcome
from aybiza.simulator.scripted_call import ScriptedCall

_MISSING = "[dim]-[/dim]"
_CARRIER_NAMES = {"twilio": "Twilio", "sip": "a SIP phone"}


@dataclass(frozen=True, slots=True)
class TurnRow:
    """One row of the turns table: the client's measurement and the server's, when known.
    ``caller`` and ``agent`` are rich markup (their text escaped)."""

    caller: str
    agent: str
    client_latency_s: float | None
    timings_ms: TurnTimings | None


def turn_rows(outcome: ScriptOutcome, record: CallRecord | None) -> list[TurnRow]:
    """Pair the client's steps with the server's turns, in order.

    The server's first turn counts as the greeting when it has no caller text; every other
    server turn takes the next client step. Steps the server did not record keep their row.
    """
    greeting: TurnRow | None = TurnRow("(greeting)", "", outcome.greeting_latency_s, None)
    steps = iter(outcome.steps)
    rows: list[TurnRow] = []
    for position, turn in enumerate(record.turns if record else []):
        agent = escape(turn.agent_text)
        if turn.interrupted:
            agent += " [yellow](interrupted)[/yellow]"
        if position == 0 and not turn.user_text:
            rows.append(TurnRow("(greeting)", agent, outcome.greeting_latency_s, turn.timings_ms))
            greeting = None
            continue
        step = next(steps, None)
        caller = escape(turn.user_text or (step.label if step else ""))
        rows.append(TurnRow(caller, agent, step.latency_s if step else None, turn.timings_ms))
    rows.extend(TurnRow(escape(step.label), "", step.latency_s, None) for step in steps)
    if greeting is not None and greeting.client_latency_s is not None:
        rows.insert(0, greeting)
    return rows


def _ms(value_ms: float | None) -> str:
    return _MISSING if value_ms is None else f"{value_ms:.0f} ms"


def _seconds_as_ms(value_s: float | None) -> str:
    return _MISSING if value_s is None else f"{value_s * 1000:.0f} ms"


def render_report(
    console: Console,
    call: ScriptedCall,
    outcome: ScriptOutcome,
    record: CallRecord | None,
    record_note: str | None = None,
) -> None:
    """Print the report for a finished call; ``record_note`` says why ``record`` is missing."""
    ended_by = "the agent hung up" if call.closed_by_server else "the caller hung up"
    console.print(f"\n[bold]Call {escape(call.call_sid)}[/bold]: {ended_by}")
    if record is not None:
        ended = record.ended_reason or "not recorded"
        console.print(escape(f"status {record.status}, ended: {ended}"))
        if record.engines:
            engines = ", ".join(f"{k}={v}" for k, v in record.engines.items() if k != "reason")
            reason = record.engines.get("reason")
            console.print(escape(f"engines: {engines}" + (f" ({reason})" if reason else "")))
        _print_transcript(console, record)
    elif record_note:
        console.print(
            f"[yellow]{escape(record_note)}[/yellow]; showing only what the caller measured"
        )
    _print_turns(console, turn_rows(outcome, record), with_server=record is not None)
    for note in [outcome.greeting_note, *(f"not said: {u}" for u in outcome.unsaid)]:
        if note:
            console.print(f"[yellow]{escape(note)}[/yellow]")
    rejecting = _CARRIER_NAMES[call.carrier]
    for error in call.protocol_errors:
        console.print(f"[yellow]agent message {rejecting} would reject: {escape(error)}[/yellow]")
    for problem in outcome.problems:
        console.print(f"[red]✗ {escape(problem)}[/red]")


def _print_transcript(console: Console, record: CallRecord) -> None:
    if not record.transcript:
        console.print("[dim]no transcript recorded[/dim]")
        return
    table = Table(title="Transcript", show_lines=False)
    table.add_column("speaker", style="bold")
    table.add_column("text")
    for line in record.transcript:
        style = "cyan" if line.speaker == "agent" else "green"
        table.add_row(f"[{style}]{escape(line.speaker)}[/{style}]", escape(line.text))
    console.print(table)


def _print_turns(console: Console, rows: list[TurnRow], *, with_server: bool) -> None:
    table = Table(title="Turns (latency after the end of the caller's speech)")
    table.add_column("#", justify="right")
    # The words are in the transcript above; this table is about time, so it stays narrow.
    table.add_column("caller", max_width=24, no_wrap=True, overflow="ellipsis")
    table.add_column("voice-to-voice\n(caller side)", justify="right", style="bold")
    if with_server:
        for heading in ("STT\nfinal", "LLM 1st\ntoken", "TTS 1st\naudio", "1st audio\nsent"):
            table.add_column(heading, justify="right")
        table.add_column("platform\nadded", justify="right", style="magenta")
    for number, row in enumerate(rows, start=1):
        cells = [str(number), row.caller]
        cells.append(_seconds_as_ms(row.client_latency_s))
        if with_server:
            t = row.timings_ms or TurnTimings()
            cells += [
                _ms(t.stt_final),
                _ms(t.llm_first_token),
                _ms(t.tts_first_audio),
                _ms(t.first_audio_sent),
                _ms(t.platform_added),
            ]
        table.add_row(*cells)
    console.print(table)

"""``aybiza call``: phone an agent as a simulated Twilio caller, or over SIP and RTP with
``--sip URI``, and report what happened.

The CLI registers this with ``app.command("call")(call)``. Spoken lines come first (``--say``
in order, synthesized locally), then recorded ones (``--wav`` in order), then ``--dtmf``: click
gives each option's values separately, so the interleaving on the command line is not known.
Both carriers run the same script and print the same report; the call record is fetched from
``--url`` by the call's id at its carrier (Twilio's CallSid, or the SIP Call-ID).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from aybiza.simulator.call_record import (
    CallRecord,
    CallRecordError,
    demo_key_file,
    fetch_call_record,
    resolve_api_key,
)
from aybiza.simulator.dialers import Dialer, SipDialer, TwilioDialer
from aybiza.simulator.report import render_report
from aybiza.simulator.script import DtmfStep, SayStep, ScriptStep, ScriptTiming, run_script
from aybiza.simulator.twilio_client import DEFAULT_CALLER
from aybiza.simulator.wav import WavFormatError, read_wav_as_mulaw, write_wav
from aybiza.simulator.wire import DTMF_DIGITS

DEFAULT_URL = "http://127.0.0.1:8080"
DEMO_NUMBER = "+15005550006"


def call(
    url: Annotated[str, typer.Option("--url", help="Base URL of the AYBIZA server.")] = DEFAULT_URL,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Number to call through Twilio (the demo agent's by default)."),
    ] = None,
    sip: Annotated[
        str | None,
        typer.Option(
            "--sip",
            help="Call this SIP URI over SIP and RTP instead of as Twilio, e.g. "
            "sip:+15005550006@127.0.0.1:5060 (;transport=tcp for TCP).",
        ),
    ] = None,
    sip_username: Annotated[
        str | None,
        typer.Option("--sip-username", help="Digest username, when the SIP trunk asks for one."),
    ] = None,
    sip_password: Annotated[
        str | None,
        typer.Option("--sip-password", help="Digest password, with --sip-username."),
    ] = None,
    from_: Annotated[str, typer.Option("--from", help="Caller's number.")] = DEFAULT_CALLER,
    say: Annotated[
        list[str] | None,
        typer.Option("--say", help="A line to speak (synthesized with espeak); repeatable."),
    ] = None,
    wav: Annotated[
        list[Path] | None,
        typer.Option(
            "--wav",
            help="A recorded line to speak (16-bit WAV, any rate), after the --say lines; "
            "repeatable.",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
    dtmf: Annotated[
        str | None, typer.Option("--dtmf", help="Keys to press after the spoken lines.")
    ] = None,
    save: Annotated[
        Path | None, typer.Option("--save", help="Write what the caller heard to this WAV file.")
    ] = None,
    auth_token: Annotated[
        str | None,
        typer.Option(
            "--auth-token",
            envvar="TWILIO_AUTH_TOKEN",
            help="Twilio auth token used to sign the webhook and the stream.",
        ),
    ] = None,
    account_sid: Annotated[
        str | None,
        typer.Option(
            "--account-sid",
            envvar="TWILIO_ACCOUNT_SID",
            help="AccountSid sent with the webhook, as Twilio sends its account's "
            "(default: a random one).",
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            help="API key to read the call record "
            "(default: $AYBIZA_API_KEY, then demo.key in $AYBIZA_DATA_DIR or ./data).",
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=0.1,
            help="Seconds to wait for the agent at each step (to start answering, then to finish).",
        ),
    ] = 30.0,
) -> None:
    """Call an agent the way Twilio would (or over SIP with --sip) and print the transcript
    and per-turn latency."""
    if dtmf is not None and (not dtmf or set(dtmf) - DTMF_DIGITS):
        raise typer.BadParameter(
            f"expected keys among 0-9, * and #, received {dtmf!r}", param_hint="--dtmf"
        )
    if sip is not None and to is not None:
        raise typer.BadParameter(
            "--sip names the number in its URI (sip:+15005550006@host:port); leave out --to",
            param_hint="--to",
        )
    if (sip_username is None) != (sip_password is None):
        raise typer.BadParameter(
            "--sip-username and --sip-password go together", param_hint="--sip-password"
        )
    recorded: list[SayStep] = []
    for path in wav or []:
        try:
            recorded.append(SayStep(path.name, read_wav_as_mulaw(path)))
        except WavFormatError as exc:
            raise typer.BadParameter(str(exc), param_hint="--wav") from exc
    console = Console()
    exit_code = asyncio.run(
        _call(
            console,
            url=url,
            dialer=SipDialer(sip, from_, sip_username, sip_password, timeout)
            if sip is not None
            else TwilioDialer(url, to or DEMO_NUMBER, from_, auth_token, account_sid),
            lines=list(say or []),
            recorded=recorded,
            dtmf=dtmf,
            save=save,
            api_key=api_key,
            timeout_s=timeout,
        )
    )
    if exit_code:
        raise typer.Exit(exit_code)


async def _synthesize(lines: list[str]) -> list[SayStep]:
    if not lines:
        return []
    # Imported here: the TTS engine loads espeak-ng, which only --say needs.
    from aybiza.agents.speech import VoiceOptions
    from aybiza.providers.tts.espeak import EspeakTts

    tts = EspeakTts()
    try:
        return [SayStep(line, await tts.synthesize(line, VoiceOptions())) for line in lines]
    finally:
        await tts.aclose()


async def _call(
    console: Console,
    *,
    url: str,
    dialer: Dialer,
    lines: list[str],
    recorded: list[SayStep],
    dtmf: str | None,
    save: Path | None,
    api_key: str | None,
    timeout_s: float,
) -> int:
    try:
        with console.status("synthesizing the caller's lines"):
            spoken = await _synthesize(lines)
    except Exception as exc:  # any engine failure: say so and stop before dialing
        console.print(f"[red]✗ could not synthesize --say lines: {escape(str(exc))}[/red]")
        return 1
    steps: list[ScriptStep] = [*spoken, *recorded]
    if dtmf:
        steps.append(DtmfStep(dtmf))

    with console.status(f"calling {dialer.description}") as status:
        simulated = await dialer(console)
        if simulated is None:
            return 1

        def progress(message: str, done: bool) -> None:
            if done:
                console.print(f"  {message}", markup=False, highlight=False)
            else:
                status.update(message)

        timing = ScriptTiming(answer_timeout_s=timeout_s)
        try:
            outcome = await run_script(simulated, steps, timing, progress)
        finally:
            await simulated.hangup()

    if save is not None:
        write_wav(save, simulated.played_audio)
        console.print(f"saved what the caller heard to {save}")
    record, note = await _fetch_record(url, simulated.call_sid, api_key)
    render_report(console, simulated, outcome, record, note)
    return 1 if outcome.problems else 0


async def _fetch_record(
    url: str, call_sid: str, api_key: str | None
) -> tuple[CallRecord | None, str | None]:
    key = resolve_api_key(api_key)
    if key is None:
        return None, (
            f"no API key for the call record (--api-key, $AYBIZA_API_KEY or {demo_key_file()})"
        )
    try:
        return await fetch_call_record(url, call_sid, key), None
    except CallRecordError as exc:
        return None, f"no call record: {exc}"

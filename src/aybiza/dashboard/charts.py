"""Charts the server draws as SVG: bars over time, a turn's latency waterfall, a recording's
waveform. Markup only (no inline styles: the pages' content security policy forbids them);
colours come from classes in the dashboard's stylesheet."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

WIDTH = 720


def money(value: object, currency: str = "USD") -> str:
    """``0.0123`` as ``$0.0123``."""
    amount = float(value) if isinstance(value, int | float) else 0.0
    sign = "$" if currency == "USD" else f"{currency} "
    return f"{sign}{amount:,.4f}"


def duration(value: object) -> str:
    """Seconds as ``1m 05s``."""
    if not isinstance(value, int | float):
        return "–"
    seconds = round(float(value))
    return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def bars(points: Sequence[tuple[str, float]], *, title: str, unit: str = "") -> Markup:
    """A bar per point (label, value), labelled with its value, scaled to the largest."""
    height, top, bottom = 200, 16, 40
    inner = height - top - bottom
    peak = max((v for _, v in points), default=0.0) or 1.0
    step = WIDTH / max(len(points), 1)
    body = []
    for i, (label, value) in enumerate(points):
        h = inner * value / peak
        x, y = i * step + step * 0.1, top + inner - h
        body.append(
            f"<g><title>{escape(label)}: {value:g}{escape(unit)}</title>"
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{step * 0.8:.1f}" '
            f'height="{h:.1f}"></rect></g>'
        )
        # At most about a dozen axis labels, so they never overlap.
        if i % max(math.ceil(len(points) / 12), 1) == 0:
            body.append(
                f'<text class="axis" x="{x + step * 0.4:.1f}" y="{height - bottom + 14}" '
                f'text-anchor="middle">{escape(_short(label))}</text>'
            )
    body.append(
        f'<text class="axis" x="0" y="11">max {peak:g}{escape(unit)}</text>'
        f'<line class="baseline" x1="0" x2="{WIDTH}" y1="{top + inner}" y2="{top + inner}"></line>'
    )
    return _svg(height, title, "".join(body))


# A turn's stages in order, with the marks that open and close each (ms after speech end).
WATERFALL = (
    ("STT final", None, "stt_final"),
    ("model first token", "llm_request", "llm_first_token"),
    ("first sentence", "llm_request", "first_sentence"),
    ("TTS first audio", "tts_request", "tts_first_audio"),
    ("first audio sent", None, "first_audio_sent"),
)


def waterfall(timings: Mapping[str, Any]) -> Markup:
    """One row per stage of a turn: a bar from where it started to where it ended (ms after
    the caller stopped speaking), and the platform-added time in the title."""
    rows = []
    for label, start, end in WATERFALL:
        a = _ms(timings.get(start)) if start else 0.0
        b = _ms(timings.get(end))
        if a is not None and b is not None:
            rows.append((label, a, b))
    if not rows:
        return Markup('<p class="muted">No timings recorded for this turn.</p>')
    span = max(b for _, _, b in rows) or 1.0
    left, row_h = 150, 20
    usable = WIDTH - left - 70
    body = []
    for i, (label, a, b) in enumerate(rows):
        y = i * row_h + 4
        x = left + usable * a / span
        w = max(usable * (b - a) / span, 1.0)
        body.append(
            f'<text class="axis" x="0" y="{y + 13}">{escape(label)}</text>'
            f'<rect class="stage stage-{i}" x="{x:.1f}" y="{y}" width="{w:.1f}" height="14">'
            f"<title>{escape(label)}: {a:g}–{b:g} ms</title></rect>"
            f'<text class="axis" x="{x + w + 4:.1f}" y="{y + 13}">{b:g} ms</text>'
        )
    added = _ms(timings.get("platform_added"))
    title = "Turn waterfall" + (f" (platform added {added:g} ms)" if added is not None else "")
    return _svg(len(rows) * row_h + 8, title, "".join(body))


def waveform(peaks: Sequence[tuple[float, float]], *, title: str) -> Markup:
    """A two-channel waveform: each channel's peak per column, caller above, agent below."""
    height = 120
    mid = height / 2
    step = WIDTH / max(len(peaks), 1)
    caller, agent = [], []
    for i, (left, right) in enumerate(peaks):
        x = i * step
        caller.append(f"M{x:.1f} {mid - 2 - left * (mid - 4):.1f}V{mid - 2:.1f}")
        agent.append(f"M{x:.1f} {mid + 2:.1f}V{mid + 2 + right * (mid - 4):.1f}")
    body = (
        f'<path class="wave caller" d="{"".join(caller)}"></path>'
        f'<path class="wave agent" d="{"".join(agent)}"></path>'
    )
    return _svg(height, title, body)


def _svg(height: int, title: str, body: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{body}</svg>"
    )


def _short(label: str) -> str:
    # "2026-01-05T10:00:00Z" -> "10:00" (hours) or "01-05" (days).
    if len(label) == 20 and label.endswith("Z"):
        return label[11:16] if label[11:16] != "00:00" else label[5:10]
    return label[:14]


def _ms(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None

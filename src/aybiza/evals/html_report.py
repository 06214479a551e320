"""The run as one self-contained HTML page: inline CSS, no script, nothing fetched from
anywhere, so it opens the same from a CI artifact, a mail attachment or a laptop offline.
Every text from a call is escaped."""

from __future__ import annotations

from html import escape
from pathlib import Path

from aybiza.evals.results import ScenarioResult, SuiteResult

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:64rem;
padding:0 1rem;color:#1d2327}
h1{font-size:1.5rem;margin-bottom:.2rem}.meta{color:#5f6b73;font-size:.9rem}
.totals span{display:inline-block;margin-right:1rem;font-weight:600}
.passed{color:#17703a}.failed{color:#b3261e}.skipped{color:#8a6d00}
section{border:1px solid #d6dade;border-radius:6px;margin:1rem 0;padding:.6rem 1rem}
section h2{font-size:1.1rem;margin:.2rem 0}
table{border-collapse:collapse;width:100%;margin:.4rem 0;font-size:.92rem}
td,th{border-bottom:1px solid #eceff1;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{color:#5f6b73;font-weight:600}.who{width:5rem;font-weight:600}
.agent{color:#0b57d0}.caller{color:#17703a}code{font-size:.85rem}
"""


def html_report(result: SuiteResult) -> str:
    """The page for ``result``."""
    totals = " ".join(
        f'<span class="{status}">{result.count(status)} {status}</span>'
        for status in ("passed", "failed", "skipped")
    )
    agent = (
        f" · agent <code>{escape(result.agent_id)}</code> {escape(result.agent_version or '')}"
        if result.agent_id
        else ""
    )
    sections = "\n".join(_scenario(s) for s in result.scenarios)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(result.name)}: eval report</title><style>{_CSS}</style></head>
<body><h1>{escape(result.name)}</h1>
<p class="meta">{escape(result.target)}{agent} · suite <code>{escape(result.digest)}</code>
· {result.duration_s:.1f} s</p>
<p class="totals">{totals}</p>
{sections}
</body></html>
"""


def write_html(result: SuiteResult, path: Path) -> None:
    """Write ``html_report(result)`` to ``path`` (its folder created when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html_report(result), encoding="utf-8")


def _scenario(scenario: ScenarioResult) -> str:
    mark = {"passed": "✓", "failed": "✗", "skipped": "○"}[scenario.status]
    call = f" · call <code>{escape(scenario.call_sid)}</code>" if scenario.call_sid else ""
    parts = [
        f'<section id="{escape(scenario.name)}"><h2 class="{scenario.status}">{mark} '
        f"{escape(scenario.name)}</h2>",
        f'<p class="meta">{scenario.status} · {scenario.duration_s:.1f} s{call}</p>',
    ]
    if scenario.skipped_reason:
        parts.append(f'<p class="skipped">Skipped: {escape(scenario.skipped_reason)}</p>')
    parts += [f'<p class="failed">{escape(error)}</p>' for error in scenario.errors]
    if scenario.checks:
        rows = "".join(
            f'<tr><td class="{"passed" if c.passed else "failed"}">{"✓" if c.passed else "✗"}'
            f"</td><td><code>{escape(c.check)}</code></td><td>{escape(c.detail)}</td></tr>"
            for c in scenario.checks
        )
        parts.append(f"<table><tr><th></th><th>check</th><th>found</th></tr>{rows}</table>")
    if scenario.transcript:
        rows = "".join(
            f'<tr><td class="who {escape(speaker)}">{escape(speaker)}</td>'
            f"<td>{escape(text)}</td></tr>"
            for speaker, text in scenario.transcript
        )
        parts.append(f"<table><tr><th>who</th><th>said</th></tr>{rows}</table>")
    if scenario.latencies_ms:
        cells = "".join(
            f"<td>{'-' if ms is None else f'{ms:.0f} ms'}</td>" for ms in scenario.latencies_ms
        )
        heads = "".join(f"<th>turn {i}</th>" for i in range(1, len(scenario.latencies_ms) + 1))
        parts.append(
            f"<table><tr><th>voice-to-voice</th>{heads}</tr><tr><td></td>{cells}</tr></table>"
        )
    parts.append("</section>")
    return "\n".join(parts)

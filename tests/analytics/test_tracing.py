"""Tracing costs nothing when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is unset: the SDK and the
exporter are never imported and no span is made (``tests/e2e/test_tracing.py`` shows a call's
spans when it is set)."""

from __future__ import annotations

import os
import subprocess
import sys

_WITHOUT_ENDPOINT = """
import sys
from aybiza.analytics import tracing
from aybiza.app import create_app
from aybiza.pipeline.session import CallSession
create_app()
assert tracing.configure(None) is False and not tracing.enabled()
trace = tracing.CallTrace("call-1")
trace.start()
turn = trace.turn(1, 0.0, 0.1, "pocketsphinx")
with turn.active(), tracing.stage("llm") as span:
    assert span is None
turn.end()
trace.end("caller-hangup")
print([m for m in sys.modules if m.startswith(("opentelemetry.sdk", "opentelemetry.exporter"))])
"""


def test_without_an_endpoint_the_sdk_is_never_loaded_and_no_span_is_made() -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_ENDPOINT],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"

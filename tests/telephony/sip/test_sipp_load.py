"""200 concurrent SIP calls from SIPp to the demo agent: every INVITE answered 200, every BYE
200, no 5xx, and 200 call records that overlapped and completed.

Behind the ``sip_load`` marker (``make bench`` runs it; the normal suite leaves it out): it
takes most of a minute on a shared two-core machine. It needs PostgreSQL
(``AYBIZA_TEST_DATABASE_URL``, as ``.ci/run`` sets): with SQLite, which takes one writer at a
time, 200 call set-ups at once wait past SQLite's 15 s lock timeout and are refused 500.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from tests.api.databases import PG_ENV, create_database
from tests.telephony.sip.sip_server import Record, SipServer, sip_server
from tests.telephony.sip.sipp_peer import Sipp, sipp_binary

from aybiza.agents.demo import DEMO_PHONE_NUMBER

CALLS = 200
pytestmark = pytest.mark.sip_load
NEEDS_POSTGRES = (
    f"200 concurrent calls need PostgreSQL: set {PG_ENV}="
    "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres (as .ci/run does)"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SipServer]:
    sipp_binary()
    if not os.environ.get(PG_ENV):
        if os.environ.get("CI") == "true":
            pytest.fail(NEEDS_POSTGRES)
        pytest.skip(NEEDS_POSTGRES)
    data_dir = tmp_path_factory.mktemp("sipp-load")
    database = create_database("postgresql", data_dir)
    try:
        with sip_server(
            data_dir,
            rtp_pairs=CALLS + 20,
            AYBIZA_DATABASE_URL=database.url,
            AYBIZA_DEFAULT_MAX_CONCURRENT_CALLS=str(CALLS + 50),
        ) as running:
            yield running
    finally:
        database.drop()


def overlap(records: list[Record]) -> int:
    """The most calls that were in progress at the same moment."""
    edges: list[tuple[datetime, int]] = []
    for record in records:
        edges.append((datetime.fromisoformat(record["started_at"]), 1))
        edges.append((datetime.fromisoformat(record["ended_at"]), -1))
    most = current = 0
    for _, step in sorted(edges):
        current += step
        most = max(most, current)
    return most


async def test_200_concurrent_sipp_calls_are_answered_and_complete(
    server: SipServer, tmp_path: Path
) -> None:
    # SIPp's built-in uac: INVITE (PCMU), ACK, a 20 s pause, BYE; 20 new calls a second, so
    # all 200 are up together for about 10 s (a loaded machine delays some starts).
    caller = Sipp(
        tmp_path, "uac", server.sip_target, "-s", DEMO_PHONE_NUMBER,
        "-l", str(CALLS), "-m", str(CALLS), "-r", "20", "-d", "20000", timeout_s=120,
    )  # fmt: skip
    run = await caller.run()
    assert run.returncode == 0, run.report
    statuses = run.statuses()
    assert statuses.count(200) == 2 * CALLS, run.report  # every INVITE and every BYE
    assert not [status for status in statuses if status >= 300]
    sids = {line.split(":", 1)[1].strip() for line in run.messages.splitlines()
            if line.lower().startswith("call-id:")}  # fmt: skip
    assert len(sids) == CALLS
    ended: list[Record] = []
    for call in await server.calls():
        if call["call_sid"] in sids:
            ended.append(await server.ended(call["id"], timeout_s=60))
    assert len(ended) == CALLS
    outcomes = Counter((r["status"], r["ended_reason"]) for r in ended)
    assert outcomes == {("completed", "caller-hangup"): CALLS}, outcomes
    assert overlap(ended) == CALLS

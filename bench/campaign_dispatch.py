"""Campaign dispatch: how fast the dispatcher claims and places a campaign's calls and records
their outcomes, beyond any pacing (its clock is stepped past each call's gap).

Runs the real server (SQLite) against the fake Twilio REST API, starts a
campaign of ``--contacts`` contacts with ``--concurrency`` calls at once, and drives one
dispatcher with an injected clock: each pass places calls until the concurrency is full, then
every placed call is ended busy through Twilio's status callback and the next pass records the
outcomes. Prints calls placed per second, outcomes recorded per second and how many times any
number was dialled (must be once per attempt).

    PYTHONPATH=. python -m bench.campaign_dispatch --contacts 500 --concurrency 50
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.api.campaign_helpers import ALWAYS, tenant_with_number
from tests.api.carrier import PLATFORM_SID, PLATFORM_TOKEN, Carrier, running_fake_twilio
from tests.api.conftest import serve_api
from tests.fakes.twilio_resources import FakeCall

from aybiza.config import Settings
from aybiza.services.campaign_dispatcher import CampaignDispatcher


def _calls(carrier: Carrier) -> list[FakeCall]:
    async def snapshot() -> list[FakeCall]:
        return list(carrier.fake.calls.values())

    return carrier.run_fake(snapshot())


def run(contacts: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as scratch, running_fake_twilio() as (fake, background):

        def with_twilio(settings: Settings, base_url: str) -> Settings:
            return replace(
                settings,
                public_url=base_url,
                twilio_account_sid=PLATFORM_SID,
                twilio_auth_token=PLATFORM_TOKEN,
                twilio_api_url=fake.url,
                campaign_poll_s=3600.0,
            )

        with serve_api("sqlite", Path(scratch), with_twilio) as server:
            carrier = Carrier(server, fake, background)
            http, number = tenant_with_number(carrier)
            body = {
                "name": "bench",
                "from_number_id": number["id"],
                "pacing": {"calls_per_minute": 600, "max_concurrent_calls": concurrency},
                "calling_window": ALWAYS,
                "retry": {"max_attempts": 1},
                "contacts": [{"number": f"+1212555{i:04d}"} for i in range(contacts)],
            }
            created = http.post("/v1/campaigns", json=body)
            assert created.status_code == 201, created.text
            state = server.app.state
            server.run(state.campaign_dispatcher.stop())
            dispatcher = CampaignDispatcher(
                state.database, state.outbound_calls, owner="bench", poll_s=0.01
            )
            clock = datetime.now(UTC) + timedelta(seconds=1)
            placing = recording = 0.0
            placed = 0
            ended: set[str] = set()
            campaign = f"/v1/campaigns/{created.json()['id']}"
            while http.get(campaign).json()["status"] != "completed":
                start = time.perf_counter()
                batch = 0
                while True:  # fill the concurrency; the clock steps past each call's gap
                    clock += timedelta(seconds=0.1)
                    got = server.run(dispatcher.tick(clock), timeout=300)
                    batch += got
                    if got == 0:
                        break
                placing += time.perf_counter() - start
                placed += batch
                for call in _calls(carrier):
                    if call.sid not in ended:
                        ended.add(call.sid)
                        carrier.run_fake(fake.hang_up(call.sid, "busy"))
                start = time.perf_counter()
                server.run(dispatcher.tick(clock), timeout=300)
                recording += time.perf_counter() - start
            dials = Counter(call.to for call in _calls(carrier))
            summary = http.get(campaign).json()
    print(f"contacts {contacts}, concurrency {concurrency}")
    # The server's own dispatcher may have placed a call before it was stopped.
    print(f"placed:   {placed} calls in {placing:.2f} s ({placed / placing:.1f} calls/s)")
    print(f"dialled:  {sum(dials.values())} calls in all")
    print(f"recorded: {len(ended)} outcomes in {recording:.2f} s ({len(ended) / recording:.1f}/s)")
    print(f"most dials of one number: {max(dials.values())}; status {summary['status']}")
    print(f"outcomes: {summary['contacts']['by_outcome']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    run(args.contacts, args.concurrency)


if __name__ == "__main__":
    main()

"""First start: the ``demo`` tenant, owning the demo agent on the demo number, and a key for it
in ``<data dir>/demo.key`` (mode 0600) so ``aybiza call`` and curl work out of the box."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from aybiza.agents.demo import DEMO_AGENT, DEMO_PHONE_NUMBER
from aybiza.security.key_file import read_private_file, write_private_file
from aybiza.security.keys import generate_key, hash_key
from aybiza.security.permissions import Permission
from aybiza.services.agents import checked_agent, insert_agent
from aybiza.store.calls import number_by_e164
from aybiza.store.database import Database
from aybiza.store.models import ApiKey, PhoneNumber, Tenant
from aybiza.store.queries import serialize_bootstrap, tenant_by_name
from aybiza.telephony.provisioning import EXTERNAL

DEMO_TENANT = "demo"
DEMO_KEY_FILE = "demo.key"


@dataclass(frozen=True, slots=True)
class DemoKey:
    """The demo tenant's key and where it is kept; ``created`` on the start that made it."""

    secret: str
    path: Path
    created: bool


async def seed_demo(
    database: Database, data_dir: Path, *, default_max_concurrent_calls: int = 10
) -> DemoKey:
    """Create the demo tenant (agent, number) if missing, and make sure ``demo.key`` holds a
    valid key of it: the file's key is kept while it works, otherwise a new one is written."""
    path = data_dir / DEMO_KEY_FILE
    async with database.writing() as session:
        await serialize_bootstrap(session)
        tenant = await tenant_by_name(session, DEMO_TENANT)
        if tenant is None:
            tenant = Tenant(name=DEMO_TENANT, max_concurrent_calls=default_max_concurrent_calls)
            session.add(tenant)
            await session.flush()
            # The seeded demo records its calls, so a newcomer's first call plays back on the
            # dashboard (the agent JSON itself, used as a template, does not record).
            document, config = checked_agent({**DEMO_AGENT, "recording": {"enabled": True}})
            state = await insert_agent(session, tenant.id, document, config)
            if await number_by_e164(session, DEMO_PHONE_NUMBER) is None:
                session.add(
                    PhoneNumber(
                        tenant_id=tenant.id,
                        e164=DEMO_PHONE_NUMBER,
                        type="twilio",
                        agent_id=state.agent.id,
                        region="us-east-1",
                        provisioning=EXTERNAL,
                        provider_data={},
                    )
                )
        existing = read_private_file(path)
        if existing is not None:
            valid = await session.execute(
                select(ApiKey.id).where(
                    ApiKey.tenant_id == tenant.id,
                    ApiKey.key_hash == hash_key(existing),
                    ApiKey.revoked_at.is_(None),
                )
            )
            if valid.first() is not None:
                return DemoKey(secret=existing, path=path, created=False)
        new = generate_key()
        session.add(
            ApiKey(
                tenant_id=tenant.id,
                name="demo (demo.key)",
                prefix=new.prefix,
                key_hash=new.key_hash,
                scopes=[Permission.ALL.value],
            )
        )
        await session.flush()
        # Written inside the transaction: a process that waits on the lock then finds it valid.
        write_private_file(path, new.secret + "\n", replace=True)
    return DemoKey(secret=new.secret, path=path, created=True)

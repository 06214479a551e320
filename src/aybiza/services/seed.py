"""First start with an empty database: create the demo agent on the demo number."""

from __future__ import annotations

from aybiza.agents.demo import DEMO_AGENT, DEMO_PHONE_NUMBER
from aybiza.agents.schema import validate_agent_config
from aybiza.store import repository
from aybiza.store.database import Database


async def seed_demo_agent(database: Database) -> bool:
    """Create the demo agent bound to ``DEMO_PHONE_NUMBER`` when no agent exists yet."""
    config = validate_agent_config(DEMO_AGENT)
    async with database.session() as session, session.begin():
        if await repository.count_agents(session):
            return False
        await repository.create_agent(
            session,
            name=config.name,
            version=config.version,
            config=dict(DEMO_AGENT),
            number=DEMO_PHONE_NUMBER,
        )
    return True

"""An in-process cache of configuration read at every call's start (numbers, agents, their
versions, tenants' modes), so that a call to a number costs no configuration query.

Staleness is bounded both ways:

- **In this process: none.** Every session of the ``Database`` carries its cache
  (``session.info``); a commit that added, changed or deleted a ``Tenant``, ``Agent``,
  ``AgentVersion`` or ``PhoneNumber`` row (an agent published, a number added, re-routed or
  released, a tenant's mode changed) empties it before the commit's caller goes on. A read
  that began before such a commit and ends after it is not kept (``generation``).
- **Other processes** (``aybiza serve --workers N``, other hosts on one PostgreSQL): an entry
  lives ``CONFIG_TTL_S`` at most, so another process's change is seen within that long; the
  same bound webhook subscriptions have (``store.webhooks.SUBSCRIPTION_TTL_S``).

What must hold exactly across processes is not cached: a tenant's concurrency limit and live
calls are counted on the primary in the admission transaction, and a released number is
checked there too (``services.admission``). Values kept here are immutable snapshots
(frozen dataclasses), never ORM rows, so one call cannot change another's view.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session

from aybiza.store.models import Agent, AgentVersion, PhoneNumber, Tenant

T = TypeVar("T")

# How long another process's configuration change may go unseen here.
CONFIG_TTL_S = 5.0
# Entries kept at most (numbers, versions, tenants of the calls of the last few seconds).
MAX_ENTRIES = 50_000
CONFIGURATION_MODELS = (Tenant, Agent, AgentVersion, PhoneNumber)
# The key of the cache in a session's ``info``; the key of its "changed" mark.
SESSION_KEY = "aybiza_config_cache"
_CHANGED = "aybiza_config_changed"


class ConfigCache:
    """Snapshots of configuration by key, each for ``ttl_s`` at most, emptied by any change to
    configuration committed in this process. ``clock`` is monotonic seconds."""

    def __init__(
        self, ttl_s: float = CONFIG_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        # Bumped by every invalidation: a read that spanned one is not kept.
        self.generation = 0
        self.hits = 0
        self.misses = 0

    async def get(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        """The value under ``key``, loaded by ``load`` (and kept) when absent or expired."""
        now = self._clock()
        found = self._entries.get(key)
        if found is not None and found[0] > now:
            self.hits += 1
            value: T = found[1]
            return value
        self.misses += 1
        generation = self.generation
        value = await load()
        if generation == self.generation and self.ttl_s > 0:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (now + self.ttl_s, value)
        return value

    def invalidate(self) -> None:
        """Configuration changed in this process: forget everything."""
        self.generation += 1
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


@event.listens_for(Session, "before_flush")
def _mark_configuration_changes(session: Session, _flush: object, _instances: object) -> None:
    if SESSION_KEY not in session.info or session.info.get(_CHANGED):
        return
    for rows in (session.new, session.dirty, session.deleted):
        if any(isinstance(row, CONFIGURATION_MODELS) for row in rows):
            session.info[_CHANGED] = True
            return


@event.listens_for(Session, "after_commit")
def _forget_on_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        cache = session.info.get(SESSION_KEY)
        if isinstance(cache, ConfigCache):
            cache.invalidate()


async def cached(cache: ConfigCache | None, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
    """``cache.get(key, load)``, or ``load()`` when there is no cache."""
    if cache is None:
        return await load()
    return await cache.get(key, load)

"""When a campaign may ring a callee: a daily window (``09:00``-``20:00``) on some weekdays, in
the callee's local time.

The callee's time zones come from the number's country and region (``phonenumbers``' time
zone data: ``+1 212`` is America/New_York). A number whose region spans several zones (a mobile
or non-geographic number, a country with many zones) is rung only when the window is open in
every one of them: nobody is called at night because their number did not say where they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as number_zones

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Searching for the next opening in steps this long finds it within a week of windows.
_SEARCH_LIMIT = 32


def time_zones_for(number: str) -> list[str]:
    """The IANA time zones the number may ring in (UTC when the data does not know)."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return ["UTC"]
    zones = [
        zone
        for zone in number_zones.time_zones_for_number(parsed)
        if zone != number_zones.UNKNOWN_TIMEZONE and known_zone(zone)
    ]
    return sorted(set(zones)) or ["UTC"]


def known_zone(name: str) -> bool:
    """True when ``name`` is a time zone this machine's zone data has."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class CallingWindow:
    """Open from ``start`` to ``end`` (local wall-clock; an ``end`` of 24:00 is midnight) on
    ``days`` (``mon``..``sun``)."""

    start: time
    end: time | None
    days: frozenset[int]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CallingWindow:
        """The window as stored on a campaign (``{"start", "end", "days"}``)."""
        end = str(data["end"])
        days = data.get("days") or list(WEEKDAYS)
        assert isinstance(days, list)
        return cls(
            start=time.fromisoformat(str(data["start"])),
            end=None if end == "24:00" else time.fromisoformat(end),
            days=frozenset(WEEKDAYS.index(str(day)) for day in days),
        )

    def open_in(self, now: datetime, zone: str) -> bool:
        """True when the window is open at ``now`` in ``zone``."""
        local = now.astimezone(ZoneInfo(zone))
        if local.weekday() not in self.days:
            return False
        clock = local.time().replace(tzinfo=None)
        return clock >= self.start and (self.end is None or clock < self.end)

    def open_everywhere(self, now: datetime, zones: Sequence[str]) -> bool:
        """True when the window is open at ``now`` in every zone."""
        return all(self.open_in(now, zone) for zone in zones)

    def next_opening(self, now: datetime, zones: Sequence[str]) -> datetime | None:
        """``now`` when open in every zone; else the earliest later instant at which it is
        (None when the zones' windows never overlap)."""
        candidate = now
        for _ in range(_SEARCH_LIMIT):
            if self.open_everywhere(candidate, zones):
                return candidate
            closed = [zone for zone in zones if not self.open_in(candidate, zone)]
            candidate = max(self._opening_in(candidate, zone) for zone in closed)
        return None

    def _opening_in(self, after: datetime, zone: str) -> datetime:
        """The next start of the window in ``zone`` after ``after`` (``after`` itself when the
        window is open there)."""
        tz = ZoneInfo(zone)
        local = after.astimezone(tz)
        for offset in range(8):
            day = local.date() + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            opening = datetime.combine(day, self.start, tzinfo=tz)
            if offset == 0 and self.open_in(after, zone):
                return after
            if opening > local:
                return opening.astimezone(UTC)
        # No allowed day ahead within a week cannot happen with at least one day allowed.
        return (local + timedelta(days=7)).astimezone(UTC)

"""Calling windows in the callee's local time, from the number's region, with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime

from aybiza.services.calling_windows import CallingWindow, time_zones_for

NEW_YORK = "+12125550142"
LOS_ANGELES = "+14155550142"
LONDON = "+442079460321"
WEEKDAYS_9_TO_8 = {"start": "09:00", "end": "20:00", "days": ["mon", "tue", "wed", "thu", "fri"]}


def test_the_time_zone_comes_from_the_number_s_country_and_area() -> None:
    assert time_zones_for(NEW_YORK) == ["America/New_York"]
    assert time_zones_for(LOS_ANGELES) == ["America/Los_Angeles"]
    assert time_zones_for(LONDON) == ["Europe/London"]
    assert time_zones_for("+999123") == ["UTC"]


def test_the_window_is_open_in_one_zone_and_closed_in_another_at_the_same_instant() -> None:
    window = CallingWindow.from_json(WEEKDAYS_9_TO_8)
    # Thursday 2026-12-03 14:30 UTC: 09:30 in New York, 06:30 in Los Angeles.
    now = datetime(2026, 12, 3, 14, 30, tzinfo=UTC)
    assert window.open_everywhere(now, time_zones_for(NEW_YORK))
    assert not window.open_everywhere(now, time_zones_for(LOS_ANGELES))
    opening = window.next_opening(now, time_zones_for(LOS_ANGELES))
    assert opening == datetime(2026, 12, 3, 17, 0, tzinfo=UTC)  # 09:00 in Los Angeles


def test_after_closing_on_friday_the_next_opening_is_monday_morning_local() -> None:
    window = CallingWindow.from_json(WEEKDAYS_9_TO_8)
    # Friday 2026-12-04 21:00 in London (UTC in winter).
    friday_night = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)
    assert window.next_opening(friday_night, ["Europe/London"]) == datetime(
        2026, 12, 7, 9, 0, tzinfo=UTC
    )


def test_a_number_spanning_zones_is_rung_only_when_the_window_is_open_in_all() -> None:
    window = CallingWindow.from_json({"start": "09:00", "end": "20:00", "days": ["thu"]})
    zones = ["America/New_York", "America/Los_Angeles"]
    # 16:00 UTC: 11:00 in New York but 08:00 in Los Angeles.
    now = datetime(2026, 12, 3, 16, 0, tzinfo=UTC)
    assert not window.open_everywhere(now, zones)
    assert window.next_opening(now, zones) == datetime(2026, 12, 3, 17, 0, tzinfo=UTC)


def test_windows_that_never_overlap_have_no_opening() -> None:
    window = CallingWindow.from_json({"start": "09:00", "end": "10:00", "days": ["mon"]})
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    assert window.next_opening(now, ["Asia/Tokyo", "America/Los_Angeles"]) is None


def test_an_end_of_24_00_keeps_the_window_open_until_midnight() -> None:
    window = CallingWindow.from_json({"start": "00:00", "end": "24:00"})
    assert window.open_in(datetime(2026, 12, 6, 23, 59, tzinfo=UTC), "UTC")

"""Cron schedules: fire times across DST changes in two zones, catch-up, bad input."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from headrace.domain.schedules import MAX_TICKS_PER_PASS, ON_TIME, Cron, check, due


def _local_day(fires: list[dt.datetime], zone: str, day: dt.date) -> list[str]:
    z = ZoneInfo(zone)
    return [f.astimezone(z).isoformat() for f in fires if f.astimezone(z).date() == day]


# (zone, spring-forward day, fall-back day)
ZONES = [
    ("Europe/Berlin", dt.date(2024, 3, 31), dt.date(2024, 10, 27)),
    ("America/New_York", dt.date(2024, 3, 10), dt.date(2024, 11, 3)),
]


@pytest.mark.parametrize(("zone", "spring", "fall"), ZONES)
def test_a_0230_daily_schedule_fires_once_on_both_dst_days(
    zone: str, spring: dt.date, fall: dt.date
) -> None:
    cron = Cron("30 2 * * *", zone)
    for day in (spring, fall):
        start = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(12), ZoneInfo(zone))
        fires = cron.upcoming(start, 3)
        on_day = _local_day(fires, zone, day)
        assert len(on_day) == 1, on_day
    # spring forward: 02:30 does not exist, the tick is the first instant after the gap
    start = dt.datetime.combine(spring - dt.timedelta(days=1), dt.time(12), ZoneInfo(zone))
    [tick] = _local_day(cron.upcoming(start, 3), zone, spring)
    assert tick.startswith(f"{spring.isoformat()}T03:00:00")
    # fall back: 02:30 happens twice; the tick is the first, in summer time
    start = dt.datetime.combine(fall - dt.timedelta(days=1), dt.time(12), ZoneInfo(zone))
    [tick] = _local_day(cron.upcoming(start, 3), zone, fall)
    summer = dt.datetime.combine(fall, dt.time(2, 30), ZoneInfo(zone)).utcoffset()
    assert dt.datetime.fromisoformat(tick).utcoffset() == summer


@pytest.mark.parametrize(("zone", "spring", "fall"), ZONES)
def test_the_ticks_of_a_dst_day_are_those_of_the_days_real_hours(
    zone: str, spring: dt.date, fall: dt.date
) -> None:
    hourly = Cron("0 * * * *", zone)
    for day, hours in ((spring, 23), (fall, 25)):
        start = dt.datetime.combine(day, dt.time(0), ZoneInfo(zone)) - dt.timedelta(seconds=1)
        fires = hourly.upcoming(start, 30)
        assert len(_local_day(fires, zone, day)) == hours
        assert len(set(fires)) == len(fires)


def test_the_latest_tick_is_at_or_before_now() -> None:
    cron = Cron("*/15 * * * *", "UTC")
    now = dt.datetime(2024, 1, 1, 10, 15, tzinfo=dt.UTC)
    assert cron.latest_at(now) == now
    assert cron.latest_at(now - dt.timedelta(seconds=1)) == dt.datetime(
        2024, 1, 1, 10, tzinfo=dt.UTC
    )


def test_catchup_after_downtime() -> None:
    cron = Cron("0 * * * *", "UTC")
    first = dt.datetime(2024, 1, 1, 0, tzinfo=dt.UTC)
    now = dt.datetime(2024, 1, 1, 5, 30, tzinfo=dt.UTC)
    after = dt.datetime(2024, 1, 1, 6, tzinfo=dt.UTC)
    every = due(cron, first, now, "all")
    assert every.ticks == [first + dt.timedelta(hours=h) for h in range(6)]
    assert every.next_fire_at == after
    latest = due(cron, first, now, "latest")
    assert latest.ticks == [dt.datetime(2024, 1, 1, 5, tzinfo=dt.UTC)]
    assert latest.next_fire_at == after
    assert due(cron, first, now, "none").ticks == []
    on_time = dt.datetime(2024, 1, 1, 5, tzinfo=dt.UTC) + ON_TIME / 2
    assert due(cron, first, on_time, "none").ticks == [dt.datetime(2024, 1, 1, 5, tzinfo=dt.UTC)]
    assert due(cron, after, now, "all").ticks == []


def test_catching_up_all_goes_on_in_the_next_pass() -> None:
    cron = Cron("* * * * *", "UTC")
    first = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    now = first + dt.timedelta(minutes=MAX_TICKS_PER_PASS + 10)
    one = due(cron, first, now, "all")
    assert len(one.ticks) == MAX_TICKS_PER_PASS
    two = due(cron, one.next_fire_at, now, "all")
    assert two.ticks[0] == one.ticks[-1] + dt.timedelta(minutes=1)
    assert len(two.ticks) == 11


def test_every_problem_of_a_schedule_is_listed() -> None:
    problems = check("61 * * *", "Mars/Olympus", "sometimes", ("body",))
    assert {(p.loc, p.type) for p in problems} == {
        (("body", "cron"), "schedule.bad_cron"),
        (("body", "timezone"), "schedule.bad_timezone"),
        (("body", "catchup"), "schedule.bad_catchup"),
    }
    assert [p.type for p in check("61 * * * *", "UTC", "all", ())] == ["schedule.bad_cron"]
    assert check("30 2 * * 1-5", "Europe/Berlin", "none", ()) == []

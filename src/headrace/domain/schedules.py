"""Cron schedules: a 5-field expression read in an IANA time zone, and which ticks are due.

Fire times are computed by ``cronsim`` on the zone's wall clock and kept in UTC. Across DST
changes a daily schedule fires once a day: on a spring-forward day a time that does not exist
(02:30 in a 02:00 → 03:00 gap) fires at the first instant after the gap; on a fall-back day a
time that happens twice fires at its first occurrence only. Schedules whose fields are
wildcards over the repeated hour (``*/30 * * * *``) fire in both, as their interval says.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from headrace.domain.problems import Loc, Problem

CATCHUP = ("none", "latest", "all")
# How late a tick may start and still count as on time for ``catchup: none``.
ON_TIME = dt.timedelta(seconds=60)
# The most ticks one schedule starts in one pass (``catchup: all`` after a long downtime):
# the rest follow in the next passes.
MAX_TICKS_PER_PASS = 100


@dataclass(frozen=True)
class Cron:
    """A checked cron expression in its time zone."""

    expression: str
    timezone: str

    def after(self, moment: dt.datetime) -> Iterator[dt.datetime]:
        """The fire times strictly after ``moment`` (aware), in UTC, for ever."""
        from zoneinfo import ZoneInfo

        from cronsim import CronSim

        local = moment.astimezone(ZoneInfo(self.timezone))
        for fire in CronSim(self.expression, local):
            yield fire.astimezone(dt.UTC)

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        return next(self.after(moment))

    def latest_at(self, moment: dt.datetime) -> dt.datetime:
        """The last fire time at or before ``moment``, in UTC."""
        from zoneinfo import ZoneInfo

        from cronsim import CronSim

        local = (moment + dt.timedelta(microseconds=1)).astimezone(ZoneInfo(self.timezone))
        return next(iter(CronSim(self.expression, local, reverse=True))).astimezone(dt.UTC)

    def upcoming(self, moment: dt.datetime, count: int) -> list[dt.datetime]:
        found = []
        for fire in self.after(moment):
            found.append(fire)
            if len(found) == count:
                break
        return found


def check(cron: str, timezone: str, catchup: str, loc: Loc) -> list[Problem]:
    """Every problem of a schedule's cron, zone and catch-up, at once."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from cronsim import CronSim, CronSimError

    problems = []
    if len(cron.split()) != 5:
        problems.append(
            Problem(
                (*loc, "cron"),
                f"{cron!r} is not a 5-field cron expression (minute hour day month weekday)",
                "schedule.bad_cron",
            )
        )
    else:
        try:
            CronSim(cron, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
        except CronSimError as err:
            problems.append(Problem((*loc, "cron"), f"{cron!r}: {err}", "schedule.bad_cron"))
    try:
        if not timezone or timezone != timezone.strip():
            raise ValueError
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            Problem(
                (*loc, "timezone"),
                f"{timezone!r} is not an IANA time zone (e.g. Europe/Berlin, UTC)",
                "schedule.bad_timezone",
            )
        )
    if catchup not in CATCHUP:
        problems.append(
            Problem(
                (*loc, "catchup"),
                f"catchup {catchup!r} is not one of {', '.join(CATCHUP)}",
                "schedule.bad_catchup",
            )
        )
    return problems


@dataclass(frozen=True)
class Due:
    """What one pass does with a schedule: the ticks to start now, and the next fire time
    to wait for."""

    ticks: list[dt.datetime]
    next_fire_at: dt.datetime


def due(cron: Cron, next_fire_at: dt.datetime, now: dt.datetime, catchup: str) -> Due:
    """The ticks of a schedule due at ``now``, given the first one not yet handled.

    ``all`` starts every missed tick (at most ``MAX_TICKS_PER_PASS`` a pass, the rest in the
    next), ``latest`` only the newest one, ``none`` only a tick less than ``ON_TIME`` late."""
    if next_fire_at > now:
        return Due([], next_fire_at)
    if catchup == "all":
        ticks = [next_fire_at]
        for fire in cron.after(next_fire_at):
            if fire > now or len(ticks) == MAX_TICKS_PER_PASS:
                return Due(ticks, fire)
            ticks.append(fire)
    latest = max(cron.latest_at(now), next_fire_at)
    on_time = catchup == "latest" or now - latest < ON_TIME
    return Due([latest] if on_time else [], cron.next_after(now))

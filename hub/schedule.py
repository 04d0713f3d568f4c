"""When a connection syncs on its own: an interval (`15m`) or a 5-field cron expression, evaluated in UTC.

`run_schedule` is the timer loop: it runs the job when due, runs a tick missed while the hub was down once
(not once per missed tick), and skips a tick that finds a sync of the same scope already running.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC datetime."""

Sleep = Callable[[float], Awaitable[None]]
"""Waits the given number of seconds."""


class Schedule(Protocol):
    """A rule for when a job runs next."""

    def next_after(self, dt: datetime) -> datetime:
        """The first run time strictly after `dt` (the last run), in UTC."""
        ...


def _utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise ValueError(f"schedules need an aware datetime, got naive {dt.isoformat()}")
    return dt.astimezone(UTC)


@dataclass(frozen=True)
class Interval:
    """Run every `every`, counted from the last run."""

    every: timedelta
    text: str

    def next_after(self, dt: datetime) -> datetime:
        """The last run plus the interval."""
        return _utc(dt) + self.every

    def __str__(self) -> str:
        return self.text


_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_INTERVAL = re.compile(r"([0-9]+)([smhd])")

_MONTHS = {
    name: number
    for number, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_WEEKDAYS = {name: number for number, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_LONGEST_MONTH = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]


_FIELDS = (
    _Field("minute", 0, 59, {}),
    _Field("hour", 0, 23, {}),
    _Field("day-of-month", 1, 31, {}),
    _Field("month", 1, 12, _MONTHS),
    # 7 is Sunday too; folded into 0 after parsing.
    _Field("day-of-week", 0, 7, _WEEKDAYS),
)


@dataclass(frozen=True)
class Cron:
    """A 5-field cron expression (minute hour day-of-month month day-of-week), evaluated in UTC."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    """Cron numbering: 0 is Sunday."""
    either_day: bool
    """Both day fields are restricted, so a day matches when either does (the classic cron rule)."""
    text: str

    def matches(self, dt: datetime) -> bool:
        """Tell whether the expression fires in the minute of `dt`."""
        dt = _utc(dt)
        return (
            dt.minute in self.minutes
            and dt.hour in self.hours
            and dt.month in self.months
            and self._day_matches(dt.date())
        )

    def next_after(self, dt: datetime) -> datetime:
        """The first minute strictly after `dt` that the expression fires in."""
        moment = _utc(dt).replace(second=0, microsecond=0) + timedelta(minutes=1)
        while True:
            if moment.month not in self.months:
                moment = _first_of_next_month(moment)
                continue
            if not self._day_matches(moment.date()):
                moment = _start_of_day(moment) + timedelta(days=1)
                continue
            hour = _first_at_or_after(self.hours, moment.hour)
            if hour is None:
                moment = _start_of_day(moment) + timedelta(days=1)
                continue
            if hour != moment.hour:
                moment = moment.replace(hour=hour, minute=0)
            minute = _first_at_or_after(self.minutes, moment.minute)
            if minute is None:
                moment = moment.replace(minute=0) + timedelta(hours=1)
                continue
            return moment.replace(minute=minute)

    def _day_matches(self, day: date) -> bool:
        in_month = day.day in self.days
        in_week = day.isoweekday() % 7 in self.weekdays
        return (in_month or in_week) if self.either_day else (in_month and in_week)

    def __str__(self) -> str:
        return self.text


def _first_at_or_after(values: tuple[int, ...], value: int) -> int | None:
    index = bisect.bisect_left(values, value)
    return values[index] if index < len(values) else None


def _start_of_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0)


def _first_of_next_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def parse_schedule(text: str) -> Interval | Cron:
    """Read a schedule from config: `<n>s|m|h|d` or a 5-field cron expression; ValueError says what is wrong."""
    parts = text.split()
    if len(parts) == 1 and (interval := _INTERVAL.fullmatch(parts[0].lower())):
        count, unit = int(interval[1]), interval[2]
        if count == 0:
            raise ValueError(f"schedule {text!r}: the interval must be longer than zero")
        return Interval(timedelta(**{_UNITS[unit]: count}), text.strip())
    if len(parts) != 5:
        raise ValueError(
            f"schedule {text!r}: neither an interval (a whole number then s, m, h or d, e.g. 15m) nor a cron "
            f"expression (5 fields: minute hour day-of-month month day-of-week; this has {len(parts)})"
        )
    minutes, hours, days, months, weekdays = (
        _parse_field(part, spec, text) for part, spec in zip(parts, _FIELDS, strict=True)
    )
    # As in Vixie cron, a day field written from `*` (even `*/2`) leaves the other day field in charge.
    either_day = not parts[2].startswith("*") and not parts[4].startswith("*")
    cron = Cron(
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days=frozenset(days),
        months=frozenset(months),
        weekdays=frozenset(day % 7 for day in weekdays),
        either_day=either_day,
        text=" ".join(parts),
    )
    if not either_day and not any(day <= _LONGEST_MONTH[month] for day in days for month in months):
        raise ValueError(f"schedule {text!r}: day-of-month {parts[2]!r} never occurs in month {parts[3]!r}")
    return cron


def _parse_field(part: str, spec: _Field, text: str) -> set[int]:
    def bad(reason: str) -> ValueError:
        return ValueError(f"schedule {text!r}: {spec.name} field {part!r}: {reason}")

    def value(word: str) -> int:
        if word.isascii() and word.isdigit():
            number = int(word)
        elif word.lower() in spec.names:
            number = spec.names[word.lower()]
        else:
            raise bad(f"{word!r} is not a {spec.name}")
        if not spec.low <= number <= spec.high:
            raise bad(f"{number} is out of range {spec.low}-{spec.high}")
        return number

    values: set[int] = set()
    for item in part.split(","):
        span, has_step, step_text = item.partition("/")
        step = 1
        if has_step:
            if not (step_text.isascii() and step_text.isdigit()) or int(step_text) == 0:
                raise bad(f"step {step_text!r} is not a whole number above zero")
            step = int(step_text)
        if span == "*":
            first, last = spec.low, spec.high
        elif "-" in span:
            start, _, end = span.partition("-")
            first, last = value(start), value(end)
            if first > last:
                raise bad(f"range {span!r} runs backwards")
        elif has_step:
            raise bad(f"a step needs a range or * before it, not {span!r}")
        else:
            first = last = value(span)
        values.update(range(first, last + 1, step))
    return values


@dataclass(frozen=True)
class Ticker:
    """Decides when a scheduled job is due from its last run; `since` anchors a job that never ran."""

    schedule: Schedule
    since: datetime

    def next_due(self, last_run: datetime | None, now: datetime) -> datetime:
        """When the job should run next: never in the past, so ticks missed while down collapse into one, now."""
        return max(self._scheduled(last_run), now)

    def due(self, last_run: datetime | None, now: datetime) -> bool:
        """Tell whether the job should run now."""
        return self._scheduled(last_run) <= now

    def _scheduled(self, last_run: datetime | None) -> datetime:
        return self.schedule.next_after(last_run if last_run is not None else self.since)


def _log_skip(tick: datetime) -> None:
    logger.info("skipped the tick at %s: a sync of the same scope is running", tick.isoformat())


async def run_schedule(
    schedule: Schedule,
    job: Callable[[], Awaitable[object]],
    *,
    clock: Clock,
    sleep: Sleep,
    is_running: Callable[[], bool],
    last_run: Callable[[], Awaitable[datetime | None]],
    on_start: bool = False,
    on_skip: Callable[[datetime], None] = _log_skip,
) -> None:
    """Run `job` each time `schedule` makes it due, until the task is cancelled.

    `last_run` reads the scope's latest run (scheduled or not), so a manual sync pushes the next tick out. A tick
    that finds `is_running()` true is skipped and reported to `on_skip`, not queued. A failing job is logged and
    the loop goes on. Cancelling the task while the job runs cancels the job too.
    """
    ticker = Ticker(schedule, since=clock())
    # The last tick this loop ran or skipped, so a skipped or failed tick is not retried at once.
    handled: datetime | None = None

    async def tick(now: datetime) -> datetime:
        if is_running():
            on_skip(now)
            return now
        try:
            await job()
        except Exception:
            logger.exception("the scheduled sync that started at %s failed", now.isoformat())
        return now

    if on_start:
        handled = await tick(clock())
    while True:
        now = clock()
        previous = await last_run()
        if previous is None or (handled is not None and handled > previous):
            previous = handled
        due_at = ticker.next_due(previous, now)
        if due_at > now:
            # Wake and look again rather than run blindly: a manual sync meanwhile moves the next tick.
            await sleep((due_at - now).total_seconds())
            continue
        handled = await tick(now)

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.schedule import Cron, Interval, Schedule, Ticker, parse_schedule, run_schedule

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday


def at(hours: int = 0, minutes: int = 0, seconds: int = 0) -> datetime:
    return T0 + timedelta(hours=hours, minutes=minutes, seconds=seconds)


# Intervals


@pytest.mark.parametrize(
    ("text", "every"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("2d", timedelta(days=2)),
        (" 15M ", timedelta(minutes=15)),
    ],
)
def test_interval_runs_that_long_after_the_last_run(text: str, every: timedelta) -> None:
    schedule = parse_schedule(text)

    assert isinstance(schedule, Interval)
    assert schedule.next_after(T0) == T0 + every


# Cron: examples


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("*/15 * * * *", at(minutes=7, seconds=30), at(minutes=15)),
        ("*/15 * * * *", at(minutes=15), at(minutes=30)),
        ("0 9 * * mon-fri", datetime(2026, 3, 6, 10, tzinfo=UTC), datetime(2026, 3, 9, 9, tzinfo=UTC)),
        ("0 12 * * 5-7", T0, datetime(2026, 3, 6, 12, tzinfo=UTC)),
        ("0 0 * * 7", T0, datetime(2026, 3, 8, tzinfo=UTC)),
        ("0 0 * * sun", T0, datetime(2026, 3, 8, tzinfo=UTC)),
        ("0 0 1 JAN *", T0, datetime(2027, 1, 1, tzinfo=UTC)),
        ("30 2 29 2 *", T0, datetime(2028, 2, 29, 2, 30, tzinfo=UTC)),
        ("5-10/5 1,3 * * *", T0, datetime(2026, 3, 3, 1, 5, tzinfo=UTC)),
        ("59 23 31 12 *", datetime(2026, 12, 31, 23, 59, tzinfo=UTC), datetime(2027, 12, 31, 23, 59, tzinfo=UTC)),
        # Both day fields restricted: either one is enough (Friday the 6th comes before the 15th).
        ("0 0 1,15 * 5", T0, datetime(2026, 3, 6, tzinfo=UTC)),
        # A day field written from * leaves the other in charge: odd days that are Mondays.
        ("0 0 */2 * 1", T0, datetime(2026, 3, 9, tzinfo=UTC)),
        # Feb 29 on a Sunday.
        ("0 0 29 2 */7", T0, datetime(2032, 2, 29, tzinfo=UTC)),
    ],
)
def test_cron_next_run(expression: str, after: datetime, expected: datetime) -> None:
    assert parse_schedule(expression).next_after(after) == expected


def test_cron_next_run_is_given_in_utc_for_any_zone() -> None:
    sydney = datetime(2026, 3, 3, 10, 0, tzinfo=timezone(timedelta(hours=11)))

    assert parse_schedule("30 * * * *").next_after(sydney) == datetime(2026, 3, 2, 23, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("61 * * * *", "minute field '61': 61 is out of range 0-59"),
        ("* 24 * * *", "hour field '24': 24 is out of range 0-23"),
        ("* * 0 * *", "day-of-month field '0': 0 is out of range 1-31"),
        ("* * * 13 *", "month field '13': 13 is out of range 1-12"),
        ("* * * * 8", "day-of-week field '8': 8 is out of range 0-7"),
        ("* * * foo *", "month field 'foo': 'foo' is not a month"),
        ("* * * * mon-xyz", "day-of-week field 'mon-xyz': 'xyz' is not a day-of-week"),
        ("*/0 * * * *", "minute field '*/0': step '0' is not a whole number above zero"),
        ("*/x * * * *", "step 'x'"),
        ("5/2 * * * *", "a step needs a range or * before it"),
        ("10-5 * * * *", "range '10-5' runs backwards"),
        ("1,,2 * * * *", "minute field '1,,2': '' is not a minute"),
        ("0 0 30 feb *", "day-of-month '30' never occurs in month 'feb'"),
        ("* * * *", "this has 4"),
        ("every 15 minutes", "neither an interval"),
        ("15x", "neither an interval"),
        ("0m", "longer than zero"),
        ("", "neither an interval"),
    ],
)
def test_invalid_schedule_names_the_bad_field(text: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_schedule(text)

    assert message in str(error.value)
    assert repr(text) in str(error.value)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        parse_schedule("* * * * *").next_after(datetime(2026, 3, 2, 12))


# Cron: against brute force


@dataclass(frozen=True)
class Field:
    text: str
    values: frozenset[int]


def field(low: int, high: int) -> st.SearchStrategy[Field]:
    """A cron field built from random items, with the values it means worked out independently."""
    number = st.integers(low, high)
    step = st.integers(1, high - low + 1)
    span = st.tuples(number, number).map(sorted)
    item = st.one_of(
        st.just(("*", range(low, high + 1))),
        step.map(lambda n: (f"*/{n}", range(low, high + 1, n))),
        number.map(lambda a: (str(a), range(a, a + 1))),
        span.map(lambda ab: (f"{ab[0]}-{ab[1]}", range(ab[0], ab[1] + 1))),
        st.tuples(span, step).map(lambda s: (f"{s[0][0]}-{s[0][1]}/{s[1]}", range(s[0][0], s[0][1] + 1, s[1]))),
    )
    return st.lists(item, min_size=1, max_size=3).map(
        lambda items: Field(",".join(text for text, _ in items), frozenset(v for _, r in items for v in r))
    )


@dataclass(frozen=True)
class Expression:
    minute: Field
    hour: Field
    day: Field
    month: Field
    weekday: Field

    @property
    def text(self) -> str:
        return " ".join(f.text for f in (self.minute, self.hour, self.day, self.month, self.weekday))

    def fires(self, moment: datetime) -> bool:
        weekdays = {value % 7 for value in self.weekday.values}
        in_month = moment.day in self.day.values
        in_week = moment.isoweekday() % 7 in weekdays
        restricted = not self.day.text.startswith("*") and not self.weekday.text.startswith("*")
        day_ok = (in_month or in_week) if restricted else (in_month and in_week)
        return (
            moment.minute in self.minute.values
            and moment.hour in self.hour.values
            and moment.month in self.month.values
            and day_ok
        )


expressions = st.builds(Expression, field(0, 59), field(0, 23), field(1, 31), field(1, 12), field(0, 7))
moments = st.datetimes(datetime(2000, 1, 1), datetime(2090, 1, 1), timezones=st.just(UTC))
SCAN = timedelta(days=3)


@settings(max_examples=150, deadline=None)
@given(expressions, moments)
def test_cron_next_run_is_the_first_matching_minute_found_by_scanning(expression: Expression, after: datetime) -> None:
    schedule = parse_schedule(expression.text)

    found = schedule.next_after(after)

    assert found > after
    assert found.tzinfo == UTC and found.second == 0 and found.microsecond == 0
    assert expression.fires(found)
    assert isinstance(schedule, Cron) and schedule.matches(found)
    moment = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while moment < min(found, after + SCAN):
        assert not expression.fires(moment), moment
        moment += timedelta(minutes=1)


@given(expressions)
def test_cron_refuses_only_expressions_that_never_fire(expression: Expression) -> None:
    restricted = not expression.day.text.startswith("*") and not expression.weekday.text.startswith("*")
    longest = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}
    possible = restricted or any(d <= longest[m] for d in expression.day.values for m in expression.month.values)

    if possible:
        parse_schedule(expression.text)
    else:
        with pytest.raises(ValueError, match="never occurs"):
            parse_schedule(expression.text)


# Ticker


def test_ticks_missed_while_down_collapse_into_one_run_now() -> None:
    ticker = Ticker(parse_schedule("15m"), since=T0)

    assert ticker.due(at(hours=-3), T0)
    assert ticker.next_due(at(hours=-3), T0) == T0
    assert not ticker.due(T0, at(minutes=14))
    assert ticker.next_due(T0, at(seconds=1)) == at(minutes=15)


def test_a_schedule_that_never_ran_counts_from_when_the_hub_started() -> None:
    ticker = Ticker(parse_schedule("15m"), since=T0)

    assert not ticker.due(None, at(minutes=14))
    assert ticker.next_due(None, at(minutes=1)) == at(minutes=15)
    assert ticker.due(None, at(minutes=15))


# run_schedule


class Hub:
    """A fake hub around the timer loop: virtual time, a record of runs and skipped ticks."""

    def __init__(self, last_run: datetime | None = None, start: datetime = T0) -> None:
        self.now = start
        self.previous = last_run
        self.runs: list[datetime] = []
        self.skips: list[datetime] = []
        self.busy: Callable[[datetime], bool] = lambda now: False
        self.end = start
        self.reached_end = asyncio.Event()

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        if self.now >= self.end:
            self.reached_end.set()
            await asyncio.Event().wait()
        await asyncio.sleep(0)

    async def job(self) -> None:
        self.runs.append(self.now)
        self.previous = self.now

    async def last_run(self) -> datetime | None:
        return self.previous

    async def run_until(self, end: datetime, schedule: Schedule, *, on_start: bool = False, job=None) -> None:
        self.end = end
        loop = asyncio.create_task(
            run_schedule(
                schedule,
                job or self.job,
                clock=self.clock,
                sleep=self.sleep,
                is_running=lambda: self.busy(self.now),
                last_run=self.last_run,
                on_start=on_start,
                on_skip=self.skips.append,
            )
        )
        await asyncio.wait_for(self.reached_end.wait(), 5)
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop


async def test_ticks_missed_while_the_hub_was_down_run_once() -> None:
    hub = Hub(last_run=at(hours=-3))

    await hub.run_until(at(minutes=40), parse_schedule("15m"))

    assert hub.runs == [T0, at(minutes=15), at(minutes=30)]


async def test_first_run_of_a_new_schedule_waits_one_interval() -> None:
    hub = Hub()

    await hub.run_until(at(minutes=40), parse_schedule("15m"))

    assert hub.runs == [at(minutes=15), at(minutes=30)]


async def test_on_start_runs_at_once_even_when_not_due() -> None:
    hub = Hub(last_run=at(minutes=-5))

    await hub.run_until(at(minutes=40), parse_schedule("15m"), on_start=True)

    assert hub.runs == [T0, at(minutes=15), at(minutes=30)]


async def test_without_on_start_the_next_run_counts_from_the_last_one() -> None:
    hub = Hub(last_run=at(minutes=-5))

    await hub.run_until(at(minutes=30), parse_schedule("15m"))

    assert hub.runs == [at(minutes=10), at(minutes=25)]


async def test_tick_during_a_running_sync_is_skipped_not_queued() -> None:
    hub = Hub(last_run=at(hours=-3))
    hub.busy = lambda now: now == at(minutes=15)

    await hub.run_until(at(minutes=50), parse_schedule("15m"))

    assert hub.skips == [at(minutes=15)]
    assert hub.runs == [T0, at(minutes=30), at(minutes=45)]


async def test_on_start_tick_during_a_running_sync_is_skipped() -> None:
    hub = Hub(last_run=at(minutes=-5))
    hub.busy = lambda now: now == T0

    await hub.run_until(at(minutes=20), parse_schedule("15m"), on_start=True)

    assert hub.skips == [T0]
    assert hub.runs == [at(minutes=15)]


async def test_a_sync_started_elsewhere_moves_the_next_tick() -> None:
    hub = Hub(last_run=at(hours=-3))

    async def job() -> None:
        await hub.job()
        # A person starts a manual sync ten minutes after this one.
        hub.previous = hub.now + timedelta(minutes=10)

    await hub.run_until(at(minutes=30), parse_schedule("15m"), job=job)

    assert hub.runs == [T0, at(minutes=25)]


async def test_cron_schedule_runs_a_missed_tick_once_then_on_the_hour() -> None:
    hub = Hub(last_run=datetime(2026, 3, 2, 9, 0, tzinfo=UTC), start=at(minutes=10))

    await hub.run_until(at(hours=2, minutes=30), parse_schedule("0 * * * *"))

    assert hub.runs == [at(minutes=10), at(hours=1), at(hours=2)]


async def test_a_failing_job_is_logged_and_the_schedule_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    hub = Hub(last_run=at(hours=-3))

    async def job() -> None:
        await hub.job()
        if len(hub.runs) == 1:
            raise RuntimeError("XPM is down")

    with caplog.at_level(logging.ERROR, logger="hub.schedule"):
        await hub.run_until(at(minutes=20), parse_schedule("15m"), job=job)

    assert hub.runs == [T0, at(minutes=15)]
    assert "XPM is down" in caplog.text


async def test_stopping_the_loop_cancels_the_running_job() -> None:
    hub = Hub(last_run=at(hours=-3))
    started = asyncio.Event()
    cancelled = False

    async def job() -> None:
        nonlocal cancelled
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled = True
            raise

    loop = asyncio.create_task(
        run_schedule(
            parse_schedule("15m"),
            job,
            clock=hub.clock,
            sleep=hub.sleep,
            is_running=lambda: False,
            last_run=hub.last_run,
            on_start=False,
        )
    )
    await asyncio.wait_for(started.wait(), 5)
    loop.cancel()

    with pytest.raises(asyncio.CancelledError):
        await loop
    assert cancelled

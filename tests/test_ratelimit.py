import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import RateLimited, RetriableError
from hub.ratelimit import Limiter, RateLimitedTransport, RateLimits, parse_retry_after, retry_after_reader

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
URL = "https://api.example.test/v1/things"
NO_LIMITS = RateLimits()


class FakeClock:
    """Virtual time: sleeping moves the clock forward instead of waiting."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake_at = self.now + timedelta(seconds=seconds)
        await asyncio.sleep(0)
        self.now = max(self.now, wake_at)

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


# parse_retry_after


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", timedelta(seconds=120)),
        (" 10 ", timedelta(seconds=10)),
        ("0", timedelta(seconds=1)),
        ("-5", timedelta(seconds=60)),
        ("99999999999999999999999999999", timedelta(hours=24)),
        ("NaN", timedelta(seconds=60)),
        ("1e3", timedelta(seconds=60)),
        ("soon", timedelta(seconds=60)),
        ("", timedelta(seconds=60)),
        (None, timedelta(seconds=60)),
        ("Mon, 02 Mar 2026 12:01:30 GMT", timedelta(seconds=90)),
        ("Mon, 02 Mar 2026 11:00:00 GMT", timedelta(seconds=1)),
        ("Mon, 02 Mar 2099 11:00:00 GMT", timedelta(hours=24)),
        ("Mon, 31 Feb 2026 12:00:00 GMT", timedelta(seconds=60)),
    ],
)
def test_retry_after_is_read_and_clamped(header: str | None, expected: timedelta) -> None:
    assert parse_retry_after(header, T0) == T0 + expected


def test_retry_after_date_without_zone_is_read_as_gmt() -> None:
    assert parse_retry_after("Mon, 02 Mar 2026 12:00:30 -0000", T0) == T0 + timedelta(seconds=30)


@given(st.text(max_size=40))
def test_retry_after_never_raises_and_stays_within_bounds(header: str) -> None:
    until = parse_retry_after(header, T0)
    assert T0 + timedelta(seconds=1) <= until <= T0 + timedelta(hours=24)


# Limiter


async def enter_and_leave(limiter: Limiter, clock: FakeClock) -> datetime:
    async with limiter.slot():
        return clock()


@settings(max_examples=60, deadline=None)
@given(
    per_minute=st.integers(min_value=1, max_value=5),
    offsets_ms=st.lists(st.integers(min_value=0, max_value=240_000), max_size=25).map(sorted),
)
def test_calls_never_exceed_per_minute_and_wait_no_longer_than_needed(per_minute: int, offsets_ms: list[int]) -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimits(per_minute=per_minute), clock, clock.sleep)
    requested: list[datetime] = []
    started: list[datetime] = []

    async def scenario() -> None:
        for offset in offsets_ms:
            clock.now = max(clock.now, T0 + timedelta(milliseconds=offset))
            requested.append(clock.now)
            started.append(await enter_and_leave(limiter, clock))

    asyncio.run(scenario())
    for index, start in enumerate(started):
        # No rolling minute holds more than per_minute calls ...
        if index >= per_minute:
            assert start - started[index - per_minute] >= timedelta(minutes=1)
        # ... and a call waits only until the oldest call in its window has left it.
        earliest = requested[index]
        if index >= per_minute:
            earliest = max(earliest, started[index - per_minute] + timedelta(minutes=1))
        assert start == earliest


async def test_concurrent_callers_are_spread_over_minutes() -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimits(per_minute=3), clock, clock.sleep)

    started = await asyncio.gather(*(enter_and_leave(limiter, clock) for _ in range(10)))

    per_minute = {}
    for start in started:
        minute = (start - T0) // timedelta(minutes=1)
        per_minute[minute] = per_minute.get(minute, 0) + 1
    assert per_minute == {0: 3, 1: 3, 2: 3, 3: 1}


async def test_no_more_than_in_flight_calls_run_at_once() -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimits(in_flight=2), clock, clock.sleep)
    running = 0
    most = 0

    async def call() -> None:
        nonlocal running, most
        async with limiter.slot():
            running += 1
            most = max(most, running)
            for _ in range(5):
                await asyncio.sleep(0)
            running -= 1

    await asyncio.gather(*(call() for _ in range(7)))
    assert most == 2


async def test_day_limit_pauses_until_next_utc_midnight_instead_of_waiting() -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimits(per_day=3), clock, clock.sleep, system="XPM")
    for _ in range(3):
        await enter_and_leave(limiter, clock)

    with pytest.raises(RateLimited) as refused:
        await enter_and_leave(limiter, clock)

    midnight = datetime(2026, 3, 3, tzinfo=UTC)
    assert refused.value.until == midnight
    assert limiter.paused_until == midnight
    assert "XPM" in str(refused.value)
    assert "3 calls allowed per day" in str(refused.value)
    clock.now = midnight
    assert await enter_and_leave(limiter, clock) == midnight


async def test_day_count_starts_again_at_utc_midnight() -> None:
    clock = FakeClock(datetime(2026, 3, 2, 23, 59, tzinfo=UTC))
    limiter = Limiter(RateLimits(per_day=2), clock, clock.sleep)
    await enter_and_leave(limiter, clock)
    await enter_and_leave(limiter, clock)
    clock.advance(minutes=2)

    await enter_and_leave(limiter, clock)

    assert limiter.paused_until is None


async def test_paused_limiter_refuses_at_once_until_the_pause_ends() -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimits(), clock, clock.sleep, system="Karbon")
    limiter.pause_until(T0 + timedelta(seconds=30))
    limiter.pause_until(T0 + timedelta(seconds=5))

    with pytest.raises(RateLimited, match="Karbon: paused until 2026-03-02 12:00:30 UTC") as refused:
        await enter_and_leave(limiter, clock)

    assert refused.value.until == T0 + timedelta(seconds=30)
    assert limiter.paused_until == T0 + timedelta(seconds=30)
    clock.advance(seconds=30)
    assert limiter.paused_until is None
    assert await enter_and_leave(limiter, clock) == T0 + timedelta(seconds=30)


class ArrivalCounter:
    """A system counting the requests that arrived in a sliding minute, as Karbon and the simulators do."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.arrivals: list[datetime] = []

    def arrive(self) -> None:
        self.arrivals.append(self.clock())

    def most_in_a_minute(self) -> int:
        """The most arrivals any window (t - 1 minute, t] held."""
        arrivals = sorted(self.arrivals)
        return max((sum(1 for a in arrivals[: i + 1] if a > t - timedelta(minutes=1)) for i, t in enumerate(arrivals)),
                   default=0)


async def call_with_latency(limiter: Limiter, clock: FakeClock, server: ArrivalCounter, up: float, down: float) -> None:
    """One call: admitted, `up` seconds on the way to the system, `down` seconds for its answer to come back."""
    async with limiter.slot():
        await clock.sleep(up)
        server.arrive()
        await clock.sleep(down)


async def test_the_next_minutes_first_call_waits_for_the_first_call_to_have_arrived() -> None:
    # The repro: the first call of a sync is slow to reach the system (a new connection), the rest are quick.
    # Counting from when the first call was sent, the fourth went exactly a minute later and arrived while the
    # system still counted the first: the system saw four calls in its minute and refused one.
    clock = FakeClock()
    limiter = Limiter(RateLimits(per_minute=3), clock, clock.sleep)
    server = ArrivalCounter(clock)

    for up in (2.0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1):
        await call_with_latency(limiter, clock, server, up, 0.05)

    assert server.most_in_a_minute() == 3
    # The fourth call went a minute after the first call's answer came back, not a minute after it was sent.
    assert server.arrivals[3] >= T0 + timedelta(seconds=2.05 + 60)


@settings(max_examples=80, deadline=None)
@given(
    per_minute=st.integers(min_value=1, max_value=5),
    in_flight=st.none() | st.integers(min_value=1, max_value=3),
    calls=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=90_000),  # ms the caller waits before it asks
            st.integers(min_value=0, max_value=5_000),  # ms on the way to the system
            st.integers(min_value=0, max_value=5_000),  # ms for the answer to come back
        ),
        max_size=20,
    ),
)
def test_a_system_counting_arrivals_in_a_sliding_minute_never_sees_more_than_the_limit(
    per_minute: int, in_flight: int | None, calls: list[tuple[int, int, int]]
) -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimits(per_minute=per_minute, in_flight=in_flight), clock, clock.sleep)
    server = ArrivalCounter(clock)

    async def caller(gap_ms: int, up_ms: int, down_ms: int) -> None:
        await clock.sleep(gap_ms / 1000)
        await call_with_latency(limiter, clock, server, up_ms / 1000, down_ms / 1000)

    async def scenario() -> None:
        # The callers run at once, so calls overlap (up to in_flight) as a sync's concurrent requests do.
        await asyncio.gather(*(caller(gap, up, down) for gap, up, down in calls))

    asyncio.run(scenario())
    assert len(server.arrivals) == len(calls)
    assert server.most_in_a_minute() <= per_minute


async def test_callers_wait_for_an_open_call_when_every_call_in_the_minute_is_still_open() -> None:
    clock = FakeClock()
    limiter = Limiter(RateLimits(per_minute=2), clock, clock.sleep)
    await limiter.acquire()
    await limiter.acquire()

    third = asyncio.create_task(limiter.acquire())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not third.done()

    clock.advance(seconds=3)
    limiter.release()
    for _ in range(5):
        await asyncio.sleep(0)
    # The finished call still counts for a minute from its end: the third waits until then.
    await asyncio.wait_for(third, 1)
    assert clock() == T0 + timedelta(seconds=63)


def test_limits_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="per_minute must be at least 1"):
        Limiter(RateLimits(per_minute=0), FakeClock())


# RateLimitedTransport


class Vendor:
    """A fake system that gives each request the next answer in its queue and counts the requests."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client_for(
    vendor: Vendor,
    clock: FakeClock,
    limits: RateLimits = NO_LIMITS,
    classify: Callable[[httpx.Response, datetime], datetime | None] = retry_after_reader,
) -> tuple[httpx.AsyncClient, Limiter]:
    limiter = Limiter(limits, clock, clock.sleep, system="Karbon")
    transport = RateLimitedTransport(httpx.MockTransport(vendor), limiter, classify)
    return httpx.AsyncClient(transport=transport), limiter


async def test_429_with_retry_after_seconds_pauses_then_resumes() -> None:
    clock = FakeClock()
    vendor = Vendor(
        httpx.Response(429, headers={"Retry-After": "10"}, json={"statusCode": "429"}),
        httpx.Response(200, json={"value": []}),
    )
    client, limiter = client_for(vendor, clock)

    with pytest.raises(RateLimited) as refused:
        await client.get(URL)
    assert refused.value.until == T0 + timedelta(seconds=10)
    assert limiter.paused_until == T0 + timedelta(seconds=10)
    assert "Karbon" in str(refused.value)

    with pytest.raises(RateLimited):
        await client.get(URL)
    assert vendor.requests == 1

    clock.advance(seconds=10)
    response = await client.get(URL)
    assert response.json() == {"value": []}
    assert vendor.requests == 2


async def test_429_with_retry_after_date_pauses_until_that_date() -> None:
    clock = FakeClock()
    resume = T0 + timedelta(minutes=2)
    vendor = Vendor(httpx.Response(429, headers={"Retry-After": format_datetime(resume, usegmt=True)}))
    client, limiter = client_for(vendor, clock)

    with pytest.raises(RateLimited):
        await client.get(URL)

    assert limiter.paused_until == resume


async def test_429_with_garbage_or_no_retry_after_pauses_for_the_default() -> None:
    clock = FakeClock()
    throttled = {"Fault": {"Error": [{"Message": "message=ThrottleExceeded; errorCode=003001; statusCode=429"}]}}
    for headers in ({"Retry-After": "whenever"}, {}):
        vendor = Vendor(httpx.Response(429, headers=headers, json=throttled))
        client, limiter = client_for(vendor, clock)

        with pytest.raises(RateLimited):
            await client.get(URL)

        assert limiter.paused_until == T0 + timedelta(seconds=60)


async def test_refusal_message_names_the_limit_the_system_reported() -> None:
    clock = FakeClock()
    vendor = Vendor(
        httpx.Response(
            429,
            headers={"Retry-After": "30", "X-Rate-Limit-Problem": "minute", "X-MinLimit-Remaining": "0"},
            text="<Response><Status>ERROR</Status></Response>",
        )
    )
    client, _ = client_for(vendor, clock)

    with pytest.raises(RateLimited) as refused:
        await client.get(URL)

    message = str(refused.value)
    assert "HTTP 429" in message
    assert "x-rate-limit-problem: minute" in message.lower()
    assert "paused until 2026-03-02 12:00:30 UTC" in message


def problem_header_reader(response: httpx.Response, now: datetime) -> datetime | None:
    """A plugin's reader: its system flags a refusal with a header, on any status."""
    if response.headers.get("X-Limited") == "yes":
        return now + timedelta(seconds=5)
    if response.headers.get("X-Quota-Left") == "0":
        return now + timedelta(hours=1)
    return None


async def test_plugin_reader_recognises_a_vendor_refusal_without_429() -> None:
    clock = FakeClock()
    vendor = Vendor(httpx.Response(503, headers={"X-Limited": "yes"}))
    client, limiter = client_for(vendor, clock, classify=problem_header_reader)

    with pytest.raises(RateLimited):
        await client.get(URL)

    assert limiter.paused_until == T0 + timedelta(seconds=5)


async def test_success_saying_quota_is_spent_keeps_its_data_and_pauses_later_calls() -> None:
    clock = FakeClock()
    vendor = Vendor(httpx.Response(200, headers={"X-Quota-Left": "0"}, json={"id": 1}))
    client, limiter = client_for(vendor, clock, classify=problem_header_reader)

    response = await client.get(URL)

    assert response.json() == {"id": 1}
    assert limiter.paused_until == T0 + timedelta(hours=1)
    with pytest.raises(RateLimited):
        await client.get(URL)


async def test_connection_failure_is_retriable_and_names_the_host() -> None:
    clock = FakeClock()
    vendor = Vendor(httpx.ConnectError("connection refused"), httpx.Response(200))
    client, _ = client_for(vendor, clock, RateLimits(in_flight=1))

    with pytest.raises(RetriableError, match=r"cannot reach api\.example\.test") as failed:
        await client.get(URL)

    assert not isinstance(failed.value, RateLimited)
    # The failed call gave its slot back.
    assert (await asyncio.wait_for(client.get(URL), 1)).status_code == 200


async def test_timeout_while_reading_the_body_is_retriable() -> None:
    class StallingBody(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b'{"value": ['
            raise httpx.ReadTimeout("timed out")

    clock = FakeClock()
    vendor = Vendor(httpx.Response(200, stream=StallingBody()), httpx.Response(200))
    client, _ = client_for(vendor, clock, RateLimits(in_flight=1))

    with pytest.raises(RetriableError, match=r"api\.example\.test.*ReadTimeout"):
        await client.get(URL)

    assert (await asyncio.wait_for(client.get(URL), 1)).status_code == 200


async def test_a_streamed_response_holds_its_slot_until_closed() -> None:
    clock = FakeClock()
    vendor = Vendor(httpx.Response(200, content=b"x" * 10), httpx.Response(200))
    client, _ = client_for(vendor, clock, RateLimits(in_flight=1))

    async with client.stream("GET", URL):
        second = asyncio.create_task(client.get(URL))
        for _ in range(10):
            await asyncio.sleep(0)
        assert not second.done()

    assert (await asyncio.wait_for(second, 1)).status_code == 200


async def test_a_refused_call_gives_its_slot_back() -> None:
    clock = FakeClock()
    vendor = Vendor(httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(200))
    client, _ = client_for(vendor, clock, RateLimits(in_flight=1))

    with pytest.raises(RateLimited):
        await client.get(URL)
    clock.advance(seconds=1)

    assert (await asyncio.wait_for(client.get(URL), 1)).status_code == 200

"""Keep calls to an external system inside its rate limits, and pause when the system says "too many requests".

A `Limiter` enforces the limits the hub knows in advance (concurrent calls, calls per rolling minute, calls per
UTC day). A call holds its place in the rolling minute from when it is admitted until a minute after it
finished: a system counts a request when it arrives, some time after the hub sent it, so counting from the
start would let the next minute's first call reach it inside the minute it still counts.

A `RateLimitedTransport` puts every HTTP request through a limiter and turns the system's own refusals (HTTP 429,
or whatever a plugin's limit reader recognises) into a pause and a `RateLimited` error.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
from bisect import insort
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

import httpx

from hub.errors import RateLimited, RetriableError

Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC datetime."""

Sleep = Callable[[float], Awaitable[None]]
"""Waits the given number of seconds."""

LimitReader = Callable[[httpx.Response, datetime], datetime | None]
"""Given a response and the time it arrived, returns when calls may resume if the system refused for its limit."""

_MINUTE = timedelta(minutes=1)
_DELTA_SECONDS = re.compile(r"-?[0-9]+")


@dataclass(frozen=True)
class RateLimits:
    """The limits a connection must stay inside; None means no limit of that kind."""

    per_minute: int | None = None
    per_day: int | None = None
    in_flight: int | None = None


def parse_retry_after(
    value: str | None,
    now: datetime,
    *,
    default: timedelta = timedelta(seconds=60),
    floor: timedelta = timedelta(seconds=1),
    ceiling: timedelta = timedelta(hours=24),
) -> datetime:
    """Turn a Retry-After header (seconds or an HTTP date) into the time to resume, never trusting it blindly."""
    if value is None or not value.strip():
        return now + default
    text = value.strip()
    if _DELTA_SECONDS.fullmatch(text):
        seconds = int(text)
        if seconds < 0:
            return now + default
        # Compare before building a timedelta: a huge number would overflow it.
        if seconds > ceiling.total_seconds():
            return now + ceiling
        return now + max(floor, timedelta(seconds=seconds))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return now + default
    if when.tzinfo is None:
        # RFC 9110 dates are always GMT; "-0000" parses as naive.
        when = when.replace(tzinfo=UTC)
    return now + min(ceiling, max(floor, when - now))


def retry_after_reader(response: httpx.Response, now: datetime) -> datetime | None:
    """The generic limit reader: a 429 pauses until its Retry-After, or for the default pause without one."""
    if response.status_code != httpx.codes.TOO_MANY_REQUESTS:
        return None
    return parse_retry_after(response.headers.get("Retry-After"), now)


def _next_utc_midnight(moment: datetime) -> datetime:
    day = moment.astimezone(UTC).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class Limiter:
    """Admits calls to one system within its `RateLimits`, waiting for a free slot or refusing while paused."""

    def __init__(
        self, limits: RateLimits, clock: Clock, sleep: Sleep = asyncio.sleep, *, system: str = "system"
    ) -> None:
        for name in ("per_minute", "per_day", "in_flight"):
            limit = getattr(limits, name)
            if limit is not None and limit < 1:
                raise ValueError(f"rate limit {name} must be at least 1, got {limit}")
        self.limits = limits
        self.system = system
        self.clock = clock
        self._sleep = sleep
        self._concurrent = asyncio.Semaphore(limits.in_flight) if limits.in_flight is not None else None
        self._finished: list[datetime] = []
        """When each call that finished in the last minute finished, oldest first."""
        self._open = 0
        """Calls admitted in the minute's count that have not finished: the system may be counting them already."""
        self._change = asyncio.Event()
        """Set (and replaced) when a call finishes, for callers waiting on calls that are all still open."""
        self._day = clock().astimezone(UTC).date()
        self._calls_today = 0
        self._paused_until: datetime | None = None

    @property
    def paused_until(self) -> datetime | None:
        """When calls may resume, or None when the limiter is not paused."""
        if self._paused_until is not None and self._paused_until <= self.clock():
            self._paused_until = None
        return self._paused_until

    def pause_until(self, until: datetime) -> None:
        """Refuse every call until `until`; a shorter pause never cuts a longer one short."""
        current = self.paused_until
        if current is None or until > current:
            self._paused_until = until

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one call's slot for the duration of the block."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    async def acquire(self) -> None:
        """Wait for a slot; raise `RateLimited` while paused or when today's calls are used up."""
        self._refuse_if_paused()
        if self._concurrent is not None:
            await self._concurrent.acquire()
        try:
            await self._wait_for_minute_and_day()
        except BaseException:
            if self._concurrent is not None:
                self._concurrent.release()
            raise

    def release(self) -> None:
        """Give back a slot taken by `acquire`: the call has finished, and stays in the minute's count a minute more."""
        self._open -= 1
        if self.limits.per_minute is not None:
            insort(self._finished, self.clock())
        change, self._change = self._change, asyncio.Event()
        change.set()
        if self._concurrent is not None:
            self._concurrent.release()

    def _refuse_if_paused(self) -> None:
        until = self.paused_until
        if until is not None:
            raise RateLimited(f"{self.system}: paused until {_at(until)} for its rate limit", until)

    async def _wait_for_minute_and_day(self) -> None:
        while True:
            self._refuse_if_paused()
            now = self.clock()
            self._count_today(now)
            expired = 0
            while expired < len(self._finished) and self._finished[expired] <= now - _MINUTE:
                expired += 1
            del self._finished[:expired]
            per_minute = self.limits.per_minute
            if per_minute is not None and len(self._finished) + self._open >= per_minute:
                if self._finished:
                    # The system received the oldest finished call before it finished: a minute after its end,
                    # that call has left the system's window whenever it arrived.
                    await self._sleep((self._finished[0] + _MINUTE - now).total_seconds())
                else:
                    # Every call in the count is still open; the first to finish starts its last minute.
                    await self._change.wait()
                continue
            self._open += 1
            self._calls_today += 1
            return

    def _count_today(self, now: datetime) -> None:
        today = now.astimezone(UTC).date()
        if today != self._day:
            self._day = today
            self._calls_today = 0
        per_day = self.limits.per_day
        if per_day is not None and self._calls_today >= per_day:
            # Waiting a day inside a call helps nobody: pause the connection and let the hub reschedule.
            until = _next_utc_midnight(now)
            self.pause_until(until)
            raise RateLimited(
                f"{self.system}: used all {per_day} calls allowed per day; paused until {_at(until)}", until
            )


class RateLimitedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends each request through a `Limiter` and pauses it when the system refuses."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        limiter: Limiter,
        classify: LimitReader = retry_after_reader,
    ) -> None:
        self.inner = inner
        self.limiter = limiter
        self.classify = classify

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send one request inside a limiter slot, held until its body is read or closed."""
        await self.limiter.acquire()
        try:
            response = await self._send(request)
        except BaseException:
            self.limiter.release()
            raise
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_SlotStream(response, self.limiter, self._unreachable(request)),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.inner.aclose()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self.inner.handle_async_request(request)
        except _PASSING_FAILURES as exc:
            raise self._unreachable(request)(exc) from exc
        until = self.classify(response, self.limiter.clock())
        if until is None:
            return response
        self.limiter.pause_until(until)
        if response.is_success:
            # A success that says the quota is spent: keep its data, hold back the calls after it.
            return response
        await response.aclose()
        raise RateLimited(
            f"{self.limiter.system}: rate limit hit ({_limit_hit(response)}); paused until {_at(until)}", until
        )

    def _unreachable(self, request: httpx.Request) -> Callable[[Exception], RetriableError]:
        system, host = self.limiter.system, request.url.host

        def error(exc: Exception) -> RetriableError:
            return RetriableError(f"{system}: cannot reach {host}: {type(exc).__name__}: {exc}")

        return error


_PASSING_FAILURES = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def _limit_hit(response: httpx.Response) -> str:
    """Describe a refusal by its status and the headers the system used to say which limit was hit."""
    parts = [f"HTTP {response.status_code}"]
    parts += [f"{name}: {value}" for name, value in response.headers.items() if "limit" in name.lower()]
    return ", ".join(parts)


class _SlotStream(httpx.AsyncByteStream):
    """A response body that keeps its limiter slot until closed and reports a broken read as retriable."""

    def __init__(
        self, response: httpx.Response, limiter: Limiter, unreachable: Callable[[Exception], RetriableError]
    ) -> None:
        self._response = response
        self._limiter = limiter
        self._unreachable = unreachable
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            # Iterate the inner stream itself: a response built from content (as MockTransport's are) counts as read.
            async for chunk in cast(httpx.AsyncByteStream, self._response.stream):
                yield chunk
        except _PASSING_FAILURES as exc:
            raise self._unreachable(exc) from exc

    async def aclose(self) -> None:
        try:
            await self._response.aclose()
        finally:
            if not self._released:
                self._released = True
                self._limiter.release()

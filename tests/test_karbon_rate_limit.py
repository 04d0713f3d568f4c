"""Seed 002's Sync Now of more records than Karbon takes calls a minute: the hub's limiter keeps it under Karbon's.

The simulator counts a request when it arrives, as Karbon does; the hub sends it a little earlier. Here both
count on one fake clock, at five calls a minute, and each request takes time to arrive and to be answered, so a
listing of fourteen Organizations (one list call and fourteen card reads) spans three minutes in no real time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
from karbon_openapi import KARBON_BASE_URL, SpecCheckingTransport

from hub.config import parse_config
from hub.ratelimit import Limiter, RateLimitedTransport, RateLimits
from hub.types import PageRequest
from plugins.intuit_pm.simulator import create_app
from plugins.intuit_pm.system import IntuitPracticeManagement

PER_MINUTE = 5
ENV = {"KARBON_APP_ID": "sim-app-id", "KARBON_ACCESS_KEY": "sim-access-key"}


class FakeClock:
    """Virtual time shared by the hub's limiter and the simulator: sleeping moves it on."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)
        self.now += timedelta(seconds=max(0.0, seconds))


class Latency(httpx.AsyncBaseTransport):
    """Each request takes time to reach Karbon and its answer time to come back; the first is the slowest."""

    def __init__(self, inner: httpx.AsyncBaseTransport, clock: FakeClock) -> None:
        self.inner, self.clock, self.sent = inner, clock, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # A new connection's handshake makes the first request arrive late; later ones reuse it.
        await self.clock.sleep(2.0 if self.sent == 0 else 0.2)
        self.sent += 1
        response = await self.inner.handle_async_request(request)
        await self.clock.sleep(0.1)
        return response


async def test_a_listing_needing_more_calls_than_karbons_minute_allows_is_never_refused_for_the_rate_limit():
    clock = FakeClock()
    app = create_app(clock=clock, per_minute=PER_MINUTE)
    sim = app.state.sim
    sim.seed({"Organizations": [{"FullName": f"Org {n:02}", "BusinessCards": [{"IsPrimaryCard": True}]}
                                for n in range(14)]})
    spec = SpecCheckingTransport(httpx.ASGITransport(app=app))
    limiter = Limiter(RateLimits(per_minute=PER_MINUTE), clock, clock.sleep, system="karbon")
    http = httpx.AsyncClient(transport=RateLimitedTransport(Latency(spec, clock), limiter))
    secrets = {"app_id": "KARBON_APP_ID", "access_key": "KARBON_ACCESS_KEY"}
    config = parse_config({"connections": {"karbon": {"plugin": "intuit_pm", "secrets": secrets}}}, ENV)
    system = IntuitPracticeManagement(config.connections["karbon"], http)
    assert system.base_url == KARBON_BASE_URL
    started = clock()

    page = await system.list_page(PageRequest("account"))

    assert [record.data["FullName"] for record in page.records] == [f"Org {n:02}" for n in range(14)]
    assert [call["status"] for call in sim.calls] == [200] * 15
    # Three minutes of waiting, no more: the limiter keeps Karbon's pace, not a slower one.
    assert timedelta(minutes=2) < clock() - started < timedelta(minutes=3, seconds=10)
    assert spec.violations == []
    await http.aclose()

"""Intake goes before processing: the inbox tells its workers when a burst of webhooks is over."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub import inbox
from hub.store import Store
from hub.types import WebhookEvent
from hub.workers import inbox_worker
from tests.memory_hub import open_memory_hub, webhook_body
from tests.memory_system import Clock, MemoryRemote

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path):
    opened = await Store.open(tmp_path / "hub.db")
    yield opened
    await opened.close()


async def deliver(store: Store, number: int) -> None:
    event = WebhookEvent(entity="customer", remote_id=str(number), action="updated", event_id=f"msg_{number}")
    await inbox.accept(store, "qbo", [event], b"{}", at=T0)


async def seconds_waited(store: Store, **limits: float) -> float:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await inbox.between_bursts(store, **limits)
    return loop.time() - started


async def test_processing_waits_for_a_pause_in_deliveries(store: Store):
    await deliver(store, 1)
    waited = await seconds_waited(store, gap=0.3, longest=5.0)
    assert 0.2 <= waited < 2.0


async def test_with_no_recent_delivery_processing_starts_at_once(store: Store):
    assert await seconds_waited(store, gap=0.3, longest=5.0) < 0.1
    await deliver(store, 1)
    await asyncio.sleep(0.35)
    assert await seconds_waited(store, gap=0.3, longest=5.0) < 0.1


async def test_a_steady_stream_of_deliveries_defers_processing_only_so_long(store: Store):
    async def stream() -> None:
        for number in range(100):
            await deliver(store, number)
            await asyncio.sleep(0.02)

    sender = asyncio.create_task(stream())
    await asyncio.sleep(0.05)
    waited = await seconds_waited(store, gap=0.3, longest=0.6)
    assert not sender.done()
    assert 0.5 <= waited < 1.2
    sender.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sender



async def test_the_inbox_worker_takes_up_events_once_a_burst_of_deliveries_ends(tmp_path: Path, monkeypatch):
    remote = MemoryRemote(Clock())
    hub = await open_memory_hub(tmp_path, remote)
    monkeypatch.setattr(inbox, "BURST_GAP", 0.5)
    wake = asyncio.Event()
    worker = asyncio.create_task(inbox_worker(hub, wake, poll=0.05))
    try:
        for number in range(12):
            remote_id = remote.add("contact", {"Name": f"Person {number}"})
            event = WebhookEvent("contact", remote_id, "updated", event_id=f"msg_{number}")
            await inbox.accept(hub.store, "mem", [event], webhook_body("contact", remote_id), at=hub.clock())
            wake.set()
            await asyncio.sleep(0.05)
        during = [row["status"] for row in await inbox.list_events(hub.store)]
        for _ in range(100):
            after = [row["status"] for row in await inbox.list_events(hub.store)]
            if after == ["done"] * 12:
                break
            await asyncio.sleep(0.05)
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker
        await hub.close()
    assert during == ["pending"] * 12
    assert after == ["done"] * 12

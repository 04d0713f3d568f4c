"""Sync Now while webhooks flow: a person's sync waits for the webhook syncs of its types instead of a 409."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from hub import inbox
from hub.types import Page, PageRequest, WebhookEvent
from hub.workers import BUSY_DELAY, process_due
from tests.api_fixtures import ApiRig, open_rig


class Gate:
    """Holds every listing of the connection's system until opened, and says when one is waiting."""

    def __init__(self, rig: ApiRig, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened = asyncio.Event()
        self.waiting = asyncio.Event()
        system = rig.hub.system("mem")
        list_page = system.list_page

        async def gated(request: PageRequest) -> Page:
            self.waiting.set()
            await self.opened.wait()
            return await list_page(request)

        monkeypatch.setattr(system, "list_page", gated)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[ApiRig]:
    async with open_rig(tmp_path) as opened:
        yield opened


async def announce(rig: ApiRig, remote_id: str) -> None:
    """Commit a webhook event about a remote contact to the inbox, as intake would."""
    event = WebhookEvent("contact", remote_id, "updated", event_id=f"{remote_id}@{rig.clock().isoformat()}")
    await inbox.accept(rig.hub.store, "mem", [event], remote_id.encode(), at=rig.clock())


async def eventually(condition: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    """Wait (at most 5 s) until ``condition`` holds."""
    try:
        async with asyncio.timeout(5):
            while not await _value(condition()):
                await asyncio.sleep(0.01)
    except TimeoutError:
        pytest.fail(f"timed out waiting until {what}")


async def _value(result: bool | Awaitable[bool]) -> bool:
    return await result if isinstance(result, Awaitable) else result


async def linked(rig: ApiRig, *names: str) -> list[str]:
    """Home contacts linked by name to remote ones; the remote ids."""
    for name in names:
        await rig.home(name=name)
    ids = [rig.remote.add("contact", {"Name": name}) for name in names]
    await rig.sync(entities=["contact"])
    return ids


async def test_sync_now_while_a_webhook_sync_runs_waits_for_it_and_later_events_still_arrive(
    rig: ApiRig, monkeypatch: pytest.MonkeyPatch
):
    ada, grace = await linked(rig, "Ada Lovelace", "Grace Hopper")
    gate = Gate(rig, monkeypatch)
    await announce(rig, ada)
    worker = asyncio.create_task(process_due(rig.hub))
    await asyncio.wait_for(gate.waiting.wait(), 5)  # the worker's sync of Ada is running

    sync_now = asyncio.create_task(rig.admin.post("/api/connections/mem/sync", json={}))
    await eventually(lambda: rig.hub.scopes.whole_sync_running("mem"), "Sync Now waits for the webhook sync")
    await announce(rig, grace)
    assert await process_due(rig.hub) == 1  # a new webhook sync of contacts stands back for Sync Now
    waiting = (await inbox.list_events(rig.hub.store, status="pending"))[0]
    assert (waiting["remote_id"], waiting["attempts"]) == (grace, 0)

    gate.opened.set()
    response = await asyncio.wait_for(sync_now, 5)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "success"
    assert await worker == 1
    rig.clock.tick(BUSY_DELAY.total_seconds())
    assert await process_due(rig.hub) == 1

    assert {row["status"] for row in await inbox.list_events(rig.hub.store)} == {"done"}
    runs = (await rig.admin.get("/api/runs", params={"connection": "mem"})).json()
    assert [(run["trigger"], run["status"]) for run in reversed(runs)][1:] == [
        ("webhook", "success"),
        ("manual", "success"),
        ("webhook", "success"),
    ]
    assert [run["scope"].get("remote_ids") for run in reversed(runs)][1:] == [[ada], None, [grace]]
    assert [run["counts"]["seen"] for run in reversed(runs)][1:] == [1, 2, 1]


async def test_sync_now_while_another_sync_now_runs_is_still_refused_with_409(
    rig: ApiRig, monkeypatch: pytest.MonkeyPatch
):
    await linked(rig, "Ada Lovelace")
    gate = Gate(rig, monkeypatch)
    first = asyncio.create_task(rig.admin.post("/api/connections/mem/sync", json={"entities": ["contact"]}))
    await asyncio.wait_for(gate.waiting.wait(), 5)

    second = await rig.admin.post("/api/connections/mem/sync", json={})
    assert second.status_code == 409
    assert second.json()["error"] == "a sync of mem (contact) is already in progress or about to start"
    gate.opened.set()
    assert (await asyncio.wait_for(first, 5)).status_code == 200


async def test_sync_now_gives_up_with_409_when_webhook_syncs_outlast_its_wait(
    rig: ApiRig, monkeypatch: pytest.MonkeyPatch
):
    (ada,) = await linked(rig, "Ada Lovelace")
    gate = Gate(rig, monkeypatch)
    monkeypatch.setattr(rig.hub.scopes, "whole_wait", 0.1)
    await announce(rig, ada)
    worker = asyncio.create_task(process_due(rig.hub))
    await asyncio.wait_for(gate.waiting.wait(), 5)

    response = await rig.admin.post("/api/connections/mem/sync", json={})
    assert response.status_code == 409
    assert "were still running after 0.1 s; try again in a moment" in response.json()["error"]
    gate.opened.set()
    assert await worker == 1
    assert [row["status"] for row in await inbox.list_events(rig.hub.store)] == ["done"]

"""``hub sync`` beside ``hub serve``: a person's sync waits for the other process's webhook syncs of its types."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.runs import AlreadyRunning, Run, finish_run, start_run
from hub.runtime import Hub
from tests.memory_hub import open_memory_hub
from tests.memory_system import Clock, MemoryRemote


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    remote = MemoryRemote(Clock())
    remote.add("contact", {"Name": "Ada"})
    opened = await open_memory_hub(tmp_path, remote)
    yield opened
    await opened.close()


async def another_process_runs(hub: Hub, trigger: str) -> Run:
    """A sync of ``mem``'s contacts that another process started, as its row in the shared store shows it."""
    return await start_run(hub.store, connection="mem", entities=["contact"], trigger=trigger, actor="system",
                           scope={}, dry_run=False, now=hub.clock())


async def test_a_persons_sync_waits_for_another_processs_webhook_sync_of_its_type(hub: Hub):
    webhook_sync = await another_process_runs(hub, "webhook")
    asked = asyncio.create_task(hub.sync("mem", trigger="manual", actor="ada"))
    await asyncio.sleep(0.2)
    assert not asked.done()  # still waiting, not refused

    await finish_run(hub.store, webhook_sync, status="success", summary="", now=hub.clock())
    result = await asyncio.wait_for(asked, 5)

    assert (result.status, result.counts["created"]) == ("success", 1), result


async def test_a_persons_sync_is_refused_at_once_while_another_process_runs_a_persons_sync(hub: Hub):
    await another_process_runs(hub, "manual")

    with pytest.raises(AlreadyRunning, match=r"a sync of mem \(contact\) is already in progress"):
        await asyncio.wait_for(hub.sync("mem", trigger="manual", actor="ada"), 1)


async def test_a_persons_sync_gives_up_when_the_other_processs_webhook_syncs_outlast_its_wait(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(hub.scopes, "whole_wait", 0.2)
    await another_process_runs(hub, "webhook")
    loop = asyncio.get_running_loop()
    asked_at = loop.time()

    with pytest.raises(AlreadyRunning, match=r"already in progress"):
        await hub.sync("mem", trigger="manual", actor="ada")
    assert loop.time() - asked_at >= 0.2


async def test_a_webhook_sync_does_not_wait_for_another_processs_sync(hub: Hub):
    await another_process_runs(hub, "webhook")

    with pytest.raises(AlreadyRunning):
        await asyncio.wait_for(hub.sync("mem", trigger="webhook", actor="system"), 1)

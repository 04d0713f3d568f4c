"""A process's own syncs of a type queue for each other: webhook syncs in turn, a person's sync ahead of new ones."""

from __future__ import annotations

import asyncio

import pytest

from hub.runs import AlreadyRunning
from hub.scopes import Scopes


async def settle() -> None:
    """Let every task that can run, run."""
    for _ in range(10):
        await asyncio.sleep(0)


def enter(scopes: Scopes, entities: list[str], trigger: str, log: list[str], name: str,
          leave: asyncio.Event) -> asyncio.Task[None]:
    """A sync holding ``entities`` of ``mem`` until ``leave`` is set; ``log`` notes when it starts."""

    async def sync() -> None:
        async with scopes.hold("mem", entities, trigger=trigger):
            log.append(name)
            await leave.wait()

    return asyncio.create_task(sync())


async def test_a_webhook_sync_waits_for_the_one_holding_its_type_then_runs():
    scopes, log, leave_first, leave_second = Scopes(), [], asyncio.Event(), asyncio.Event()
    first = enter(scopes, ["contact"], "webhook", log, "first", leave_first)
    await settle()
    second = enter(scopes, ["contact"], "webhook", log, "second", leave_second)
    other_type = enter(scopes, ["staff"], "queue", log, "staff", leave_second)
    await settle()
    assert log == ["first", "staff"]

    leave_first.set()
    await settle()
    assert log == ["first", "staff", "second"]
    leave_second.set()
    await asyncio.gather(first, second, other_type)


async def test_a_manual_sync_waits_for_webhook_syncs_while_new_ones_stand_back():
    scopes, log, leave_webhook, leave_manual = Scopes(), [], asyncio.Event(), asyncio.Event()
    webhook = enter(scopes, ["contact"], "webhook", log, "webhook", leave_webhook)
    await settle()
    manual = enter(scopes, ["contact", "staff"], "manual", log, "manual", leave_manual)
    await settle()
    assert log == ["webhook"] and scopes.whole_sync_running("mem")

    with pytest.raises(AlreadyRunning, match=r"a sync of mem \(contact\) is already in progress or about to start"):
        async with scopes.hold("mem", ["contact"], trigger="webhook"):
            pass
    leave_webhook.set()
    await settle()
    assert log == ["webhook", "manual"]
    with pytest.raises(AlreadyRunning):
        async with scopes.hold("mem", ["staff"], trigger="queue"):
            pass
    leave_manual.set()
    await asyncio.gather(webhook, manual)
    assert not scopes.whole_sync_running("mem")
    async with scopes.hold("mem", ["contact", "staff"], trigger="webhook"):
        pass


async def test_a_webhook_sync_already_waiting_stands_back_when_a_manual_sync_arrives():
    scopes, log, leave = Scopes(), [], asyncio.Event()
    webhook = enter(scopes, ["contact"], "webhook", log, "webhook", leave)
    await settle()
    waiting = enter(scopes, ["contact"], "webhook", log, "waiting", leave)
    await settle()
    manual = enter(scopes, ["contact"], "manual", log, "manual", leave)
    await settle()

    with pytest.raises(AlreadyRunning):
        await waiting
    leave.set()
    await asyncio.gather(webhook, manual)
    assert log == ["webhook", "manual"]


async def test_a_manual_sync_is_refused_at_once_while_another_holds_or_awaits_its_type():
    scopes, log, leave = Scopes(), [], asyncio.Event()
    timer = enter(scopes, ["contact"], "timer", log, "timer", leave)
    await settle()

    with pytest.raises(AlreadyRunning, match=r"mem \(contact\) is already in progress"):
        async with scopes.hold("mem", ["staff", "contact"], trigger="manual"):
            pass
    async with scopes.hold("mem", ["staff"], trigger="manual"):
        assert log == ["timer"]
    leave.set()
    await timer


async def test_a_manual_sync_gives_up_after_its_wait_and_webhook_syncs_go_on():
    scopes, log, leave = Scopes(whole_wait=0.05), [], asyncio.Event()
    webhook = enter(scopes, ["contact"], "webhook", log, "webhook", leave)
    await settle()

    with pytest.raises(AlreadyRunning, match=r"mem \(contact\): short syncs .* still running after 0.05 s"):
        async with scopes.hold("mem", ["contact"], trigger="manual"):
            pass
    assert not scopes.whole_sync_running("mem")
    leave.set()
    await webhook
    async with scopes.hold("mem", ["contact"], trigger="webhook"):
        pass

"""The run lock holds through a slow page and frees after a dead process; a run stopping mid-page keeps its writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub import runs
from hub.config import Connection
from hub.engine import Engine
from hub.errors import FatalSyncError, RateLimited, RetriableError
from hub.runs import STALE_AFTER, AlreadyRunning, start_run
from hub.store import Store
from hub.types import RemoteRecord
from tests.memory_system import Clock, MemoryRemote, MemorySystem, contact_entity, contract_file, field_rule, load

PUSHES_EMAIL = [field_rule("email", "Email", ("fill_blank", "overwrite"), ("never", "overwrite"))]
"""The home side's email overwrites the remote one on the first sync: every matched record is written remotely."""


class Rig:
    """A store, a clock, a memory system with slow or failing writes, and engines over them."""

    def __init__(self, store: Store, tmp_path: Path) -> None:
        self.store, self.clock = store, Clock()
        self.remote = MemoryRemote(self.clock, page_size=10)
        self.contract = load(contract_file(tmp_path, {"contact": contact_entity(PUSHES_EMAIL)}))
        self.write_seconds = 0.0
        """Seconds of the fake clock each remote write takes (in steps, the event loop running meanwhile)."""
        self.signal_after = timedelta(0)
        self.writing = asyncio.Event()
        """Set once a write is under way and the fake clock is ``signal_after`` past the run's start."""
        self.fail_on_write: tuple[int, Exception] | None = None
        self.written: list[str] = []

    def engine(self) -> Engine:
        rig = self
        connection = Connection("mem", "memory")

        class Slow(MemorySystem):
            async def update(self, entity: str, record: RemoteRecord, changes: dict[str, Any]) -> RemoteRecord:
                if rig.fail_on_write and len(rig.written) + 1 == rig.fail_on_write[0]:
                    raise rig.fail_on_write[1]
                steps = 10
                for _step in range(steps):
                    rig.clock.tick(rig.write_seconds / steps)
                    await asyncio.sleep(0.01)
                    if rig.clock() - rig.started >= rig.signal_after:
                        rig.writing.set()
                written = await super().update(entity, record, changes)
                rig.written.append(self.remote.get(entity, record.id)["Name"])
                return written

        return Engine(self.store, Slow(connection, httpx.AsyncClient(), remote=self.remote), self.contract,
                      connection, clock=self.clock)

    async def people(self, *names: str) -> None:
        """The same people at home (with an email) and remotely (without): the first sync writes each email out."""
        async with self.store.transaction() as tx:
            for name in names:
                await self.store.insert_record(tx, "contact", {"name": name, "email": f"{name.lower()}@home.example"},
                                               at=self.clock())
        for name in names:
            self.remote.add("contact", {"Name": name})
        self.clock.tick()
        self.started = self.clock()

    async def links(self) -> list[str]:
        rows = await self.store.fetchall("SELECT remote_id FROM links ORDER BY remote_id")
        return [row[0] for row in rows]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = await Store.open(tmp_path / "hub.db")
    yield Rig(store, tmp_path)
    await store.close()


async def test_a_second_sync_during_a_long_page_is_refused_already_in_progress(rig: Rig, monkeypatch):
    monkeypatch.setattr(runs, "HEARTBEAT_EVERY", 0.005)
    await rig.people("Ada")
    rig.write_seconds = 180  # one write outlasts STALE_AFTER: only the heartbeat keeps the lock
    rig.signal_after = timedelta(seconds=130)
    first = asyncio.create_task(rig.engine().sync())
    await asyncio.wait_for(rig.writing.wait(), 5)
    assert rig.clock() - rig.started > timedelta(seconds=130)

    with pytest.raises(AlreadyRunning, match=r"already in progress \(run 1\); it last showed life at"):
        await rig.engine().sync()
    result = await asyncio.wait_for(first, 5)

    assert (result.status, result.counts["updated"]) == ("success", 1), result
    assert await rig.links() == ["R1"]
    assert [r["status"] for r in await rig.store.runs()] == ["success"]


async def test_a_run_whose_process_died_is_refused_with_a_hint_then_taken_over_after_the_stale_time(rig: Rig):
    await rig.people("Ada")
    dead = await start_run(rig.store, connection="mem", entities=["contact"], trigger="manual", actor="a",
                           scope={}, dry_run=False, now=rig.clock())  # its process was killed: no heartbeat follows
    rig.clock.tick(60)

    with pytest.raises(AlreadyRunning) as refused:
        await rig.engine().sync()
    assert "last showed life at 2026-01-05T09:01:00" in str(refused.value)
    assert "60 s ago" in str(refused.value)
    assert "a sync from 2026-01-05T09:03:00" in str(refused.value)
    assert "2 minutes without life" in str(refused.value)

    rig.clock.tick(STALE_AFTER.total_seconds())
    result = await rig.engine().sync()

    assert result.status == "success", result
    statuses = {r["id"]: r["status"] for r in await rig.store.runs()}
    assert statuses[dead.id] == "interrupted"


async def test_a_run_that_loses_a_linking_race_fails_cleanly_naming_the_other_run(rig: Rig):
    await rig.people("Ada")
    rig.write_seconds = 10
    first = asyncio.create_task(rig.engine().sync())
    await asyncio.wait_for(rig.writing.wait(), 5)
    # Another process linked the same records meanwhile (as before the lock held through a long page).
    async with rig.store.transaction() as tx:
        cursor = await tx.execute(
            "INSERT INTO runs (connection, entities, trigger, actor, scope, dry_run, status, counts, started_at, "
            "heartbeat_at) VALUES ('mem', '[\"contact\"]', 'manual', 'b', '{}', 0, 'running', '{}', ?, ?)",
            ("2026-01-05T09:01:00Z", "2026-01-05T09:01:00Z"))
        other = cursor.lastrowid
    ada = (await rig.store.by_name("contact", ["ada"]))["ada"][0]
    async with rig.store.transaction() as tx:
        await tx.execute("INSERT INTO links (connection, entity, home_id, remote_id, how, linked_at, "
                         "remote_snapshot, remote_changed) VALUES ('mem', 'contact', ?, 'R1', 'matched', "
                         "'2026-01-05T09:01:00Z', '{}', '{}')", (ada.id,))

    result = await asyncio.wait_for(first, 5)

    assert result.status == "failed", result
    assert f"another sync of mem (contact) (run {other}) linked the same records" in result.summary
    assert sum(result.counts[a] for a in runs.ACTIONS) == result.counts["seen"]


@pytest.mark.parametrize("error", [
    RateLimited("memory: too many requests", until=Clock().now + timedelta(hours=1)),
    RetriableError("memory: cannot reach the system"),
    FatalSyncError("memory: credentials refused"),
])
async def test_remote_writes_before_a_run_stops_mid_page_are_recorded_and_not_made_again(rig: Rig, error):
    await rig.people("Ada", "Bob", "Cy", "Dee")
    rig.fail_on_write = (3, error)

    stopped = await rig.engine().sync()

    assert stopped.status != "success", stopped
    items = await rig.store.run_items(stopped.run_id)
    assert [(i["name"], i["action"]) for i in items] == [("Ada", "updated"), ("Bob", "updated")]
    assert stopped.counts["seen"] == stopped.counts["updated"] == 2
    assert await rig.links() == ["R1", "R2"]
    assert rig.remote.by_name("contact", "Ada")["Email"] == "ada@home.example"

    rig.fail_on_write = None
    rig.written.clear()
    rig.clock.tick(2 * 3600)
    await rig.store.set_connection_state("mem", paused_until=None, pause_reason=None)
    again = await rig.engine().sync()

    assert again.status == "success", again
    assert rig.written == ["Cy", "Dee"]  # Ada and Bob were not written again
    assert await rig.links() == ["R1", "R2", "R3", "R4"]

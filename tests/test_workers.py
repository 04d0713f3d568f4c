"""Background work through a whole hub: inbox events become targeted syncs, timers, rate-limit pauses, the queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from hub import inbox, outbox
from hub.app import create_app
from hub.config import User
from hub.local import create_record, edit_record
from hub.runs import start_run
from hub.runtime import Hub
from hub.status import connection_status
from hub.store import parse_iso
from hub.types import Page, PageRequest, WebhookEvent
from hub.workers import inbox_worker, process_due, recover, timer_tasks
from tests.memory_hub import open_memory_hub, signed, webhook_body
from tests.memory_system import Clock, MemoryRemote, MemorySystem


@pytest.fixture
def remote() -> MemoryRemote:
    return MemoryRemote(Clock())


@pytest.fixture
async def hub(tmp_path: Path, remote: MemoryRemote):
    hub = await open_memory_hub(tmp_path, remote)
    yield hub
    await hub.close()


async def announce(hub: Hub, remote_id: str, *, event_id: str | None = None, entity: str = "contact") -> None:
    """Commit a webhook event to the inbox as intake would."""
    body = webhook_body(entity, remote_id)
    await inbox.accept(
        hub.store,
        "mem",
        [WebhookEvent(entity, remote_id, "updated", event_id=event_id or remote_id)],
        body,
        at=hub.clock(),
    )


async def home_names(hub: Hub) -> list[str]:
    return sorted(record.name for record in await hub.store.list_records("contact"))


# --- inbox events become targeted syncs ---------------------------------------------------------------------------


async def test_an_event_syncs_only_the_record_it_names(hub: Hub, remote: MemoryRemote):
    announced = remote.add("contact", {"Name": "Ada", "Email": "ada@example"})
    remote.add("contact", {"Name": "Not Announced"})
    await announce(hub, announced)

    assert await process_due(hub) == 1

    assert await home_names(hub) == ["Ada"]
    (run,) = await hub.store.runs()
    assert (run["trigger"], run["actor"], run["status"]) == ("webhook", "webhook:mem", "success")
    assert run["scope"]["remote_ids"] == [announced]
    (row,) = await inbox.list_events(hub.store)
    assert row["status"] == "done" and row["last_error"] is None


async def test_events_for_several_records_of_a_type_share_one_run(hub: Hub, remote: MemoryRemote):
    ids = [remote.add("contact", {"Name": f"Person {n}"}) for n in range(3)]
    for remote_id in ids:
        await announce(hub, remote_id)
    await announce(hub, ids[0], event_id="again")  # a second change to the same record

    assert await process_due(hub) == 4

    assert await home_names(hub) == ["Person 0", "Person 1", "Person 2"]
    (run,) = await hub.store.runs()
    assert sorted(run["scope"]["remote_ids"]) == sorted(ids)
    assert {row["status"] for row in await inbox.list_events(hub.store)} == {"done"}


async def test_a_remote_edit_announced_by_webhook_reaches_the_home_record(hub: Hub, remote: MemoryRemote):
    remote_id = remote.add("contact", {"Name": "Ada"})
    await announce(hub, remote_id, event_id="create")
    await process_due(hub)
    hub.clock.tick()
    remote.edit("contact", remote_id, {"Email": "new@example"})
    await announce(hub, remote_id, event_id="edit")

    await process_due(hub)

    (ada,) = await hub.store.list_records("contact")
    assert ada.fields["email"] == "new@example"


async def test_nothing_due_means_no_run(hub: Hub):
    assert await process_due(hub) == 0
    assert await hub.store.runs() == []


# --- failures: backoff, dead letters, replay ----------------------------------------------------------------------


async def test_a_failing_event_backs_off_then_is_dead_lettered_and_replay_processes_it(hub: Hub, remote: MemoryRemote):
    remote_id = remote.add("contact", {"Name": "Ada"})
    await announce(hub, remote_id)
    remote.down = True
    for attempt in range(1, inbox.MAX_ATTEMPTS + 1):
        assert await process_due(hub) == 1
        (row,) = await inbox.list_events(hub.store)
        assert row["attempts"] == attempt and "cannot reach the system" in row["last_error"]
        if attempt < inbox.MAX_ATTEMPTS:
            wait = parse_iso(row["next_attempt_at"]) - hub.clock()
            ceiling = min(inbox.MAX_DELAY, inbox.BASE_DELAY * 2 ** (attempt - 1))
            assert ceiling / 2 <= wait <= ceiling
            assert await process_due(hub) == 0, "retried before its backoff ran out"
            hub.clock.tick(wait.total_seconds())
    assert row["status"] == "dead"
    hub.clock.tick(86400)
    assert await process_due(hub) == 0
    assert await home_names(hub) == []

    remote.down = False
    await inbox.replay(hub.store, row["id"], at=hub.clock())
    assert await process_due(hub) == 1
    assert await home_names(hub) == ["Ada"]
    (row,) = await inbox.list_events(hub.store)
    assert row["status"] == "done"


async def test_an_event_whose_record_fails_is_retried_while_the_others_of_its_run_are_done(
    hub: Hub, remote: MemoryRemote
):
    ada = remote.add("contact", {"Name": "Ada", "Email": "ada@remote.example"})
    bob = remote.add("contact", {"Name": "Bob"})
    await announce(hub, ada)
    await announce(hub, bob)
    await process_due(hub)
    hub.clock.tick()
    (home_ada,) = [r for r in await hub.store.list_records("contact") if r.name == "Ada"]
    await edit_record(hub.store, home_ada.id, {"email": "ada@home.example"}, actor="tester", at=hub.clock(),
                      connections=["mem"])
    remote.fail_writes["Ada"] = "the system refused Ada"
    hub.clock.tick()
    for remote_id in (ada, bob):
        remote.edit("contact", remote_id, {"Title": "Dr"})
        await announce(hub, remote_id, event_id=f"edit {remote_id}")

    await process_due(hub)

    (run, _first) = await hub.store.runs()
    assert run["status"] == "completed with 1 error"
    edits = {row["remote_id"]: row for row in (await inbox.list_events(hub.store))[:2]}  # newest first
    assert edits[bob]["status"] == "done"
    failed = edits[ada]
    assert failed["status"] == "pending" and failed["attempts"] == 1
    assert "the system refused Ada" in failed["last_error"]

    del remote.fail_writes["Ada"]
    hub.clock.now = parse_iso(failed["next_attempt_at"])
    await process_due(hub)
    assert {row["status"] for row in await inbox.list_events(hub.store)} == {"done"}
    assert remote.get("contact", ada)["Email"] == "ada@home.example"


async def test_events_wait_without_spending_attempts_while_the_connection_needs_re_authorisation(
    hub: Hub, remote: MemoryRemote, monkeypatch
):
    remote_id = remote.add("contact", {"Name": "Ada"})
    await announce(hub, remote_id)
    real_sync = hub.sync

    async def refused(*args, **kwargs):
        result = await real_sync(*args, **kwargs)
        return replace(result, status="re-authorisation required", summary="mem: refresh token refused")

    monkeypatch.setattr(hub, "sync", refused)
    for _ in range(inbox.MAX_ATTEMPTS + 2):
        await process_due(hub)
        (row,) = await inbox.list_events(hub.store)
        assert (row["status"], row["attempts"]) == ("pending", 0)
        hub.clock.now = parse_iso(row["next_attempt_at"])

    monkeypatch.setattr(hub, "sync", real_sync)
    await process_due(hub)
    assert (await inbox.list_events(hub.store))[0]["status"] == "done"


async def test_an_event_for_a_type_the_contract_lacks_is_dead_lettered_naming_it(hub: Hub):
    await announce(hub, "X1", entity="invoice")
    for _ in range(inbox.MAX_ATTEMPTS):
        await process_due(hub)
        hub.clock.tick(3600)
    (row,) = await inbox.list_events(hub.store, status="dead")
    assert "no entity type 'invoice'" in row["last_error"]


async def test_an_event_whose_type_is_busy_waits_without_spending_an_attempt(hub: Hub, remote: MemoryRemote):
    remote_id = remote.add("contact", {"Name": "Ada"})
    await announce(hub, remote_id)
    await start_run(
        hub.store,
        connection="mem",
        entities=["contact"],
        trigger="manual",
        actor="someone",
        scope={},
        dry_run=False,
        now=hub.clock(),
    )

    assert await process_due(hub) == 1

    (row,) = await inbox.list_events(hub.store)
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert await home_names(hub) == []


# --- workers of one process sharing a type ------------------------------------------------------------------------


class Gate:
    """Holds every listing of the memory system until opened, and says when one is waiting."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.waiting = asyncio.Event()


def gated(gate: Gate) -> type[MemorySystem]:
    """A memory system whose listings wait at ``gate``."""

    class GatedSystem(MemorySystem):
        async def list_page(self, request: PageRequest) -> Page:
            gate.waiting.set()
            await gate.opened.wait()
            return await super().list_page(request)

    return GatedSystem


async def eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait (at most 5 s) until ``condition`` holds."""
    try:
        async with asyncio.timeout(5):
            while not await condition():
                await asyncio.sleep(0.01)
    except TimeoutError:
        pytest.fail(f"timed out waiting until {what}")


async def test_events_of_a_type_this_process_is_syncing_are_processed_as_soon_as_that_sync_ends(
    tmp_path: Path, remote: MemoryRemote
):
    gate = Gate()
    hub = await open_memory_hub(tmp_path, remote, system=gated(gate))
    try:
        await announce(hub, remote.add("contact", {"Name": "Ada"}))
        first = asyncio.create_task(process_due(hub))
        await asyncio.wait_for(gate.waiting.wait(), 5)  # the first worker's sync of contacts is listing
        await announce(hub, remote.add("contact", {"Name": "Bob"}))
        second = asyncio.create_task(process_due(hub))

        async def both_claimed() -> bool:
            return {row["status"] for row in await inbox.list_events(hub.store)} == {"claimed"}

        await eventually(both_claimed, "the second worker claimed Bob's event")
        gate.opened.set()

        assert await asyncio.wait_for(asyncio.gather(first, second), 5) == [1, 1]
        rows = await inbox.list_events(hub.store)
        assert [(row["status"], row["attempts"]) for row in rows] == [("done", 1), ("done", 1)]
        assert await home_names(hub) == ["Ada", "Bob"]
        assert [run["status"] for run in await hub.store.runs()] == ["success", "success"]
    finally:
        await hub.close()


async def test_workers_sharing_a_backlog_of_one_type_drain_it_without_putting_events_back(
    hub: Hub, remote: MemoryRemote, monkeypatch: pytest.MonkeyPatch
):
    names = [f"Person {n:02}" for n in range(40)]
    for name in names:
        await announce(hub, remote.add("contact", {"Name": name}))
    delays: list[timedelta] = []
    real_release = inbox.release

    async def counted_release(store, ids, *, at, delay):
        delays.append(delay)
        await real_release(store, ids, at=at, delay=delay)

    monkeypatch.setattr(inbox, "release", counted_release)

    async def worker() -> None:
        while await process_due(hub, limit=5):
            pass

    # The clock stands still: an event put back for later would never come due again.
    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(4))), 30)

    assert delays == []
    assert {row["status"] for row in await inbox.list_events(hub.store)} == {"done"}
    assert await home_names(hub) == names


async def test_a_paused_connection_holds_events_until_the_pause_ends_without_dead_lettering_them(
    hub: Hub, remote: MemoryRemote
):
    remote_id = remote.add("contact", {"Name": "Ada"})
    until = hub.clock() + timedelta(hours=12)  # longer than every retry of a failing event put together
    await hub.engine("mem").pause(until, "HTTP 429")
    await announce(hub, remote_id)

    passes = 0
    while (row := (await inbox.list_events(hub.store))[0])["status"] == "pending":
        hub.clock.now = max(hub.clock(), parse_iso(row["next_attempt_at"]))  # each time the event is due
        await process_due(hub)
        passes += 1

    assert (row["status"], passes) == ("done", 2)
    assert await home_names(hub) == ["Ada"]
    assert hub.clock() == until


async def test_a_worker_keeps_going_after_a_plugin_bug(hub: Hub, remote: MemoryRemote, monkeypatch):
    remote_id = remote.add("contact", {"Name": "Ada"})
    await announce(hub, remote_id)

    async def broken(*args, **kwargs):
        raise ZeroDivisionError("plugin bug")

    monkeypatch.setattr(hub, "sync", broken)
    assert await process_due(hub) == 1
    (row,) = await inbox.list_events(hub.store)
    assert row["status"] == "pending" and row["last_error"] == "ZeroDivisionError: plugin bug"


async def test_the_inbox_worker_wakes_at_once_when_intake_commits(hub: Hub, remote: MemoryRemote, monkeypatch):
    passes: list[int] = []
    idle = asyncio.Event()
    real_process_due = process_due

    async def observed_process_due(hub: Hub) -> int:
        passes.append(1)
        if len(passes) == 1:  # intake commits while the first pass is still looking, and finds nothing
            await announce(hub, remote.add("contact", {"Name": "Ada"}))
            wake.set()
            return 0
        if len(passes) == 2:
            return await real_process_due(hub)
        idle.set()  # the worker goes back to waiting, with nothing of its own half-written
        return 0

    monkeypatch.setattr("hub.workers.process_due", observed_process_due)
    wake = asyncio.Event()
    worker = asyncio.create_task(inbox_worker(hub, wake, poll=60))
    try:
        await asyncio.wait_for(idle.wait(), timeout=5)
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker
    assert await home_names(hub) == ["Ada"]
    assert [row["status"] for row in await inbox.list_events(hub.store)] == ["done"]


# --- timers -------------------------------------------------------------------------------------------------------


class FakeTime:
    """A sleep that moves the hub's clock instead of waiting, and parks the timer for good once past ``until``."""

    def __init__(self, clock: Clock, until: datetime, on_wake: Callable[[], Awaitable[None]] | None = None) -> None:
        self.clock, self.until, self.on_wake = clock, until, on_wake
        self.parked = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        if self.clock() + timedelta(seconds=seconds) > self.until:
            self.parked.set()
            await asyncio.Event().wait()
        self.clock.tick(seconds)
        if self.on_wake:
            await self.on_wake()
        await asyncio.sleep(0)


async def run_timers(
    hub: Hub, until: datetime, on_wake: Callable[[], Awaitable[None]] | None = None
) -> list[tuple[str, datetime]]:
    """Run the hub's timers on the fake clock up to ``until``; return (trigger, start) of every run, oldest first."""
    fake = FakeTime(hub.clock, until, on_wake)
    tasks = timer_tasks(hub, sleep=fake.sleep)
    try:
        await asyncio.wait_for(fake.parked.wait(), timeout=10)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return [(run["trigger"], parse_iso(run["started_at"])) for run in reversed(await hub.store.runs())]


@pytest.fixture
async def timed_hub(tmp_path: Path, remote: MemoryRemote):
    hub = await open_memory_hub(tmp_path, remote, schedule="15m")
    yield hub
    await hub.close()


async def test_a_connections_schedule_runs_timer_syncs(timed_hub: Hub, remote: MemoryRemote):
    remote.add("contact", {"Name": "Ada"})
    start = timed_hub.clock()

    runs = await run_timers(timed_hub, start + timedelta(minutes=50))

    assert runs == [("timer", start + timedelta(minutes=m)) for m in (15, 30, 45)]
    assert await home_names(timed_hub) == ["Ada"]
    assert {run["actor"] for run in await timed_hub.store.runs()} == {"scheduler"}


async def test_sync_on_start_without_a_schedule_syncs_once_at_start_up(tmp_path: Path, remote: MemoryRemote):
    remote.add("contact", {"Name": "Ada"})
    hub = await open_memory_hub(tmp_path, remote, sync_on_start=True)
    try:
        tasks = timer_tasks(hub)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
        (run,) = await hub.store.runs()
        assert (run["trigger"], run["actor"], run["status"]) == ("timer", "scheduler", "success")
        assert await home_names(hub) == ["Ada"]
    finally:
        await hub.close()


async def test_ticks_missed_while_the_hub_was_down_run_once_not_once_each(timed_hub: Hub):
    start = timed_hub.clock()
    await timed_hub.sync("mem", trigger="timer", actor="scheduler")
    timed_hub.clock.tick(3 * 3600)  # the hub was stopped for twelve ticks

    runs = await run_timers(timed_hub, start + timedelta(hours=3, minutes=20))

    assert [at for _, at in runs] == [start, start + timedelta(hours=3), start + timedelta(hours=3, minutes=15)]


async def test_a_tick_during_a_sync_in_this_process_is_skipped(timed_hub: Hub):
    start = timed_hub.clock()
    async with timed_hub.scopes.hold("mem", ["contact"], trigger="manual"):
        assert await run_timers(timed_hub, start + timedelta(minutes=20)) == []


async def test_a_tick_that_finds_another_process_syncing_is_skipped_quietly(
    timed_hub: Hub, caplog: pytest.LogCaptureFixture
):
    start = timed_hub.clock()
    other: list[int] = []

    async def someone_runs_a_sync_at_the_tick() -> None:
        if not other and timed_hub.clock() >= start + timedelta(minutes=15):
            run = await start_run(
                timed_hub.store,
                connection="mem",
                entities=["contact"],
                trigger="manual",
                actor="amy",
                scope={"entities": ["contact"]},
                dry_run=False,
                now=timed_hub.clock(),
            )
            other.append(run.id)

    with caplog.at_level(logging.INFO, logger="hub"):
        runs = await run_timers(timed_hub, start + timedelta(minutes=20), on_wake=someone_runs_a_sync_at_the_tick)

    assert runs == [("manual", start + timedelta(minutes=15))]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert "already in progress" in caplog.text


async def test_webhook_syncs_of_single_records_do_not_put_off_the_timer(timed_hub: Hub, remote: MemoryRemote):
    start = timed_hub.clock()
    await timed_hub.sync("mem", trigger="timer", actor="scheduler")
    for minute in range(5, 60, 5):  # a busy vendor: a change announced every five minutes
        timed_hub.clock.now = start + timedelta(minutes=minute)
        await announce(timed_hub, remote.add("contact", {"Name": f"Person {minute}"}))
        await process_due(timed_hub)
    timed_hub.clock.now = start + timedelta(minutes=59)

    runs = await run_timers(timed_hub, start + timedelta(minutes=61))

    assert [at for trigger, at in runs if trigger == "timer"] == [start, start + timedelta(minutes=59)]


# --- rate limits ----------------------------------------------------------------------------------------------------


class HttpMemorySystem(MemorySystem):
    """The memory system behind a real HTTP API: every listing is a GET the vendor may refuse."""

    async def list_page(self, request: PageRequest) -> Page:
        response = await self.http.get(f"{self.base_url}/{request.entity}", params={"page": request.token or "0"})
        response.raise_for_status()
        return await super().list_page(request)


class Vendor:
    """The vendor's side of the wire: answers 429 with Retry-After for the next ``refusals`` calls."""

    def __init__(self, retry_after: str) -> None:
        self.retry_after = retry_after
        self.refusals = 0
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.refusals:
            self.refusals -= 1
            return httpx.Response(429, headers={"Retry-After": self.retry_after}, json={"error": "slow down"})
        return httpx.Response(200, json={})


@pytest.fixture
def vendor() -> Vendor:
    return Vendor(retry_after="1800")


@pytest.fixture
async def http_hub(tmp_path: Path, remote: MemoryRemote, vendor: Vendor):
    hub = await open_memory_hub(
        tmp_path,
        remote,
        system=HttpMemorySystem,
        schedule="15m",
        base_url="https://memory.example",
        transport_for=lambda _c: httpx.MockTransport(vendor),
    )
    yield hub
    await hub.close()


async def test_a_429_pauses_the_connection_until_retry_after_and_says_so(http_hub: Hub, vendor: Vendor):
    vendor.refusals = 1
    until = http_hub.clock() + timedelta(minutes=30)

    result = await http_hub.sync("mem", trigger="manual", actor="amy")

    assert result.status == f"paused until {until.isoformat()}"
    status = await connection_status(http_hub, "mem")
    assert status["state"] == f"paused until {until.isoformat()}" and "HTTP 429" in status["detail"]
    (paused,) = [a for a in await http_hub.store.activity(connection="mem") if a["kind"] == "paused"]
    assert f"paused until {until.isoformat()}" in paused["message"]
    (run,) = await http_hub.store.runs()
    assert run["status"] == result.status

    calls = vendor.calls
    http_hub.clock.tick(29 * 60)
    assert (await http_hub.sync("mem", trigger="manual", actor="amy")).status.startswith("paused until")
    assert vendor.calls == calls, "a paused connection must not call the vendor"


async def test_a_paused_connection_resumes_on_its_own_at_the_first_tick_after_the_pause(
    http_hub: Hub, remote: MemoryRemote, vendor: Vendor
):
    remote.add("contact", {"Name": "Ada"})
    vendor.refusals = 1
    start = http_hub.clock()

    runs = await run_timers(http_hub, start + timedelta(minutes=50))

    statuses = [run["status"] for run in reversed(await http_hub.store.runs())]
    paused_until = f"paused until {(start + timedelta(minutes=45)).isoformat()}"
    assert [at for _, at in runs] == [start + timedelta(minutes=m) for m in (15, 30, 45)]
    assert statuses == [paused_until, paused_until, "success"]
    assert (await connection_status(http_hub, "mem"))["state"] == "idle"
    assert await home_names(http_hub) == ["Ada"]


# --- local changes and the sync queue ----------------------------------------------------------------------------


async def test_local_changes_wait_in_the_queue_while_paused_or_unreachable_and_go_out_in_order(
    hub: Hub, remote: MemoryRemote
):
    ada_id = remote.add("contact", {"Name": "Ada", "Email": "ada@example"})
    await hub.sync("mem", trigger="manual", actor="amy")
    (ada,) = await hub.store.list_records("contact")
    hub.clock.tick()
    await edit_record(hub.store, ada.id, {"email": "first@example"}, actor="amy", at=hub.clock(), connections=["mem"])
    hub.clock.tick()
    await edit_record(hub.store, ada.id, {"email": "second@example"}, actor="amy", at=hub.clock(), connections=["mem"])
    await create_record(
        hub.store, "contact", {"name": "Bea", "email": "bea@example"}, actor="amy", at=hub.clock(), connections=["mem"]
    )
    queued = [(e.home_id, e.op) for e in await outbox.entries(hub.store, "mem")]
    assert queued[:2] == [(ada.id, "update"), (ada.id, "update")] and queued[2][1] == "create"
    assert all(record.pending for record in await hub.store.list_records("contact"))

    await hub.engine("mem").pause(hub.clock() + timedelta(minutes=10), "HTTP 429")
    assert (await hub.sync("mem", trigger="manual", actor="amy")).status.startswith("paused until")
    hub.clock.tick(600)
    remote.down = True
    assert (await hub.sync("mem", trigger="manual", actor="amy")).status == "interrupted"
    assert [(e.home_id, e.op) for e in await outbox.entries(hub.store, "mem")] == queued
    assert remote.get("contact", ada_id)["Email"] == "ada@example"

    remote.down = False
    remote.calls.clear()
    assert (await hub.sync("mem", trigger="manual", actor="amy")).status == "success"

    assert remote.get("contact", ada_id)["Email"] == "second@example"
    assert remote.by_name("contact", "Bea")["Email"] == "bea@example"
    writes = [what for what, _ in remote.calls if what in ("create", "update")]
    assert writes == ["update", "create"]
    assert await outbox.entries(hub.store, "mem") == []
    assert not any(record.pending for record in await hub.store.list_records("contact"))


# --- what an operator sees through the API ---------------------------------------------------------------------------


async def test_the_api_shows_dead_events_with_their_error_replays_them_and_shows_a_pause(
    hub: Hub, remote: MemoryRemote
):
    hub.config = replace(hub.config, users={"amy": User("amy", "admin", "amy-token")})
    app = create_app(hub, background=False)
    auth = {"Authorization": "Bearer amy-token"}
    body = webhook_body("contact", remote.add("contact", {"Name": "Ada"}))
    remote.down = True
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as api:
        assert (await api.post("/webhooks/mem", content=body, headers=signed(body, now=hub.clock()))).status_code == 200
        for _ in range(inbox.MAX_ATTEMPTS):
            await process_due(hub)
            hub.clock.tick(3600)
        (dead,) = (await api.get("/api/inbox", params={"status": "dead"}, headers=auth)).json()
        assert "cannot reach the system" in dead["last_error"]

        remote.down = False
        assert (await api.post(f"/api/inbox/{dead['id']}/replay", headers=auth)).status_code == 200
        await process_due(hub)
        (done,) = (await api.get("/api/inbox", headers=auth)).json()
        assert done["status"] == "done" and await home_names(hub) == ["Ada"]

        until = hub.clock() + timedelta(minutes=30)
        await hub.engine("mem").pause(until, "HTTP 429")
        shown = (await api.get("/api/connections/mem", headers=auth)).json()
        assert shown["state"] == f"paused until {until.isoformat()}"


async def test_after_a_restart_runs_the_workers_left_running_no_longer_hold_up_syncs(hub: Hub, remote: MemoryRemote):
    remote_id = remote.add("contact", {"Name": "Ada"})
    await start_run(
        hub.store,
        connection="mem",
        entities=["contact"],
        trigger="webhook",
        actor="webhook:mem",
        scope={"remote_ids": [remote_id]},
        dry_run=False,
        now=hub.clock(),
    )
    await announce(hub, remote_id)
    assert len(await inbox.claim(hub.store, at=hub.clock())) == 1  # ...and then the process was killed

    assert await recover(hub) == (1, 1)

    assert await process_due(hub) == 1
    assert await home_names(hub) == ["Ada"]
    interrupted, finished = reversed(await hub.store.runs())
    assert (interrupted["status"], finished["status"]) == ("interrupted", "success")


async def test_a_restart_leaves_a_sync_someone_started_by_hand_alone(hub: Hub):
    run = await start_run(
        hub.store,
        connection="mem",
        entities=["contact"],
        trigger="manual",
        actor="amy",
        scope={},
        dry_run=False,
        now=hub.clock(),
    )
    assert await recover(hub) == (0, 0)
    assert (await hub.store.run(run.id))["status"] == "running"

"""A sync the vendor's rate limit paused runs again by itself when the pause ends, once, as the person asked it."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from hub.app import create_app
from hub.config import User
from hub.disconnect import connect, disconnect
from hub.engine import Scope
from hub.resumes import DISCONNECTED_RETRY, Resumes, paused_runs
from hub.runs import start_run
from hub.runtime import Hub
from hub.status import connection_status
from hub.store import parse_iso
from hub.workers import recover
from tests.memory_hub import open_memory_hub
from tests.memory_system import Clock, MemoryRemote
from tests.test_workers import HttpMemorySystem, Vendor, eventually

PAUSE = timedelta(minutes=30)


class Later:
    """A sleep that holds the resumes until the test lets them go, then moves the hub's clock instead of waiting."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.go = asyncio.Event()
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await self.go.wait()
        self.clock.tick(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def remote() -> MemoryRemote:
    return MemoryRemote(Clock())


@pytest.fixture
def vendor() -> Vendor:
    return Vendor(retry_after=str(int(PAUSE.total_seconds())))


async def open_hub(tmp_path: Path, remote: MemoryRemote, vendor: Vendor) -> Hub:
    """A hub whose connection has no schedule, behind a vendor that may answer 429."""
    return await open_memory_hub(tmp_path, remote, system=HttpMemorySystem, base_url="https://memory.example",
                                 transport_for=lambda _c: httpx.MockTransport(vendor))


@pytest.fixture
async def hub(tmp_path: Path, remote: MemoryRemote, vendor: Vendor):
    hub = await open_hub(tmp_path, remote, vendor)
    yield hub
    await hub.close()


@pytest.fixture
async def resumes(hub: Hub):
    resumes = Resumes(hub, sleep=Later(hub.clock))
    hub.on_paused = resumes.schedule
    yield resumes
    await resumes.stop()


async def finished(resumes: Resumes) -> None:
    """Let the resumes go and wait until none is left (a resume paused again gets a new one)."""
    resumes.sleep.go.set()
    async with asyncio.timeout(5):
        while resumes.tasks:
            await asyncio.gather(*resumes.tasks.values())


async def run_rows(hub: Hub) -> list[tuple[str, str, str]]:
    """(trigger, actor, status) of every run, oldest first."""
    return [(run["trigger"], run["actor"], run["status"]) for run in reversed(await hub.store.runs())]


async def test_a_paused_manual_sync_resumes_when_the_pause_ends_with_its_scope_and_person(
    hub: Hub, resumes: Resumes, remote: MemoryRemote, vendor: Vendor
):
    remote.add("contact", {"Name": "Ada"})
    vendor.refusals = 1
    until = hub.clock() + PAUSE

    result = await hub.sync("mem", Scope(entities=("contact",)), trigger="manual", actor="amy")

    assert result.status == f"paused until {until.isoformat()}"
    status = await connection_status(hub, "mem")
    assert status["state"] == f"paused until {until.isoformat()}"
    assert status["detail"].endswith("; the sync resumes then")
    await finished(resumes)

    assert resumes.sleep.asked == [PAUSE.total_seconds()]
    assert await run_rows(hub) == [("manual", "amy", result.status), ("resume", "amy", "success")]
    resumed = (await hub.store.runs())[0]
    assert resumed["scope"] == {"entities": ["contact"]} and parse_iso(resumed["started_at"]) == until
    assert [record.name for record in await hub.store.list_records("contact")] == ["Ada"]
    (logged,) = [a for a in await hub.store.activity(connection="mem") if a["kind"] == "sync resumed"]
    assert logged["actor"] == "amy" and f"resumed as run {resumed['id']}: success" in logged["message"]
    assert (await connection_status(hub, "mem"))["state"] == "idle"


async def test_a_resume_due_while_the_connection_is_disconnected_runs_once_it_is_connected(
    hub: Hub, resumes: Resumes, remote: MemoryRemote, vendor: Vendor
):
    remote.add("contact", {"Name": "Ada"})
    vendor.refusals = 1
    await hub.sync("mem", Scope(entities=("contact",)), trigger="manual", actor="amy")
    await disconnect(hub, "mem", actor="ada")
    later = resumes.sleep

    async def sleep(seconds: float) -> None:
        if seconds == DISCONNECTED_RETRY:  # the resume found it disconnected: an admin connects it meanwhile
            await connect(hub, "mem", actor="ada")
        await later(seconds)

    resumes.sleep = sleep
    later.go.set()
    async with asyncio.timeout(5):
        while resumes.tasks:
            await asyncio.gather(*resumes.tasks.values())

    assert later.asked == [PAUSE.total_seconds(), DISCONNECTED_RETRY]
    assert [status for _, _, status in await run_rows(hub)][-1] == "success"
    assert [record.name for record in await hub.store.list_records("contact")] == ["Ada"]


async def test_a_resume_the_vendor_pauses_again_waits_for_the_new_pause(
    hub: Hub, resumes: Resumes, vendor: Vendor
):
    vendor.refusals = 2
    start = hub.clock()

    await hub.sync("mem", trigger="manual", actor="amy")
    await finished(resumes)

    assert [status for _, _, status in await run_rows(hub)] == [
        f"paused until {(start + PAUSE).isoformat()}", f"paused until {(start + 2 * PAUSE).isoformat()}", "success"
    ]
    assert hub.clock() == start + 2 * PAUSE


async def test_a_whole_sync_a_person_ran_after_the_pause_takes_the_resumes_place(
    hub: Hub, resumes: Resumes, vendor: Vendor
):
    vendor.refusals = 1
    await hub.sync("mem", Scope(entities=("contact",)), trigger="manual", actor="amy")
    hub.clock.tick(PAUSE.total_seconds())

    assert (await hub.sync("mem", trigger="manual", actor="bob")).status == "success"
    await finished(resumes)

    assert [trigger for trigger, _, _ in await run_rows(hub)] == ["manual", "manual"]
    assert await paused_runs(hub, "mem") == []


async def test_a_paused_dry_run_or_webhook_sync_gets_no_resume(hub: Hub, resumes: Resumes, vendor: Vendor):
    vendor.refusals = 2
    await hub.sync("mem", trigger="manual", actor="amy", dry_run=True)
    await hub.sync("mem", Scope(entities=("contact",), remote_ids=("C1",)), trigger="webhook", actor="webhook:mem")

    (webhook,) = await run_rows(hub)
    assert webhook[2].startswith("paused until")
    assert resumes.tasks == {}
    assert "resumes" not in (await connection_status(hub, "mem"))["detail"]


async def test_after_a_restart_a_sync_left_paused_resumes_once(tmp_path: Path, remote: MemoryRemote, vendor: Vendor):
    vendor.refusals = 1
    stopped = await open_hub(tmp_path, remote, vendor)
    try:
        first = await stopped.sync("mem", trigger="manual", actor="amy")
        again = await stopped.sync("mem", trigger="manual", actor="amy")  # asked twice while paused
    finally:
        await stopped.close()
    assert again.status == first.status
    remote.clock.tick(2 * PAUSE.total_seconds())  # the hub was down when the pause ended

    hub = await open_hub(tmp_path, remote, vendor)
    try:
        resumes = Resumes(hub, sleep=Later(hub.clock))
        assert await resumes.start() == 1
        await finished(resumes)
        assert resumes.sleep.asked == []
        assert await run_rows(hub) == [("manual", "amy", first.status)] * 2 + [("resume", "amy", "success")]
        assert await Resumes(hub).start() == 0
    finally:
        await hub.close()


async def test_a_resume_the_hub_stopped_in_the_middle_of_runs_again_after_the_restart(
    hub: Hub, resumes: Resumes, vendor: Vendor
):
    vendor.refusals = 1
    paused = await hub.sync("mem", trigger="manual", actor="amy")
    hub.clock.tick(PAUSE.total_seconds())
    await start_run(hub.store, connection="mem", entities=["contact"], trigger="resume", actor="amy", scope={},
                    dry_run=False, now=hub.clock())  # ...and then the process was killed
    await recover(hub)

    assert [run.run_id for run in await paused_runs(hub, "mem")] == [paused.run_id]
    await resumes.start()
    await finished(resumes)
    assert [status for _, _, status in await run_rows(hub)] == [paused.status, "interrupted", "success"]


async def test_through_the_api_a_sync_paused_by_a_429_resumes_and_succeeds(
    hub: Hub, remote: MemoryRemote, vendor: Vendor
):
    hub.config = replace(hub.config, users={"amy": User("amy", "admin", "amy-token")})
    remote.add("contact", {"Name": "Ada"})
    vendor.refusals = 1
    until = hub.clock() + PAUSE
    later = Later(hub.clock)
    app = create_app(hub, sleep=later)
    auth = {"Authorization": "Bearer amy-token"}
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hub", headers=auth
    ) as api:
        answer = (await api.post("/api/connections/mem/sync", json={})).json()
        assert answer["status"] == f"paused until {until.isoformat()}"
        shown = (await api.get("/api/connections/mem")).json()
        assert shown["state"] == answer["status"] and shown["detail"].endswith("; the sync resumes then")

        later.go.set()

        async def resumed() -> bool:
            latest = (await api.get("/api/runs", params={"connection": "mem"})).json()[0]
            return latest["status"] != "running" and latest["trigger"] == "resume"

        await eventually(resumed, "the paused sync resumed")
        latest = (await api.get("/api/runs", params={"connection": "mem"})).json()[0]
        assert (latest["actor"], latest["status"]) == ("amy", "success")
        assert (await api.get("/api/connections/mem")).json()["state"] == "idle"
    assert [record.name for record in await hub.store.list_records("contact")] == ["Ada"]

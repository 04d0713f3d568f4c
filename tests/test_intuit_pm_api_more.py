"""Seed 002 rules that were tested only through the engine, now through the hub's API against the Karbon simulator.

Webhooks arrive over HTTP at ``/webhooks/karbon``, the review queue and linking by hand go through ``/links``, a
429 shows on the connection, a deleted home record leaves its Karbon record unmatched, and the timer syncs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
import pytest

from hub.app import create_app
from hub.runtime import Hub
from hub.store import iso
from hub.verifiers import sign_karbon
from hub.workers import process_due
from plugins.intuit_pm.simulator import CONTACT
from tests.intuit_pm_fixtures import SIGNING_KEY, card
from tests.plugin_api_fixtures import ADMIN_TOKEN, KarbonApiRig, answer, bearer, item_of, karbon_api_rig

WEBHOOKS = "https://hub.example/webhooks/karbon"
NO_MATCH = "header 'Signature' does not match the body under any signing key"


@pytest.fixture
async def rig() -> AsyncIterator[KarbonApiRig]:
    async with karbon_api_rig() as opened:
        yield opened
        assert opened.violations == []


def subscribed(rig: KarbonApiRig) -> httpx.ASGITransport:
    """Karbon's deliveries routed to the hub's own web app, as they would reach ``hub serve``."""
    to_hub = httpx.ASGITransport(app=create_app(rig.hub, background=False))
    rig.sim.webhook_transport = to_hub
    return to_hub


async def runs(rig: KarbonApiRig) -> list[dict[str, Any]]:
    """The connection's runs, oldest first."""
    return list(reversed(answer(await rig.admin.get("/api/runs", params={"connection": rig.connection}))))


# --- 1. webhooks ------------------------------------------------------------------------------------------------


async def test_a_signed_karbon_webhook_is_taken_and_the_inbox_workers_bring_the_new_contact_in(rig: KarbonApiRig):
    await rig.load("contact", "Ada Lovelace")
    grace = await rig.load("contact", "Grace Hopper")
    rig.seed_person("Ada", "Lovelace")
    await rig.sync_now()
    subscribed(rig)
    await rig.system.subscribe(WEBHOOKS)
    # A Karbon user adds Grace, with her e-mail address: Karbon notifies the hub a minute later.
    key = rig.sim.create(CONTACT, {"FirstName": "Grace", "LastName": "Hopper",
                                   "BusinessCards": [card(EmailAddresses=["grace@navy.example"])]}).key

    report = await rig.sim.flush_webhooks(everything=True)

    assert (report["delivered"], report["failed"]) == (1, 0)
    waiting = answer(await rig.admin.get("/api/inbox", params={"status": "pending"}))
    assert {(event["entity"], event["remote_id"]) for event in waiting} == {("account", key), ("contact", key)}
    assert (await rig.get_record(grace.id))["links"] == []

    await process_due(rig.hub)

    shown = await rig.get_record(grace.id)
    assert [link["remote_id"] for link in shown["links"]] == [key]
    assert shown["fields"]["email"] == "grace@navy.example"  # first sync of the link: the blank is filled
    assert {event["status"] for event in answer(await rig.admin.get("/api/inbox"))} == {"done"}
    webhook_runs = [run for run in await runs(rig) if run["trigger"] == "webhook"]
    assert {tuple(run["scope"]["remote_ids"]) for run in webhook_runs} == {(key,)}
    assert all(run["status"] == "success" for run in webhook_runs), webhook_runs


async def test_a_karbon_webhook_with_a_bad_signature_is_refused_with_401_and_nothing_is_queued(rig: KarbonApiRig):
    to_hub = subscribed(rig)
    body = json.dumps({"ResourcePermaKey": "AbCdEf123456", "ResourceType": "Contact", "ActionType": "Updated"}).encode()

    async with httpx.AsyncClient(transport=to_hub, base_url="https://hub.example") as karbon:
        forged = await karbon.post("/webhooks/karbon", content=body, headers={"Signature": sign_karbon(body, "x" * 20)})
        unsigned = await karbon.post("/webhooks/karbon", content=body)

        assert (forged.status_code, forged.json()) == (401, {"error": NO_MATCH}), forged.text
        assert (unsigned.status_code, unsigned.json()) == (401, {"error": "missing header 'signature'"})
        assert answer(await rig.admin.get("/api/inbox")) == []

        signature = {"Signature": sign_karbon(body, SIGNING_KEY)}
        signed = await karbon.post("/webhooks/karbon", content=body, headers=signature)

    assert signed.status_code == 200 and signed.headers["x-hub-events"] == "2 new, 0 already received"
    assert len(answer(await rig.admin.get("/api/inbox"))) == 2


# --- 2. the review queue ----------------------------------------------------------------------------------------


async def test_two_home_records_with_one_karbon_name_wait_in_review_until_linked_by_hand(rig: KarbonApiRig):
    first = await rig.load("account", "Acme")
    second = await rig.load("account", "ACME")
    key = rig.seed_org("Acme", WebSites=["acme.example"])

    result = await rig.sync_now()

    assert item_of(result, remote_id=key)["action"] == "skipped"
    (row,) = await rig.links(entity="account", show="review")
    assert (row["state"], row["remote_id"], row["remote_name"]) == ("review", key, "Acme")
    assert sorted(row["candidates"]) == sorted([first.id, second.id])
    assert await rig.links(entity="account", show="linked") == []

    linked = answer(await rig.admin.post(f"{rig.at}/links", json={"entity": "account", "home_id": second.id,
                                                                   "remote_id": key}), 201)

    assert linked["link"]["how"] == "manual"
    assert await rig.links(entity="account", show="review") == []
    (pair,) = await rig.links(entity="account", show="linked")
    assert (pair["home_id"], pair["remote_id"]) == (second.id, key)
    assert (await rig.get_record(second.id))["fields"]["website"] == "acme.example"
    assert (await rig.get_record(first.id))["links"] == []
    again = await rig.sync_now()
    assert again["status"] == "success", again["summary"]
    assert await rig.links(entity="account", show="review") == []


# --- 3. Karbon's rate limit -------------------------------------------------------------------------------------


async def test_a_karbon_429_during_sync_now_pauses_the_run_and_the_connection_shows_until_when(rig: KarbonApiRig):
    await rig.load("account", "Acme")
    rig.seed_org("Acme")
    rig.clock.step = timedelta(0)  # held still, so the pause Karbon asks for is known to the second
    until = rig.clock.now + timedelta(seconds=10)  # the simulator's Retry-After: 10
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=rig.app), base_url="https://karbon") as karbon:
        answer(await karbon.post("/_sim/throttle", json={"count": 1}))

    paused = await rig.sync_now()

    assert paused["status"] == f"paused until {iso(until)}", paused["summary"]
    connection = answer(await rig.admin.get(rig.at))
    assert (connection["state"], connection["paused_until"]) == (f"paused until {iso(until)}", iso(until))
    listed = {row["connection"]: row["state"] for row in answer(await rig.admin.get("/api/connections"))}
    assert listed[rig.connection] == f"paused until {iso(until)}"
    refused = await rig.sync_now()
    assert refused["status"] == f"paused until {iso(until)}"

    rig.clock.advance(11)

    assert (await rig.sync_now())["status"] == "success"
    assert answer(await rig.admin.get(rig.at))["state"] == "idle"


# --- 4. deleting a home record ----------------------------------------------------------------------------------


async def test_deleting_a_linked_home_record_delinks_it_and_the_karbon_record_stays_unmatched(rig: KarbonApiRig):
    await rig.load("account", "Acme")
    ada = await rig.load("contact", "Ada Lovelace", title="CFO")
    rig.seed_org("Acme")
    key = rig.seed_person("Ada", "Lovelace", EmailAddresses=["ada@karbon.example"])
    await rig.sync_now()
    calls = len(rig.calls())

    deleted = answer(await rig.admin.delete(f"/api/records/{ada.id}"))

    assert deleted["delinked"] == [{"connection": rig.connection, "entity": "contact", "remote_id": key}]
    assert deleted["deactivating"] == [] and (await rig.get_record(ada.id))["queued"] == []  # on_home_delete: delink
    assert rig.calls()[calls:] == []  # nothing is deleted or written in Karbon
    assert key in rig.sim.contacts and rig.card_of(key)["RoleOrTitle"] == "CFO"
    (row,) = await rig.links(entity="contact", show="unmatched")
    assert (row["state"], row["remote_id"], row["remote_name"]) == ("unmatched remote", key, "Ada Lovelace")
    assert await rig.list_records("contact") == []

    later = await rig.sync_now()

    assert later["status"] == "completed with 1 skipped", later["summary"]
    assert item_of(later, remote_id=key)["reason"] == "delinked by a person: link it by hand or import it"
    assert [row["remote_id"] for row in await rig.links(entity="contact", show="unmatched")] == [key]
    assert await rig.list_records("contact") == []


# --- 5. the timer -----------------------------------------------------------------------------------------------


class MovableClock(Protocol):
    """A test clock whose time can be set."""

    now: datetime


class FakeSleep:
    """A sleep that moves the test clock instead of waiting, and parks the timer for good past ``until``."""

    def __init__(self, clock: MovableClock, until: datetime) -> None:
        self.clock, self.until = clock, until
        self.parked = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        if self.clock.now + timedelta(seconds=seconds) > self.until:
            self.parked.set()
            await asyncio.Event().wait()
        self.clock.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


@contextmanager
def scheduled(hub: Hub, connection: str, schedule: str) -> Iterator[None]:
    """The connection configured to sync on its own every ``schedule`` (as ``schedule = "15m"`` in hub.toml)."""
    configured = hub.config.connections[connection]
    hub.config.connections[connection] = replace(configured, schedule=schedule)
    try:
        yield
    finally:
        hub.config.connections[connection] = configured


@asynccontextmanager
async def serving_until(hub: Hub, clock: MovableClock, until: datetime) -> AsyncIterator[httpx.AsyncClient]:
    """The hub served with its timers on a fake clock that stops at ``until``; an admin's client."""
    sleep = FakeSleep(clock, until)
    app = create_app(hub, background=True, sleep=sleep)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hub", headers=bearer(ADMIN_TOKEN)
    ) as client:
        await asyncio.wait_for(sleep.parked.wait(), timeout=10)
        yield client


async def test_the_connections_timer_runs_a_karbon_sync_recorded_as_a_timer_sync(rig: KarbonApiRig):
    ada = await rig.load("contact", "Ada Lovelace")
    key = rig.seed_person("Ada", "Lovelace", RoleOrTitle="Countess")
    start = rig.clock.now

    with scheduled(rig.hub, rig.connection, "15m"):
        async with serving_until(rig.hub, rig.clock, start + timedelta(minutes=20)) as client:
            shown = answer(await client.get("/api/runs", params={"connection": rig.connection}))

    (run,) = shown
    assert (run["trigger"], run["actor"], run["status"]) == ("timer", "scheduler", "success")
    assert datetime.fromisoformat(run["started_at"]) >= start + timedelta(minutes=15)
    assert (await rig.get_record(ada.id))["fields"]["title"] == "Countess"
    assert [link["remote_id"] for link in (await rig.get_record(ada.id))["links"]] == [key]

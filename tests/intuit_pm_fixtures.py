"""A hub with one Intuit Practice Management connection, wired to the Karbon simulator through the spec checker.

Every request the plugin sends and every answer it gets passes `SpecCheckingTransport`, so a test that ends
with `rig.violations == []` proves the traffic matched KarbonAPI.json.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from karbon_openapi import SpecCheckingTransport

from hub.config import parse_config
from hub.engine import RunResult, Scope
from hub.local import create_record, edit_record
from hub.runtime import Hub
from hub.store import HomeRecord
from plugins.intuit_pm.simulator import KarbonSimulator, create_app

CONNECTION = "karbon"
SIGNING_KEY = "hub-signing-key_0123456789"
ENV = {
    "KARBON_APP_ID": "sim-app-id",
    "KARBON_ACCESS_KEY": "sim-access-key",
    "KARBON_SIGNING_KEY": SIGNING_KEY,
    "HUB_PLUGINS": "core,intuit_pm",
}
SECRETS = {"app_id": "KARBON_APP_ID", "access_key": "KARBON_ACCESS_KEY", "webhook_signing_key": "KARBON_SIGNING_KEY"}


class Clock:
    """One clock for the hub and the simulator that moves a second each time it is read.

    Moving on every read keeps each stamp distinct and keeps the hub's limiter (120 calls a minute) from ever
    waiting in real time; `step = 0` holds it still, for a test that must see a pause before it ends.
    """

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
        self.step = timedelta(seconds=1)

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now

    def advance(self, seconds: float) -> None:
        """Move on by hand."""
        self.now += timedelta(seconds=seconds)


def card(**fields: Any) -> dict[str, Any]:
    """A primary business card for seeding."""
    return {"IsPrimaryCard": True, **fields}


def address(lines: str, city: str = "", **more: str) -> dict[str, Any]:
    """A Karbon address with the fields given (blank ones left out)."""
    parts = {"AddressLines": lines, "City": city, **more}
    return {name: value for name, value in parts.items() if value}


class KarbonRig:
    """The hub, the simulator, the spec checker and the clock, with the steps a user takes."""

    def __init__(self, hub: Hub, app: Any, transport: SpecCheckingTransport, clock: Clock) -> None:
        self.hub, self.app, self.transport, self.clock = hub, app, transport, clock

    @property
    def sim(self) -> KarbonSimulator:
        """The simulated Karbon tenant."""
        return self.app.state.sim

    @property
    def violations(self) -> list[Any]:
        """Traffic that did not match KarbonAPI.json."""
        return self.transport.violations

    @property
    def system(self) -> Any:
        """The connection's IntuitPracticeManagement client."""
        return self.hub.system(CONNECTION)

    async def sync(self, scope: Scope | None = None, **kwargs: Any) -> RunResult:
        """Sync Now (the whole connection unless a scope narrows it)."""
        return await self.hub.sync(CONNECTION, scope or Scope(), trigger="manual", actor="tester", **kwargs)

    # --- the hub side -------------------------------------------------------------------------------------

    async def load(self, entity: str, name: str, **fields: Any) -> HomeRecord:
        """A record of the firm's own, loaded into the hub before any sync (not queued)."""
        async with self.hub.store.transaction() as tx:
            return await self.hub.store.insert_record(tx, entity, {"name": name, **fields}, at=self.clock())

    async def create_at_home(self, entity: str, name: str, **fields: Any) -> HomeRecord:
        """A record a hub user creates after the connection is set up (queued for Karbon)."""
        return await create_record(
            self.hub.store, entity, {"name": name, **fields}, actor="tester", at=self.clock(), connections=[CONNECTION]
        )

    async def edit_at_home(self, record: HomeRecord, *, queued: bool = True, **changes: Any) -> HomeRecord:
        """A hub user's edit, queued for Karbon (or, with ``queued=False``, left for the next sync to find)."""
        return await edit_record(
            self.hub.store,
            record.id,
            changes,
            actor="tester",
            at=self.clock(),
            connections=[CONNECTION] if queued else [],
        )

    async def home(self, record: HomeRecord) -> HomeRecord:
        """A home record as stored now."""
        found = await self.hub.store.record(record.id)
        assert found is not None
        return found

    async def linked_key(self, record: HomeRecord) -> str | None:
        """The Karbon key a home record is linked to, if any."""
        links = await self.hub.store.links_by_home(CONNECTION, record.entity, [record.id])
        return links[record.id].remote_id if record.id in links else None

    async def unlinked(self, entity: str) -> list[dict[str, Any]]:
        """Karbon records seen but not linked (the unmatched list and the review queue)."""
        return await self.hub.store.unlinked_remote(CONNECTION, entity)

    # --- the Karbon side ----------------------------------------------------------------------------------

    def seed_org(self, name: str, **card_fields: Any) -> str:
        """An Organization a Karbon user made, with a primary card; returns its key."""
        body = {"FullName": name, "BusinessCards": [card(**card_fields)]}
        return self.sim.seed({"Organizations": [body]})["Organizations"][0]

    def seed_person(self, first: str, last: str, **card_fields: Any) -> str:
        """A Contact a Karbon user made, with a primary card; returns its key."""
        body = {"FirstName": first, "LastName": last, "BusinessCards": [card(**card_fields)]}
        return self.sim.seed({"Contacts": [body]})["Contacts"][0]

    def record(self, key: str) -> dict[str, Any]:
        """A Contact's or Organization's own fields, as Karbon holds them."""
        entity = self.sim.contacts.get(key) or self.sim.organizations[key]
        return copy.deepcopy(entity.fields)

    def card_of(self, key: str) -> dict[str, Any]:
        """The primary card of a Contact or Organization, as Karbon holds it."""
        entity = self.sim.contacts.get(key) or self.sim.organizations[key]
        cards = [self.sim.cards[card_key] for card_key in entity.card_keys]
        return copy.deepcopy(next(c for c in cards if c["IsPrimaryCard"]))

    def edit_card(self, key: str, **changes: Any) -> None:
        """A Karbon user edits the primary card of a Contact or Organization."""
        self.sim.edit("BusinessCards", self.card_of(key)["BusinessCardKey"], changes)

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """The API calls the simulator answered, optionally of one method."""
        return [call for call in self.sim.calls if method is None or call["method"] == method]


@asynccontextmanager
async def karbon_rig(
    *, options: dict[str, Any] | None = None, secrets: dict[str, str] | None = None
) -> AsyncIterator[KarbonRig]:
    """Open a hub (store in memory) with one Karbon connection mounted on a fresh simulator."""
    clock = Clock()
    app = create_app(clock=clock, per_minute=100_000)
    transport = SpecCheckingTransport(httpx.ASGITransport(app=app))
    connection = {"plugin": "intuit_pm", "secrets": SECRETS if secrets is None else secrets, "options": options or {}}
    config = parse_config({"hub": {"database": ":memory:"}, "connections": {CONNECTION: connection}}, ENV)
    hub = await Hub.open(config, env=ENV, transport_for=lambda _connection: transport, clock=clock)
    try:
        yield KarbonRig(hub, app, transport, clock)
    finally:
        await hub.close()

"""Hubs with a Karbon or a QuickBooks connection, served in-process as the web app, driven as a person would.

Each rig is the plugin's own test rig (simulator, clock, transport, the steps a user takes on the system's
side) plus HTTP clients for an admin (ada) and a standard user (sam) talking to ``create_app(hub)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from karbon_openapi import SpecCheckingTransport

from hub.app import create_app
from hub.config import parse_config
from hub.runtime import Hub
from plugins.intuit_pm.simulator import create_app as karbon_simulator
from plugins.quickbooks.simulator import create_app as qbo_simulator
from tests import intuit_pm_fixtures as karbon
from tests import quickbooks_fixtures as qbo

ADMIN_TOKEN = "admin-token-0123456789"
STANDARD_TOKEN = "standard-token-0123456789"
USERS = {
    "ada": {"role": "admin", "token_env": "HUB_ADMIN_TOKEN"},
    "sam": {"role": "standard", "token_env": "HUB_STANDARD_TOKEN"},
}
TOKENS = {"HUB_ADMIN_TOKEN": ADMIN_TOKEN, "HUB_STANDARD_TOKEN": STANDARD_TOKEN}


def bearer(token: str) -> dict[str, str]:
    """The Authorization header carrying a token."""
    return {"Authorization": f"Bearer {token}"}


def answer(response: httpx.Response, status: int = 200) -> Any:
    """The JSON of an answer that must have this status (the body is shown when it has not)."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json()


def item_of(result: dict[str, Any], **wanted: Any) -> dict[str, Any]:
    """The one item of a run result with these values."""
    (item,) = [item for item in result["items"] if all(item[key] == value for key, value in wanted.items())]
    return item


class ApiSteps:
    """What a person does through the hub's API; mixed into a plugin rig."""

    connection: str
    admin: httpx.AsyncClient
    standard: httpx.AsyncClient

    @property
    def at(self) -> str:
        """The connection's path under ``/api``."""
        return f"/api/connections/{self.connection}"

    async def sync_now(self, **body: Any) -> dict[str, Any]:
        """An admin's manual sync (the whole connection unless the body narrows it); its result."""
        return answer(await self.admin.post(f"{self.at}/sync", json=body))

    async def run(self, run_id: int) -> dict[str, Any]:
        """A run with its items, as ``GET /api/runs/{id}`` shows it."""
        return answer(await self.admin.get(f"/api/runs/{run_id}"))

    async def get_record(self, home_id: str) -> dict[str, Any]:
        """A home record whole, as ``GET /api/records/{id}`` shows it."""
        return answer(await self.standard.get(f"/api/records/{home_id}"))

    async def list_records(self, entity: str, search: str = "") -> list[dict[str, Any]]:
        """Live home records of a type, searched by name."""
        return answer(await self.standard.get("/api/records", params={"entity": entity, "search": search}))

    async def create(self, entity: str, **fields: Any) -> dict[str, Any]:
        """A standard user creates a home record."""
        return answer(await self.standard.post("/api/records", json={"entity": entity, "fields": fields}), 201)

    async def edit(self, home_id: str, **fields: Any) -> dict[str, Any]:
        """A standard user changes some fields of a home record."""
        return answer(await self.standard.patch(f"/api/records/{home_id}", json={"fields": fields}))

    async def links(self, **params: str) -> list[dict[str, Any]]:
        """The links listing (linked, unmatched, review) with these filters."""
        return answer(await self.standard.get(f"{self.at}/links", params=params))

    async def import_records(self, entity: str, *remote_ids: str) -> dict[str, Any]:
        """An admin imports remote records into the hub."""
        body = {"entity": entity, "remote_ids": list(remote_ids)}
        return answer(await self.admin.post(f"{self.at}/import", json=body))

    async def export_records(self, entity: str, *record_ids: str) -> dict[str, Any]:
        """An admin exports home records to the system."""
        body = {"entity": entity, "record_ids": list(record_ids)}
        return answer(await self.admin.post(f"{self.at}/export", json=body))

    async def start_export(self, entity: str, *record_ids: str) -> httpx.Response:
        """An admin starts an export without waiting for it (Prefer: respond-async): the 202 with its run id."""
        body = {"entity": entity, "record_ids": list(record_ids)}
        return await self.admin.post(f"{self.at}/export", json=body, headers={"Prefer": "respond-async"})


class KarbonApiRig(karbon.KarbonRig, ApiSteps):
    """The Karbon rig with the hub's API in front of it."""

    connection = karbon.CONNECTION


class QboApiRig(qbo.QboRig, ApiSteps):
    """The QuickBooks rig with the hub's API in front of it."""

    connection = qbo.CONNECTION

    async def linked_customer(self, name: str, **remote: Any) -> tuple[str, str]:
        """A customer in both places, linked by a sync of customers; returns the home id and the QuickBooks Id."""
        home = await self.load("customer", name, hidden=False)
        remote_id = self.customer(name, **remote)
        await self.sync_now(entities=["customer"])
        assert await self.remote_id(home) == remote_id
        return home.id, remote_id


@asynccontextmanager
async def _served(
    name: str, settings: dict[str, Any], env: Mapping[str, str], transport: httpx.AsyncBaseTransport, clock: Any
) -> AsyncIterator[tuple[Hub, Any, httpx.AsyncClient, httpx.AsyncClient]]:
    """A hub (store in memory) with one connection over ``transport``, its app, and the two users' clients."""
    env = {**env, **TOKENS}
    document = {"hub": {"database": ":memory:"}, "users": USERS, "connections": {name: settings}}
    hub = await Hub.open(parse_config(document, env), env=env, transport_for=lambda _connection: transport, clock=clock)
    app = create_app(hub, background=False)
    to_app = httpx.ASGITransport(app=app)
    admin = httpx.AsyncClient(transport=to_app, base_url="http://hub", headers=bearer(ADMIN_TOKEN))
    standard = httpx.AsyncClient(transport=to_app, base_url="http://hub", headers=bearer(STANDARD_TOKEN))
    try:
        yield hub, app, admin, standard
    finally:
        await admin.aclose()
        await standard.aclose()
        await app.state.background_runs.close()  # the lifespan's part, which ASGITransport does not run
        await hub.close()


@asynccontextmanager
async def karbon_api_rig(*, options: dict[str, Any] | None = None) -> AsyncIterator[KarbonApiRig]:
    """The hub's API over one Karbon connection on a fresh simulator, every call checked against Karbon's spec."""
    clock = karbon.Clock()
    simulator = karbon_simulator(clock=clock, per_minute=100_000)
    transport = SpecCheckingTransport(httpx.ASGITransport(app=simulator))
    settings = {"plugin": "intuit_pm", "secrets": karbon.SECRETS, "options": options or {}}
    async with _served(karbon.CONNECTION, settings, karbon.ENV, transport, clock) as (hub, _app, admin, standard):
        rig = KarbonApiRig(hub, simulator, transport, clock)
        rig.admin, rig.standard = admin, standard
        yield rig


@asynccontextmanager
async def qbo_api_rig(*, options: dict[str, Any] | None = None) -> AsyncIterator[QboApiRig]:
    """The hub's API over one QuickBooks connection on a fresh simulator company."""
    clock = qbo.Clock()
    simulator = qbo_simulator(clock=clock, realm_id=qbo.REALM, verifier_token=qbo.VERIFIER_TOKEN, per_minute=100_000)
    transport = qbo.SimTransport(simulator)
    settings = {
        "plugin": "quickbooks",
        "options": {"realm_id": qbo.REALM, **(options or {})},
        "secrets": qbo.TOKEN_SECRETS,
    }
    async with _served(qbo.CONNECTION, settings, qbo.ENV, transport, clock) as (hub, _app, admin, standard):
        # The System reads the time only to judge CDC's 30 days; in a test it must read the test's clock.
        hub.system(qbo.CONNECTION).clock = clock
        rig = QboApiRig(hub, simulator, transport, clock)
        rig.admin, rig.standard = admin, standard
        yield rig

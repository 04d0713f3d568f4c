"""A hub with one QuickBooks Online connection, mounted in-process on the QBO simulator.

`SimTransport` sits between the plugin and the simulator: it logs each call, can be switched off (a user
working disconnected), can run a hook just before a write reaches QuickBooks (a QuickBooks user editing
the same record meanwhile), and answers Intuit's OAuth token endpoint with a fake one.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
from cryptography.fernet import Fernet

from hub.config import parse_config
from hub.engine import RunResult, Scope
from hub.local import create_record, edit_record
from hub.runtime import Hub
from hub.store import HomeRecord
from plugins.quickbooks.sim_state import QboSimulator
from plugins.quickbooks.simulator import create_app
from plugins.quickbooks.system import QuickBooks

CONNECTION = "qbo"
REALM = "9341453000000000"
VERIFIER_TOKEN = "sim-verifier-token"
ENV = {
    "QBO_ACCESS_TOKEN": "sim-access-token",
    "QBO_VERIFIER_TOKEN": VERIFIER_TOKEN,
    "QBO_CLIENT_ID": "client-id",
    "QBO_CLIENT_SECRET": "client-secret",
    "QBO_REFRESH_TOKEN": "rt-initial",
    "HUB_SECRET_KEY": Fernet.generate_key().decode(),
    "HUB_PLUGINS": "core,quickbooks",
}
TOKEN_SECRETS = {"access_token": "QBO_ACCESS_TOKEN", "webhook_verifier_token": "QBO_VERIFIER_TOKEN"}
OAUTH_SECRETS = {
    "client_id": "QBO_CLIENT_ID",
    "client_secret": "QBO_CLIENT_SECRET",
    "refresh_token": "QBO_REFRESH_TOKEN",
    "webhook_verifier_token": "QBO_VERIFIER_TOKEN",
}
TOKEN_HOST = "oauth.platform.intuit.com"
SALE = {"description": "Consulting", "amount": 150.0, "quantity": 2, "unit_price": 75.0}


class Clock:
    """One clock for the hub and the simulator, a second later at each reading.

    QuickBooks keeps times to the second, so distinct seconds keep "which side changed last" unambiguous,
    and a moving clock keeps the hub's rate limiter from ever waiting in real time.
    """

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def advance(self, **delta: float) -> None:
        """Move on by hand."""
        self.now += timedelta(**delta)


@dataclass(frozen=True)
class Call:
    """One request the plugin sent to QuickBooks."""

    method: str
    path: str
    params: dict[str, str]
    body: bytes

    @property
    def resource(self) -> str:
        """The path below the company, e.g. ``customer``, ``query``, ``cdc``."""
        return self.path.split(f"/v3/company/{REALM}/", 1)[-1]

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


class TokenEndpoint:
    """Intuit's token endpoint: rotates both tokens on each refresh, or refuses once ``refuse`` is set."""

    def __init__(self) -> None:
        self.issued = 0
        self.refuse = False
        self.grants: list[dict[str, list[str]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.grants.append(parse_qs(request.content.decode()))
        if self.refuse:
            return httpx.Response(400, json={"error": "invalid_grant", "error_description": "Token invalid"})
        self.issued += 1
        return httpx.Response(
            200,
            json={
                "access_token": f"at-{self.issued}",
                "refresh_token": f"rt-{self.issued}",
                "expires_in": 3600,
                "x_refresh_token_expires_in": 8726400,
                "token_type": "bearer",
            },
        )


class SimTransport(httpx.AsyncBaseTransport):
    """The simulator in-process, with a call log, an off switch and a hook before each write."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.calls: list[Call] = []
        self.offline = False
        self.before_write: Callable[[Call], None] | None = None
        self.tokens = TokenEndpoint()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.offline:
            raise httpx.ConnectError("QuickBooks cannot be reached", request=request)
        if request.url.host == TOKEN_HOST:
            return self.tokens(request)
        call = Call(request.method, request.url.path, dict(request.url.params), request.content)
        self.calls.append(call)
        if self.before_write and request.method == "POST" and call.resource not in ("query", "batch"):
            hook, self.before_write = self.before_write, None
            hook(call)
        return await self.inner.handle_async_request(request)


class QboRig:
    """The hub, the simulator and the clock, with the steps a user takes on either side."""

    def __init__(self, hub: Hub, app: Any, transport: SimTransport, clock: Clock) -> None:
        self.hub, self.app, self.transport, self.clock = hub, app, transport, clock

    @property
    def sim(self) -> QboSimulator:
        """The simulated QuickBooks company."""
        return self.app.state.sim

    @property
    def system(self) -> QuickBooks:
        """The connection's QuickBooks client."""
        system = self.hub.system(CONNECTION)
        assert isinstance(system, QuickBooks)
        return system

    async def sync(self, scope: Scope | None = None, **kwargs: Any) -> RunResult:
        """Sync Now (or a narrower run), as the tester."""
        return await self.hub.sync(CONNECTION, scope, trigger="manual", actor="tester", **kwargs)

    async def items(self, result: RunResult, entity: str | None = None) -> list[dict[str, Any]]:
        """The run's items (of one entity type, if given)."""
        assert result.run_id is not None
        return [i for i in await self.hub.store.run_items(result.run_id) if entity in (None, i["entity"])]

    def calls(self, resource: str | None = None, method: str | None = None) -> list[Call]:
        """The calls QuickBooks got, optionally to one resource and with one method."""
        return [c for c in self.transport.calls if resource in (None, c.resource) and method in (None, c.method)]

    def writes(self) -> list[Call]:
        """The writes QuickBooks got (creates and updates, and the batches the hub sends creates in)."""
        return [c for c in self.transport.calls if c.method == "POST" and c.resource != "query"]

    # --- the hub side -------------------------------------------------------------------------------------

    async def load(self, entity: str, name: str, **fields: Any) -> HomeRecord:
        """A record the firm already has in the hub (saved, not queued)."""
        async with self.hub.store.transaction() as tx:
            return await self.hub.store.insert_record(tx, entity, {"name": name, **fields}, at=self.clock())

    async def create_at_home(self, entity: str, name: str, **fields: Any) -> HomeRecord:
        """A record a hub user creates (queued for QuickBooks)."""
        return await create_record(
            self.hub.store, entity, {"name": name, **fields}, actor="tester", at=self.clock(), connections=[CONNECTION]
        )

    async def edit_at_home(self, record: HomeRecord, **changes: Any) -> HomeRecord:
        """A hub user's edit (queued for QuickBooks)."""
        return await edit_record(
            self.hub.store, record.id, changes, actor="tester", at=self.clock(), connections=[CONNECTION]
        )

    async def home(self, record: HomeRecord) -> HomeRecord:
        """A home record as stored now."""
        found = await self.hub.store.record(record.id)
        assert found is not None
        return found

    async def home_named(self, entity: str, name: str) -> list[HomeRecord]:
        """Live home records of a type with exactly this name."""
        return [r for r in await self.hub.store.list_records(entity) if r.name == name]

    async def remote_id(self, record: HomeRecord) -> str | None:
        """The QuickBooks Id a home record is linked to, if any."""
        links = await self.hub.store.links_by_home(CONNECTION, record.entity, [record.id])
        return links[record.id].remote_id if record.id in links else None

    # --- the QuickBooks side ------------------------------------------------------------------------------

    def seed(self, entity: str, *bodies: dict[str, Any]) -> list[str]:
        """Records that already exist in QuickBooks; returns their Ids."""
        return self.sim.seed({entity: list(bodies)})[entity]

    def customer(self, name: str, **fields: Any) -> str:
        """A customer made in QuickBooks; returns its Id."""
        return self.seed("Customer", {"DisplayName": name, **fields})[0]

    def remote(self, entity: str, remote_id: str) -> dict[str, Any]:
        """A record as QuickBooks holds it (inactive ones and deletion markers included)."""
        return next(row for row in self.sim.records(entity) if row["Id"] == remote_id)

    def remote_named(self, entity: str, name: str, key: str = "DisplayName") -> list[dict[str, Any]]:
        """QuickBooks records of a type with exactly this name."""
        return [row for row in self.sim.records(entity) if row.get(key) == name]

    def edit_remote(self, entity: str, remote_id: str, **changes: Any) -> dict[str, Any]:
        """A QuickBooks user's edit: SyncToken and LastUpdatedTime move on."""
        return self.sim.edit(entity, remote_id, changes)


@asynccontextmanager
async def qbo_rig(
    *, options: dict[str, Any] | None = None, secrets: dict[str, str] | None = None
) -> AsyncIterator[QboRig]:
    """Open a hub (store in memory) with one QuickBooks connection on a fresh simulator company."""
    clock = Clock()
    app = create_app(clock=clock, realm_id=REALM, verifier_token=VERIFIER_TOKEN, per_minute=100_000)
    transport = SimTransport(app)
    connection = {
        "plugin": "quickbooks",
        "options": {"realm_id": REALM, **(options or {})},
        "secrets": TOKEN_SECRETS if secrets is None else secrets,
    }
    config = parse_config({"hub": {"database": ":memory:"}, "connections": {CONNECTION: connection}}, ENV)
    hub = await Hub.open(config, env=ENV, transport_for=lambda _connection: transport, clock=clock)
    # The System reads the time only to judge CDC's 30 days; in a test it must read the test's clock.
    hub.system(CONNECTION).clock = clock  # type: ignore[attr-defined]
    try:
        yield QboRig(hub, app, transport, clock)
    finally:
        await hub.close()

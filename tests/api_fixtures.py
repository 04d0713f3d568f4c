"""A hub over the in-memory test system, its web app, and HTTP clients for an admin and a standard user."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from hub import hookimpl
from hub.app import create_app
from hub.config import parse_config
from hub.runtime import Hub
from hub.store import HomeRecord
from tests.memory_system import Clock, MemoryPlugin, MemoryRemote, MemorySystem, contact_entity, field_rule

ADMIN_TOKEN = "admin-token-0123456789"
STANDARD_TOKEN = "standard-token-0123456789"
ENV = {"HUB_ADMIN_TOKEN": ADMIN_TOKEN, "HUB_STANDARD_TOKEN": STANDARD_TOKEN, "HUB_PLUGINS": "core"}

CONTACT_FIELDS = [
    field_rule("email", "Email", ("fill_blank", "overwrite"), ("never", "overwrite")),
    field_rule("title", "Title", ("fill_blank", "overwrite"), ("never", "overwrite")),
]

ENTITIES: dict[str, Any] = {
    # Like the practice-management seeds: records made at home go out by themselves, remote-only ones wait.
    "contact": contact_entity(CONTACT_FIELDS, create={"to_home": "on_request", "to_remote": "auto"}),
    # Staff only ever come from the system.
    "staff": contact_entity(
        [field_rule("email", "Email", ("mirror", "never"), ("mirror", "never"))],
        remote_type="Staff",
        pull_only=True,
        create={"to_home": "auto", "to_remote": "never"},
    ),
    # Items go out only when a person exports them, and never come in as new records.
    "item": contact_entity(
        [field_rule("price", "Price", ("never", "overwrite"), ("never", "overwrite"))],
        remote_type="Item",
        create={"to_home": "never", "to_remote": "on_request"},
    ),
}

OPTIONS = {
    "refuse_first_sync_into_empty_home": {
        "default": False,
        "description": "refuse a first sync while the hub has no records of the type",
    }
}


def memory_contract(directory: Path) -> Path:
    """Write the test system's contract and return its path."""
    document = {
        "contract_version": 1,
        "plugin": "memory",
        "system": "Memory",
        "api": "hub-defined",
        "options": OPTIONS,
        "entities": ENTITIES,
    }
    path = directory / "memory.json"
    path.write_text(json.dumps(document, indent=2))
    return path


def memory_plugin(contract: Path, remote: MemoryRemote) -> MemoryPlugin:
    """A plugin registering a memory system bound to this contract and remote state."""
    system = type("ApiMemorySystem", (MemorySystem,), {"contract_path": contract, "remote_store": remote})

    class Plugin(MemoryPlugin):
        @hookimpl
        def register_systems(self, register: Callable[[type[MemorySystem]], None]) -> None:
            register(system)

    return Plugin()


def hub_config(database: Path) -> dict[str, Any]:
    """Two users and three connections to the memory system (one refusing a first sync into an empty hub)."""
    return {
        "hub": {"database": str(database)},
        "users": {
            "ada": {"role": "admin", "token_env": "HUB_ADMIN_TOKEN"},
            "sam": {"role": "standard", "token_env": "HUB_STANDARD_TOKEN"},
        },
        "connections": {
            "mem": {"plugin": "memory", "schedule": "15m"},
            "mem2": {"plugin": "memory", "entities": ["contact"]},
            "careful": {"plugin": "memory", "options": {"refuse_first_sync_into_empty_home": True}},
        },
    }


def bearer(token: str) -> dict[str, str]:
    """The Authorization header carrying a token."""
    return {"Authorization": f"Bearer {token}"}


@dataclass
class ApiRig:
    """A hub, its app, the remote system's state, the clock, and clients for an admin and a standard user."""

    hub: Hub
    app: Starlette
    remote: MemoryRemote
    clock: Clock
    admin: httpx.AsyncClient
    standard: httpx.AsyncClient

    async def home(self, entity: str = "contact", **fields: Any) -> HomeRecord:
        """Add a home record directly, as if loaded before the hub was connected."""
        self.clock.tick(1)
        async with self.hub.store.transaction() as tx:
            return await self.hub.store.insert_record(tx, entity, fields, at=self.clock())

    async def sync(self, connection: str = "mem", **body: Any) -> dict[str, Any]:
        """Run an admin sync through the API and return its result."""
        self.clock.tick()
        response = await self.admin.post(f"/api/connections/{connection}/sync", json=body)
        assert response.status_code == 200, response.text
        return response.json()


@asynccontextmanager
async def open_rig(tmp_path: Path) -> AsyncIterator[ApiRig]:
    """Open a hub over the memory system and serve its app in-process; close everything after."""
    clock = Clock()
    remote = MemoryRemote(clock)
    plugin = memory_plugin(memory_contract(tmp_path), remote)
    hub = await Hub.open(parse_config(hub_config(tmp_path / "hub.db"), ENV), env=ENV, plugins=[plugin], clock=clock)
    app = create_app(hub, background=False)
    transport = httpx.ASGITransport(app=app)
    admin = httpx.AsyncClient(transport=transport, base_url="http://hub", headers=bearer(ADMIN_TOKEN))
    standard = httpx.AsyncClient(transport=transport, base_url="http://hub", headers=bearer(STANDARD_TOKEN))
    try:
        yield ApiRig(hub, app, remote, clock, admin, standard)
    finally:
        await admin.aclose()
        await standard.aclose()
        await app.state.background_runs.close()  # the lifespan's part, which ASGITransport does not run
        await hub.close()

"""``hub demo``: the hub and every built-in simulator on loopback, seeded with a small firm's records."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tomllib
from pathlib import Path
from typing import Any

import uvicorn

from hub.app import create_app
from hub.config import parse_config
from hub.engine import Scope
from hub.registry import build_registry
from hub.runtime import Hub

DEMO_DIR = Path("var/demo")
DEMO_ENV = {
    "HUB_DEMO_ADMIN_TOKEN": "demo-admin-token",
    "HUB_DEMO_STAFF_TOKEN": "demo-staff-token",
    "KARBON_APP_ID": "sim-app-id",
    "KARBON_ACCESS_KEY": "sim-access-key",
    "KARBON_SIGNING_KEY": "demo-signing-key-0123456789",
    "QBO_ACCESS_TOKEN": "demo-access-token",
    "QBO_VERIFIER_TOKEN": "sim-verifier-token",
}
SIM_PORTS = {"intuit_pm": 8101, "quickbooks": 8102}
"""The simulators' ports; config/demo.toml points each connection's base_url at one."""
_HERE = Path(__file__).resolve().parent
DEMO_TOML = next(p for p in (_HERE.parent / "config" / "demo.toml", _HERE / "_config" / "demo.toml") if p.exists())

KARBON_SAMPLE: dict[str, Any] = {
    "Organizations": [
        {"FullName": "Harbour Bakery", "BusinessCards": [{"IsPrimaryCard": True, "WebSites": ["https://harbour.example"],
                                                          "PhoneNumbers": [{"Number": "555-0101", "Label": "Work"}]}]},
        {"FullName": "North Vets Ltd", "BusinessCards": [{"IsPrimaryCard": True,
                                                          "PhoneNumbers": [{"Number": "555-0199", "Label": "Work"}]}]},
        {"FullName": "Only In Karbon LLC"},
    ],
    "Contacts": [
        {"FirstName": "Ada", "LastName": "Baker", "BusinessCards": [{"IsPrimaryCard": True, "RoleOrTitle": "Owner",
                                                                     "EmailAddresses": ["ada@harbour.example"]}]},
        {"FirstName": "Sam", "LastName": "Reyes", "BusinessCards": [{"IsPrimaryCard": True,
                                                                     "EmailAddresses": ["sam@northvets.example"]}]},
    ],
}
QBO_SAMPLE: dict[str, Any] = {
    "Customer": [
        {"DisplayName": "Harbour Bakery", "PrimaryEmailAddr": {"Address": "accounts@harbour.example"}},
        {"DisplayName": "Web Customer"},
        {"DisplayName": "Closed Account Co", "Active": False},
    ],
}
HOME_SAMPLE: dict[str, list[dict[str, Any]]] = {
    "account": [{"name": "Harbour Bakery", "website": "https://harbourbakery.example"},
                {"name": "north vets ltd", "address": {"lines": "1 Quay St", "city": "Portsmouth"}},
                {"name": "Only In The Hub Ltd", "phone": "555-0142"}],
    "contact": [{"name": "Ada Baker", "title": "Director"}, {"name": "Sam Reyes", "title": "Practice manager"}],
    "customer": [{"name": "Harbour Bakery", "email": "ap@harbour.example"}],
}


def demo_config(port: int, folder: Path) -> dict[str, Any]:
    """config/demo.toml, with the store under ``folder`` and the hub on ``port``."""
    data = tomllib.loads(DEMO_TOML.read_text(encoding="utf-8"))
    data["hub"]["database"] = str(folder / "hub.db")
    data["hub"]["listen"] = f"127.0.0.1:{port}"
    return data


def run_demo(*, port: int = 8080, once: bool = False, folder: Path = DEMO_DIR) -> int:
    """Start simulators and hub, seed them, run the first syncs, print where to look; serve unless ``once``."""
    return asyncio.run(_demo(port, once, folder))


async def _demo(port: int, once: bool, folder: Path) -> int:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **DEMO_ENV}
    registry = build_registry(env)
    simulators = {name: registry.system(name).simulator() for name in SIM_PORTS if name in registry.systems}
    servers = [_server(app, SIM_PORTS[name]) for name, app in simulators.items() if app is not None]
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    try:
        while not all(server.started for server in servers):
            await asyncio.sleep(0.05)
        _seed_simulators(simulators)
        config = parse_config(demo_config(port, folder), env)
        hub = await Hub.open(config, env=env)
        try:
            await _seed_home(hub)
            await _first_syncs(hub)
            _print_guide(port, folder, simulators)
            if not once:
                print("Press Ctrl-C to stop.")
                hub_server = _server(create_app(hub), port)
                await hub_server.serve()
        finally:
            await hub.close()
    finally:
        for server in servers:
            server.should_exit = True
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return 0


def _server(app: Any, port: int) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    return server


def _seed_simulators(simulators: dict[str, Any]) -> None:
    if "intuit_pm" in simulators:
        simulators["intuit_pm"].state.sim.seed(KARBON_SAMPLE)
    if "quickbooks" in simulators:
        simulators["quickbooks"].state.sim.seed(QBO_SAMPLE)


async def _seed_home(hub: Hub) -> None:
    """The firm's own records, as if loaded before connecting anything (seed 002's caution)."""
    async with hub.store.transaction() as tx:
        for entity, rows in HOME_SAMPLE.items():
            for fields in rows:
                await hub.store.insert_record(tx, entity, fields, at=hub.clock())


async def _first_syncs(hub: Hub) -> None:
    for name in sorted(hub.config.connections):
        if name in hub.unavailable:
            print(f"  {name}: unavailable: {hub.unavailable[name]}")
            continue
        result = await hub.sync(name, Scope(), trigger="manual", actor="demo")
        print(f"  first sync of {name}: {result.status} ({result.summary}) — run {result.run_id}")


def _print_guide(port: int, folder: Path, simulators: dict[str, Any]) -> None:
    base = f"http://127.0.0.1:{port}"
    token = DEMO_ENV["HUB_DEMO_ADMIN_TOKEN"]
    print(f"\nThe hub's store: {folder / 'hub.db'}")
    for name in simulators:
        print(f"{name} simulator: http://127.0.0.1:{SIM_PORTS[name]}/ (control surface under /_sim/)")
    print(f"The hub: {base}/healthz, API under {base}/api (bearer token {token!r}), {base}/openapi.json")
    print(f"  curl -H 'Authorization: Bearer {token}' {base}/api/connections")
    print(f"  curl -H 'Authorization: Bearer {token}' '{base}/api/connections/karbon/links?show=unmatched'")
    print(f"  curl -H 'Authorization: Bearer {token}' {base}/api/runs")

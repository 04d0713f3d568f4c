"""``hub demo``: the hub and every built-in simulator on loopback, seeded with a small firm's records."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import shutil
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvicorn

from hub.app import create_app
from hub.config import load_config
from hub.engine import Scope
from hub.errors import HubError
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
WEBHOOK_EVERY = 3.0
"""Seconds between the simulators' webhook deliveries in the demo."""
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


def _write_config(port: int, folder: Path) -> Path:
    """config/demo.toml as this demo runs it (its store under ``folder``, the hub on ``port``), saved in ``folder``.

    The saved copy names the store by its absolute path, so ``hub --config <it>`` finds it from any folder.
    """
    text = DEMO_TOML.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^database = .*$', f"database = {json.dumps(str((folder / 'hub.db').resolve()))}", text)
    text = re.sub(r'(?m)^listen = .*$', f'listen = "127.0.0.1:{port}"', text)
    path = folder / "hub.toml"
    path.write_text(text, encoding="utf-8")
    return path


def demo_exports(folder: Path = DEMO_DIR) -> str:
    """Shell exports that point other ``hub`` commands at the demo's configuration and set its demo secrets."""
    values = {"HUB_CONFIG": str((folder / "hub.toml").resolve()), **DEMO_ENV}
    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in values.items())


def run_demo(*, port: int = 8080, once: bool = False, folder: Path = DEMO_DIR) -> int:
    """Start simulators and hub, seed them, run the first syncs, print where to look; serve unless ``once``."""
    return asyncio.run(_demo(port, once, folder))


def _check_ports(wanted: dict[str, int]) -> None:
    """Refuse, naming the port and its user, to start when one of the demo's ports is taken."""
    for who, port in wanted.items():
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                raise HubError(f"port {port}, which the demo's {who} uses, is taken: stop what listens there"
                               + (" or choose another with --port" if who == "hub" else "")) from None


async def _demo(port: int, once: bool, folder: Path) -> int:
    _check_ports({**({} if once else {"hub": port}), **{f"{name} simulator": p for name, p in SIM_PORTS.items()}})
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
        config_path = _write_config(port, folder)
        hub = await Hub.open(load_config(config_path, env), env=env)
        try:
            await _seed_home(hub)
            await _first_syncs(hub)
            _print_guide(port, config_path, simulators)
            if not once:
                await _serve(hub, port, simulators)
        finally:
            await hub.close()
    finally:
        for server in servers:
            server.should_exit = True
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return 0


async def _serve(hub: Hub, port: int, simulators: dict[str, Any]) -> None:
    """Serve the hub, with each simulator posting its signed webhooks to it as the vendor would."""
    hub_server = _server(create_app(hub), port)
    serving = asyncio.create_task(hub_server.serve())
    while not hub_server.started and not serving.done():
        await asyncio.sleep(0.05)
    await _connect_webhooks(hub, port, simulators)
    delivering = asyncio.create_task(_deliver_webhooks(simulators))
    print("Press Ctrl-C to stop.", flush=True)
    try:
        await serving
    finally:
        delivering.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await delivering


async def _connect_webhooks(hub: Hub, port: int, simulators: dict[str, Any]) -> None:
    """Point each simulator's webhooks at the hub: a Karbon subscription, QuickBooks' endpoint setting."""
    if "intuit_pm" in simulators:
        karbon = simulators["intuit_pm"].state.sim
        # Karbon takes only https targets; the demo's hub listens on plain http on loopback.
        karbon.allow_http_localhost = True
        # Karbon coalesces changes for 60 s; the demo waits a few seconds so a change is seen to arrive.
        karbon.coalesce = timedelta(seconds=WEBHOOK_EVERY)
        await hub.system("karbon").subscribe(f"http://127.0.0.1:{port}/webhooks/karbon")
    if "quickbooks" in simulators:
        simulators["quickbooks"].state.sim.webhook_url = f"http://127.0.0.1:{port}/webhooks/quickbooks"


async def _deliver_webhooks(simulators: dict[str, Any]) -> None:
    """Every few seconds, have each simulator send what changed, as the vendors' delivery loops do."""
    while True:
        await asyncio.sleep(WEBHOOK_EVERY)
        for app in simulators.values():
            try:
                await app.state.sim.flush_webhooks()
            except Exception as exc:  # a failed delivery stays pending in the simulator and is tried again
                print(f"webhook delivery failed: {exc}", flush=True)


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


def _print_guide(port: int, config_path: Path, simulators: dict[str, Any]) -> None:
    base = f"http://127.0.0.1:{port}"
    token = DEMO_ENV["HUB_DEMO_ADMIN_TOKEN"]
    print(f"\nThe hub's store: {config_path.parent / 'hub.db'}")
    print('  from another terminal, in this folder: eval "$(hub demo --env)"; then hub runs, hub status,'
          " hub links karbon, hub inbox")
    for name in simulators:
        print(f"{name} simulator: http://127.0.0.1:{SIM_PORTS[name]}/ (control surface under /_sim/)")
    print(f"The hub: {base}/healthz, API under {base}/api (bearer token {token!r}), {base}/openapi.json")
    print(f"  curl -H 'Authorization: Bearer {token}' {base}/api/connections")
    print(f"  curl -H 'Authorization: Bearer {token}' '{base}/api/connections/karbon/links?show=unmatched'")
    print(f"  curl -H 'Authorization: Bearer {token}' {base}/api/runs")
    if "quickbooks" in simulators:
        sim = f"http://127.0.0.1:{SIM_PORTS['quickbooks']}"
        print("Change a customer in QuickBooks and watch its signed webhook arrive and sync within seconds:")
        print(f"  curl -X POST {sim}/_sim/edit/Customer/1 -d '{{\"CompanyName\": \"Harbour Bakery Ltd\"}}'")
        print(f"  curl -H 'Authorization: Bearer {token}' '{base}/api/runs?connection=quickbooks'")

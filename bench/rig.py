"""What every benchmark stands on: the QuickBooks simulator in its own process, its seeded book, the hub's config.

The simulator runs with its rate and concurrency limits raised far out of the way: the benchmarks measure the
hub, not QuickBooks' 500 calls a minute (which ``report`` turns into a separate lower bound where it matters).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from bench.procs import Server, free_port, start_server

CONNECTION = "qbo"
REALM = "9341453000000000"
VERIFIER_TOKEN = "bench-verifier-token"
ACCESS_TOKEN = "bench-access-token"
ADMIN_TOKEN = "bench-admin-token"
SEED_CHUNK = 5_000
SPACING = timedelta(seconds=10)
"""How far apart the seeded customers' LastUpdatedTime are: a book edited over days, not in one second."""
NEWEST_AGE = timedelta(hours=1)
"""How long ago the newest seeded customer changed (inside Change Data Capture's 30 days)."""


def hub_env() -> dict[str, str]:
    """The environment a hub process needs: the connection's secrets, the token key, only the plugins used."""
    return {
        "BENCH_QBO_ACCESS_TOKEN": ACCESS_TOKEN,
        "BENCH_QBO_VERIFIER_TOKEN": VERIFIER_TOKEN,
        "BENCH_ADMIN_TOKEN": ADMIN_TOKEN,
        "HUB_SECRET_KEY": Fernet.generate_key().decode(),
        "HUB_PLUGINS": "core,quickbooks",
    }


def hub_config(database: Path, sim_url: str, *, port: int | None = None, workers: int = 2) -> dict[str, Any]:
    """The hub's configuration: one QuickBooks connection (customers only) on the simulator, one admin user."""
    hub: dict[str, Any] = {"database": str(database), "workers": workers}
    if port is not None:
        hub["listen"] = f"127.0.0.1:{port}"
    return {
        "hub": hub,
        "users": {"bench": {"role": "admin", "token_env": "BENCH_ADMIN_TOKEN"}},
        "connections": {
            CONNECTION: {
                "plugin": "quickbooks",
                "base_url": sim_url,
                "entities": ["customer"],
                "options": {"realm_id": REALM},
                "secrets": {
                    "access_token": "BENCH_QBO_ACCESS_TOKEN",
                    "webhook_verifier_token": "BENCH_QBO_VERIFIER_TOKEN",
                },
            }
        },
    }


def write_toml(config: dict[str, Any], path: Path) -> Path:
    """Write a config of tables of strings, integers and lists of strings as TOML (all ``hub_config`` makes)."""
    lines: list[str] = []

    def table(prefix: str, data: dict[str, Any]) -> None:
        scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
        if prefix:
            lines.append(f"[{prefix}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in scalars.items())
        for key, value in data.items():
            if isinstance(value, dict):
                table(f"{prefix}.{key}" if prefix else key, value)

    table("", config)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def start_simulator(log_dir: Path, name: str = "simulator") -> Server:
    """The QuickBooks simulator, alone in its process, with its limits out of the way."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "plugins.quickbooks.simulator",
        "--port",
        str(port),
        "--realm",
        REALM,
        "--verifier-token",
        VERIFIER_TOKEN,
        "--per-minute",
        "100000000",
        "--in-flight",
        "10000",
    ]
    return start_server(name, argv, url=f"http://127.0.0.1:{port}", ready_path="/_sim/calls", log_dir=log_dir)


def customer(number: int, updated: datetime) -> dict[str, Any]:
    """A seeded customer with every field the contract syncs, last changed at ``updated``."""
    stamp = updated.isoformat()
    return {
        "DisplayName": f"Bench Customer {number:07d}",
        "CompanyName": f"Bench Company {number:07d} Ltd",
        "PrimaryEmailAddr": {"Address": f"customer{number}@example.com"},
        "PrimaryPhone": {"FreeFormNumber": f"(555) {number % 1000:03d}-{number % 10000:04d}"},
        "Mobile": {"FreeFormNumber": f"(555) 9{number % 100:02d}-{number % 10000:04d}"},
        "WebAddr": {"URI": f"https://customer{number}.example.com"},
        "BillAddr": {
            "Line1": f"{number} Main Street",
            "City": "Springfield",
            "CountrySubDivisionCode": "IL",
            "PostalCode": f"{62700 + number % 100}",
            "Country": "USA",
        },
        "Notes": f"Seeded for the benchmark, customer {number}.",
        "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp},
    }


def seed_customers(sim_url: str, count: int, *, now: datetime | None = None) -> list[str]:
    """Seed ``count`` customers, changed ``SPACING`` apart up to ``NEWEST_AGE`` ago; return their Ids in order."""
    newest = (now or datetime.now(UTC)) - NEWEST_AGE
    ids: list[str] = []
    with httpx.Client(base_url=sim_url, timeout=300.0) as client:
        for start in range(0, count, SEED_CHUNK):
            numbers = range(start + 1, min(start + SEED_CHUNK, count) + 1)
            body = {"Customer": [customer(n, newest - SPACING * (count - n)) for n in numbers]}
            response = client.post("/_sim/seed", json=body)
            response.raise_for_status()
            ids.extend(response.json()["Customer"])
    return ids


def sim_calls(sim_url: str) -> dict[str, int]:
    """The simulator's API call counters so far, by kind (query, cdc, read, write, total, ...)."""
    response = httpx.get(sim_url + "/_sim/calls", timeout=30.0)
    response.raise_for_status()
    return {key: int(value) for key, value in response.json().items()}


def calls_between(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The calls made between two readings of ``sim_calls``, kinds with none left out."""
    return {kind: after[kind] - before.get(kind, 0) for kind in sorted(after) if after[kind] - before.get(kind, 0)}


def edit_remote(sim_url: str, ids: list[str], note: str) -> None:
    """A QuickBooks user's edit to each customer: its Notes change, its SyncToken and LastUpdatedTime move on."""
    with httpx.Client(base_url=sim_url, timeout=60.0) as client:
        for remote_id in ids:
            client.post(f"/_sim/edit/Customer/{remote_id}", json={"Notes": f"{note} {remote_id}"}).raise_for_status()

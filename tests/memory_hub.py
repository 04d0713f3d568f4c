"""A whole hub around the memory test plugin: its contract with webhooks, signed deliveries, and opening it."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import hub.runtime
from hub import hookimpl
from hub.config import Config, Connection
from hub.runtime import Hub, TransportFactory
from hub.verifiers import StandardWebhooks
from tests.memory_system import T0, MemoryRemote, MemorySystem, contact_entity, contract_file, field_rule

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"memory system signing key, 32by").decode()
"""The Standard Webhooks secret the memory system signs its webhooks with."""

CONTACT_FIELDS = [field_rule("email", "Email", ("newest", "newest"), ("newest", "newest"))]


def memory_contract(tmp_path: Path, entities: dict[str, Any] | None = None, **top: Any) -> Path:
    """A memory contract with Standard Webhooks signatures (by default contacts, the newest value winning)."""
    return contract_file(
        tmp_path,
        entities or {"contact": contact_entity(CONTACT_FIELDS)},
        webhook={"verifier": "standard-webhooks"},
        **top,
    )


def webhook_body(entity: str, remote_id: str, action: str = "updated") -> bytes:
    """A webhook body as the memory system sends it."""
    return json.dumps({"type": f"{entity}.{action}", "timestamp": T0.isoformat(), "data": {"id": remote_id}}).encode()


def signed(body: bytes, *, now: datetime, msg_id: str | None = None, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    """The Standard Webhooks headers the memory system sends with ``body``."""
    return StandardWebhooks().sign(body, secret, now=now, msg_id=msg_id)


class BoundMemoryPlugin:
    """Registers a memory system that reads a given contract and keeps its records in a given remote."""

    __name__ = "memory"

    def __init__(self, contract: Path, remote: MemoryRemote, system: type[MemorySystem] = MemorySystem) -> None:
        self.system = type(system.__name__, (system,), {"contract_path": contract, "remote_store": remote})

    @hookimpl
    def register_systems(self, register: Callable[[type[MemorySystem]], None]) -> None:
        register(self.system)


def install_memory_plugin(monkeypatch: pytest.MonkeyPatch, contract: Path, remote: MemoryRemote) -> None:
    """Install the memory system for one test as a pip-installed plugin would be: beside the hub's own, found by
    every hub the test opens (the CLI's included)."""
    plugin = BoundMemoryPlugin(contract, remote)
    real = hub.runtime.build_registry
    monkeypatch.setattr(
        hub.runtime, "build_registry", lambda env, extra=(): real({**env, "HUB_PLUGINS": "core"}, [*extra, plugin])
    )


def memory_config(database: Path, **connection: Any) -> Config:
    """A configuration with one connection, ``mem``, to the memory system, its webhook secret set."""
    return Config(
        None,
        database,
        connections={"mem": Connection("mem", "memory", secrets={"webhook": WEBHOOK_SECRET}, **connection)},
    )


async def open_memory_hub(
    tmp_path: Path,
    remote: MemoryRemote,
    *,
    contract: Path | None = None,
    system: type[MemorySystem] = MemorySystem,
    transport_for: TransportFactory | None = None,
    plugins: tuple[object, ...] = (),
    **connection: Any,
) -> Hub:
    """A hub on a store in ``tmp_path`` with the ``mem`` connection, on the remote's clock.

    Only the hub's own plugin (and ``plugins``) load beside it, so a built-in plugin being changed breaks none of them.
    """
    plugin = BoundMemoryPlugin(contract or memory_contract(tmp_path), remote, system)
    return await Hub.open(
        memory_config(tmp_path / "hub.db", **connection),
        env={"HUB_PLUGINS": "core"},
        plugins=[plugin, *plugins],
        transport_for=transport_for,
        clock=remote.clock,
    )

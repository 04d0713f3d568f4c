"""A conformance kit for plugin authors: named checks every plugin and its simulator must pass."""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from hub.config import parse_config
from hub.engine import Scope
from hub.registry import build_registry
from hub.runtime import Hub, describe_plugins

SYNCED_TABLES = ("records", "links", "unlinked_remote", "outbox")


def conformance_tests(*, system: str, simulator: Callable[[], Any], secrets: dict[str, str] | None = None,
                      options: dict[str, Any] | None = None,
                      seed: Callable[[Any, Hub], Awaitable[None] | None] | None = None,
                      plugins: list[object] = ()) -> type:
    """A pytest test class checking one plugin against its simulator; assign it to a ``Test...`` name."""
    secrets = secrets or {}
    env = {f"CONFORMANCE_{key.upper()}": value for key, value in secrets.items()}

    async def open_hub(folder: Path, app: Any) -> Hub:
        config = parse_config({
            "hub": {"database": str(folder / "hub.db")},
            "connections": {"conn": {"plugin": system, "options": options or {},
                                     "secrets": {key: f"CONFORMANCE_{key.upper()}" for key in secrets}}},
        }, env)
        return await Hub.open(config, env=env, plugins=list(plugins),
                              transport_for=lambda _connection: httpx.ASGITransport(app=app))

    async def seeded(folder: Path) -> tuple[Hub, Any]:
        app = simulator()
        hub = await open_hub(folder, app)
        if seed is not None:
            result = seed(app, hub)
            if result is not None:
                await result
        return hub, app

    async def tables(hub: Hub) -> dict[str, list[tuple[Any, ...]]]:
        return {t: [tuple(r) for r in await hub.store.fetchall(f"SELECT * FROM {t} ORDER BY 1")]
                for t in SYNCED_TABLES}

    class Conformance:
        """Checks every plugin must pass."""

        def test_contract_validates_and_plugin_is_listed(self) -> None:
            registry = build_registry({}, list(plugins))
            listed = {row["name"]: row for row in describe_plugins(registry)}
            assert system in listed, f"{system} is not listed by `hub plugins`"
            assert listed[system]["status"] == "ok", listed[system]["status"]

        async def test_dry_run_writes_nothing(self) -> None:
            with tempfile.TemporaryDirectory() as folder:
                hub, _app = await seeded(Path(folder))
                try:
                    before = await tables(hub)
                    result = await hub.sync("conn", Scope(allow_empty_home=True), trigger="manual", actor="kit",
                                            dry_run=True)
                    assert result.run_id is None
                    assert await tables(hub) == before
                finally:
                    await hub.close()

        async def test_second_sync_with_no_changes_writes_nothing(self) -> None:
            with tempfile.TemporaryDirectory() as folder:
                hub, _app = await seeded(Path(folder))
                try:
                    first = await hub.sync("conn", Scope(allow_empty_home=True), trigger="manual", actor="kit")
                    assert not first.status.startswith(("failed", "interrupted")), first
                    before = await tables(hub)
                    second = await hub.sync("conn", Scope(), trigger="manual", actor="kit")
                    assert second.counts["created"] == second.counts["updated"] == 0, second
                    assert await tables(hub) == before
                finally:
                    await hub.close()

    Conformance.__name__ = f"Conformance_{system}"
    return Conformance

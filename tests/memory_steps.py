"""Steps of the engine tests that drive a memory hub's ``mem`` connection: sync, edit at home, look."""

from __future__ import annotations

from typing import Any

from hub.engine import RunResult, Scope
from hub.local import edit_record
from hub.runtime import Hub
from hub.store import HomeRecord


async def sync(hub: Hub, scope: Scope | None = None, *, trigger: str = "manual") -> RunResult:
    """A sync of ``mem`` a minute after the last thing that happened (``hub.clock`` is the remote's clock)."""
    hub.clock.tick(60)
    return await hub.sync("mem", scope, trigger=trigger, actor="tester")


async def home_named(hub: Hub, name: str) -> HomeRecord:
    """The one home contact with this name."""
    (record,) = (await hub.store.by_name("contact", [name.casefold()]))[name.casefold()]
    return record


async def edit_at_home(hub: Hub, name: str, **changes: Any) -> HomeRecord:
    """Change a home contact a second later, as a person would, queued for ``mem``."""
    hub.clock.tick(1)
    record = await home_named(hub, name)
    return await edit_record(hub.store, record.id, changes, actor="tester", at=hub.clock(), connections=["mem"])


async def watermark(hub: Hub) -> str | None:
    """Where the next incremental pull of ``mem``'s contacts starts from (before the overlap)."""
    row = await hub.store.fetchone("SELECT watermark FROM cursors WHERE connection = 'mem' AND entity = 'contact'")
    return row[0] if row else None

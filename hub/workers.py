"""Background work: inbox workers turning webhook events into targeted syncs, and each connection's timer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from hub import inbox
from hub.engine import Scope
from hub.errors import HubError
from hub.runs import AlreadyRunning
from hub.runtime import Hub
from hub.schedule import parse_schedule, run_schedule

log = logging.getLogger("hub.workers")
BUSY_DELAY = timedelta(seconds=10)


async def process_due(hub: Hub, *, limit: int = 50) -> int:
    """Claim due inbox events and sync the records they touch, one targeted run per connection and type."""
    events = await inbox.claim(hub.store, at=hub.clock(), limit=limit)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        groups[(event["connection"], event["entity"])].append(event)
    for (connection, entity), group in groups.items():
        ids = tuple(dict.fromkeys(event["remote_id"] for event in group))
        try:
            result = await hub.sync(connection, Scope(entities=(entity,), remote_ids=ids), trigger="webhook",
                                    actor=f"webhook:{connection}")
        except AlreadyRunning:
            await inbox.release(hub.store, [e["id"] for e in group], at=hub.clock(), delay=BUSY_DELAY)
            continue
        except (HubError, KeyError) as exc:
            await inbox.fail(hub.store, group, str(exc), at=hub.clock())
            continue
        except Exception as exc:  # a plugin bug: keep the events, report it, keep the worker alive
            log.exception("processing %s events of %s failed", entity, connection)
            await inbox.fail(hub.store, group, f"{type(exc).__name__}: {exc}", at=hub.clock())
            continue
        if result.status == "success" or result.status.startswith("completed"):
            await inbox.finish(hub.store, [e["id"] for e in group], at=hub.clock())
        else:
            await inbox.fail(hub.store, group, f"sync {result.status}: {result.summary}", at=hub.clock())
    return len(events)


async def inbox_worker(hub: Hub, wake: asyncio.Event, *, poll: float = 1.0) -> None:
    """Process the inbox until cancelled, waking at once when intake commits new events."""
    while True:
        try:
            handled = await process_due(hub)
        except Exception:
            log.exception("inbox worker pass failed; retrying")
            handled = 0
        if handled:
            continue
        wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=poll)


def timer_tasks(hub: Hub) -> list[asyncio.Task[None]]:
    """One task per scheduled connection, running its automatic syncs."""
    tasks = []
    for name, connection in sorted(hub.config.connections.items()):
        if not connection.schedule or name in hub.unavailable:
            continue
        schedule = parse_schedule(connection.schedule)

        async def job(name: str = name) -> None:
            await hub.sync(name, trigger="timer", actor="scheduler")

        async def last_run(name: str = name) -> datetime | None:
            runs = await hub.store.runs(connection=name, limit=1)
            return datetime.fromisoformat(runs[0]["started_at"]) if runs else None

        tasks.append(asyncio.create_task(run_schedule(
            schedule, job, clock=hub.clock, sleep=asyncio.sleep, is_running=lambda name=name: name in hub.busy,
            last_run=last_run, on_start=connection.sync_on_start,
        ), name=f"timer:{name}"))
    return tasks

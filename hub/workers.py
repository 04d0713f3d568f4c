"""Background work: inbox workers turning webhook events into targeted syncs, and each connection's timer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from hub import inbox
from hub.disconnect import Disconnected
from hub.engine import Scope
from hub.errors import HubError
from hub.runs import AlreadyRunning
from hub.runtime import Hub
from hub.schedule import Sleep, parse_schedule, run_schedule
from hub.store import iso, parse_iso

log = logging.getLogger("hub.workers")
BUSY_DELAY = timedelta(seconds=2)
"""How long events wait when another process syncs their type, or a person's or timer's sync here holds or awaits it.

A webhook sync of their type in this process is waited for instead (``Hub.scopes``), so workers don't bounce.
"""
PAUSE_FLOOR = timedelta(seconds=1)
"""The shortest wait for events whose connection is paused, so a pause ending this instant is not spun on."""
REAUTH_DELAY = timedelta(minutes=5)
"""How often events of a connection waiting for re-authorisation look again (no attempt is spent on it)."""
STOPPED = "the hub stopped while it ran"
"""The summary of a background run a stopped process left running, closed at start-up."""


async def recover(hub: Hub) -> tuple[int, int]:
    """Take up what a stopped process left half-done; return how many (inbox events, background runs).

    Its claimed events are pending again, and the webhook, timer and resume runs it left "running" are closed as
    interrupted: only a server's workers start those, so no live process holds them, and waiting for their
    heartbeat to go stale would hold up every sync of their types for minutes.
    """
    now = hub.clock()
    events = await inbox.recover(hub.store, at=now)
    async with hub.store.transaction() as tx:
        cursor = await tx.execute(
            "UPDATE runs SET status = 'interrupted', summary = ?, ended_at = ? "
            "WHERE status = 'running' AND trigger IN ('webhook', 'timer', 'resume')",
            (STOPPED, iso(now)),
        )
        runs = cursor.rowcount
    return events, runs


async def process_due(hub: Hub, *, limit: int = 50) -> int:
    """Claim due inbox events and sync the records they touch, one targeted run per connection and type."""
    events = await inbox.claim(hub.store, at=hub.clock(), limit=limit)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        groups[(event["connection"], event["entity"])].append(event)
    for (connection, entity), group in groups.items():
        ids = tuple(dict.fromkeys(event["remote_id"] for event in group))
        try:
            result = await hub.sync(
                connection, Scope(entities=(entity,), remote_ids=ids), trigger="webhook", actor=f"webhook:{connection}"
            )
        except AlreadyRunning:
            await inbox.release(hub.store, [e["id"] for e in group], at=hub.clock(), delay=BUSY_DELAY)
            continue
        except Disconnected:
            # The events wait, spending no attempts; connecting again makes them due at once (hub.disconnect).
            await inbox.release(hub.store, [e["id"] for e in group], at=hub.clock(), delay=REAUTH_DELAY)
            continue
        except (HubError, KeyError) as exc:
            await inbox.fail(hub.store, group, str(exc), at=hub.clock())
            continue
        except Exception as exc:  # a plugin bug: keep the events, report it, keep the worker alive
            log.exception("processing %s events of %s failed", entity, connection)
            await inbox.fail(hub.store, group, f"{type(exc).__name__}: {exc}", at=hub.clock())
            continue
        if result.status == "success" or result.status.startswith("completed"):
            failed = await _failed_records(hub, result.run_id, ids) if result.status != "success" else {}
            await inbox.finish(hub.store, [e["id"] for e in group if e["remote_id"] not in failed], at=hub.clock())
            for remote_id, error in failed.items():
                await inbox.fail(hub.store, [e for e in group if e["remote_id"] == remote_id], error, at=hub.clock())
        elif result.status == "re-authorisation required":
            # Nothing syncs until a person re-authorises: the events wait for that, spending no attempts.
            await inbox.release(hub.store, [e["id"] for e in group], at=hub.clock(), delay=REAUTH_DELAY)
        elif result.status.startswith("paused"):
            # A pause is the vendor's "not now", not a failure: spending attempts on it would dead-letter events.
            await inbox.release(
                hub.store, [e["id"] for e in group], at=hub.clock(), delay=await _pause_left(hub, connection)
            )
        else:
            await inbox.fail(hub.store, group, f"sync {result.status}: {result.summary}", at=hub.clock())
    return len(events)


async def _failed_records(hub: Hub, run_id: int | None, remote_ids: tuple[str, ...]) -> dict[str, str]:
    """The announced records a run failed on, each with its error (another record's failure is not theirs)."""
    if run_id is None:
        return {}
    wanted = set(remote_ids)
    return {
        item["remote_id"]: f"{item['name'] or item['remote_id']}: {item['error'] or item['reason']}"
        for item in await hub.store.run_items(run_id)
        if item["action"] == "failed" and item["remote_id"] in wanted
    }


async def _pause_left(hub: Hub, connection: str) -> timedelta:
    """How long the connection's pause still runs (at least a moment, so a pass never spins on it)."""
    until = parse_iso((await hub.store.connection_state(connection))["paused_until"])
    return max(until - hub.clock(), PAUSE_FLOOR) if until else BUSY_DELAY


async def inbox_worker(hub: Hub, wake: asyncio.Event, *, poll: float = 1.0) -> None:
    """Process the inbox until cancelled, waking at once when intake commits new events (once a burst ends)."""
    while True:
        # Cleared before the pass, not after: an event committed during a pass that found nothing still wakes it.
        wake.clear()
        try:
            # Intake first: while webhooks pour in, answering them goes before processing them (inbox.BURST_GAP).
            await inbox.between_bursts(hub.store)
            handled = await process_due(hub)
        except Exception:
            log.exception("inbox worker pass failed; retrying")
            handled = 0
        if handled:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=poll)


def timer_tasks(hub: Hub, *, sleep: Sleep = asyncio.sleep) -> list[asyncio.Task[None]]:
    """One task per scheduled connection, running its automatic syncs (``sleep`` lets tests move a fake clock).

    A connection with ``sync_on_start`` and no schedule gets a task that syncs it once, at start-up (seed 004's
    "Sync on start up" without "Auto (timed) sync").
    """
    tasks = []
    for name, connection in sorted(hub.config.connections.items()):
        if name in hub.unavailable or not (connection.schedule or connection.sync_on_start):
            continue

        async def job(name: str = name) -> None:
            try:
                await hub.sync(name, trigger="timer", actor="scheduler")
            except (AlreadyRunning, Disconnected) as exc:  # another process's sync, webhook syncs outlasting the
                log.info("skipped the timer sync of %s: %s", name, exc)  # wait, or disconnected: skipped

        if not connection.schedule:
            tasks.append(asyncio.create_task(job(), name=f"start-up sync:{name}"))
            continue
        schedule = parse_schedule(connection.schedule)

        async def last_run(name: str = name) -> datetime | None:
            return await _last_whole_run(hub, name)

        tasks.append(
            asyncio.create_task(
                run_schedule(
                    schedule,
                    job,
                    clock=hub.clock,
                    sleep=sleep,
                    is_running=lambda name=name: hub.scopes.whole_sync_running(name),
                    last_run=last_run,
                    on_start=connection.sync_on_start,
                ),
                name=f"timer:{name}",
            )
        )
    return tasks


async def _last_whole_run(hub: Hub, connection: str) -> datetime | None:
    """When the latest sync of the whole connection started: runs narrowed to some records or types don't count.

    A webhook's targeted sync of one record must not put off the timer, or a busy vendor would starve it.
    """
    row = await hub.store.fetchone(
        "SELECT started_at FROM runs WHERE connection = ? AND json_extract(scope, '$.entities') IS NULL "
        "AND json_extract(scope, '$.record_ids') IS NULL AND json_extract(scope, '$.remote_ids') IS NULL "
        "AND json_extract(scope, '$.fields') IS NULL ORDER BY id DESC LIMIT 1",
        (connection,),
    )
    return parse_iso(row[0]) if row else None


def push_soon(hub: Hub, tasks: list[asyncio.Task[None]], connection: str, entity: str, record_id: str,
              actor: str) -> None:
    """Flush a connection's sync queue for a record just created or edited, in the background, now."""

    async def push() -> None:
        try:
            await hub.sync(connection, Scope(entities=(entity,), record_ids=(record_id,)), trigger="queue",
                           actor=actor)
        except (AlreadyRunning, Disconnected):
            pass  # the sync running now, or the next one (once connected), flushes the queue: nothing is lost
        except Exception:
            log.exception("pushing %s %s to %s failed; it stays queued", entity, record_id, connection)

    task = asyncio.create_task(push(), name=f"push:{connection}:{record_id}")
    tasks.append(task)
    task.add_done_callback(lambda done: tasks.remove(done) if done in tasks else None)

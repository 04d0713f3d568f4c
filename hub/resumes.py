"""Syncs a vendor's rate limit paused, resumed by ``hub serve`` when the pause ends: same scope, same person.

A person's or the timer's sync that ends ``paused until <time>`` waits in the runs table. A serving hub keeps one
task per connection and scope that sleeps until the pause ends and runs it again (trigger ``resume``). A later
sync of the same scope or of the whole connection, whatever it ended as, takes the paused one's place: it was
resumed, or overtaken by the timer or a person (unless the hub stopped while it ran: then the resume is still
due). Webhook and pushed-edit syncs are not resumed here: their inbox events and queued edits wait for the pause
by themselves. Nor are dry runs, which the runs table does not keep.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.disconnect import Disconnected
from hub.engine import Scope
from hub.runs import AlreadyRunning
from hub.runtime import Hub
from hub.schedule import Sleep
from hub.scopes import TARGETED_TRIGGERS
from hub.store import iso, parse_iso
from hub.workers import STOPPED

log = logging.getLogger("hub.resumes")
PAUSED = "paused until "
"""How the status of a run the rate limit paused begins."""
NARROWING = ("entities", "record_ids", "remote_ids", "fields")
"""Scope keys that make a run cover less than the whole connection."""
WHOLE_SCOPE = " AND ".join(f"json_extract(scope, '$.{key}') IS NULL" for key in NARROWING)
"""SQL: the run's scope is the whole connection."""
BUSY_RETRY = 2.0
"""Seconds before a resume that found its types busy looks again (the busy sync may take its place)."""
DISCONNECTED_RETRY = 60.0
"""Seconds before a resume whose connection an admin disconnected looks again (it runs once connected)."""

Key = tuple[str, str]


@dataclass(frozen=True)
class PausedRun:
    """A sync that ended paused and that nothing has resumed or overtaken yet."""

    run_id: int
    connection: str
    scope: dict[str, Any]
    actor: str
    until: datetime

    @property
    def key(self) -> Key:
        """The connection and scope: one resume of each."""
        return self.connection, json.dumps(self.scope, sort_keys=True)


def _covers(later: dict[str, Any], earlier: dict[str, Any]) -> bool:
    """Whether a later run's scope does an earlier one's work: the same scope, or the whole connection."""
    return later == earlier or not any(later.get(key) for key in NARROWING)


async def paused_runs(hub: Hub, connection: str) -> list[PausedRun]:
    """The connection's paused syncs still to resume, newest first: one per scope, none a later run covers."""
    rows = await hub.store.fetchall(
        "SELECT id, trigger, actor, scope, status, summary FROM runs WHERE connection = ? AND id >= COALESCE("
        f"(SELECT MAX(id) FROM runs WHERE connection = ? AND summary != ? AND {WHOLE_SCOPE}), 0) ORDER BY id DESC",
        (connection, connection, STOPPED),
    )
    later: list[dict[str, Any]] = []
    found: list[PausedRun] = []
    for run_id, trigger, actor, scope_text, status, summary in rows:
        scope = json.loads(scope_text)
        if (status.startswith(PAUSED) and trigger not in TARGETED_TRIGGERS
                and not any(_covers(seen, scope) for seen in later)):
            found.append(PausedRun(run_id, connection, scope, actor, parse_iso(status.removeprefix(PAUSED))))
        if summary != STOPPED:  # a run the hub's stopping cut short did not do the paused run's work
            later.append(scope)
    return found


class Resumes:
    """A serving hub's resume tasks, one per connection and scope."""

    def __init__(self, hub: Hub, *, sleep: Sleep = asyncio.sleep) -> None:
        self.hub = hub
        self.sleep = sleep
        self.tasks: dict[Key, asyncio.Task[None]] = {}

    async def start(self) -> int:
        """Schedule the resumes a stopped process left waiting; return how many."""
        for name in sorted(self.hub.config.connections):
            if name not in self.hub.unavailable and (await self.hub.store.connection_state(name))["paused_until"]:
                await self.schedule(name)
        return len(self.tasks)

    async def schedule(self, connection: str) -> None:
        """Give each of the connection's paused syncs a resume task, unless it has one."""
        for run in await paused_runs(self.hub, connection):
            if run.key not in self.tasks:
                task = asyncio.create_task(self._resume(run.key), name=f"resume:{connection}:{run.run_id}")
                self.tasks[run.key] = task
                task.add_done_callback(lambda done, key=run.key: self._forget(key, done))

    async def stop(self) -> None:
        """Cancel every resume task and wait for it."""
        running = list(self.tasks.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    def _forget(self, key: Key, done: asyncio.Task[None]) -> None:
        if self.tasks.get(key) is done:
            del self.tasks[key]

    async def _resume(self, key: Key) -> None:
        """Sleep until the pause ends and run the sync again, as long as one of this scope waits for it."""
        connection = key[0]
        while run := next((r for r in await paused_runs(self.hub, connection) if r.key == key), None):
            # The connection's pause may have moved on since this run (a webhook sync paused again): wait for it all.
            state = await self.hub.store.connection_state(connection)
            until = max(run.until, parse_iso(state["paused_until"]) or run.until)
            wait = (until - self.hub.clock()).total_seconds()
            if wait > 0:
                await self.sleep(wait)
                continue
            try:
                result = await self.hub.sync(connection, Scope.from_dict(run.scope), trigger="resume", actor=run.actor)
            except AlreadyRunning as exc:  # a sync of its types runs now: it may well take this one's place
                log.info("resuming run %s of %s waits: %s", run.run_id, connection, exc)
                await self.sleep(BUSY_RETRY)
                continue
            except Disconnected as exc:  # an admin disconnected it meanwhile: the run waits to be connected again
                log.info("resuming run %s of %s waits: %s", run.run_id, connection, exc)
                await self.sleep(DISCONNECTED_RETRY)
                continue
            except Exception:
                log.exception("resuming run %s of %s failed; it is not tried again", run.run_id, connection)
                return
            what = ", ".join(run.scope.get("entities", ())) or "everything"
            await self.hub.store.log(
                run.actor, "sync resumed",
                f"{connection}: run {run.run_id} ({what}), paused until {iso(run.until)}, resumed as run "
                f"{result.run_id}: {result.status}", connection=connection, at=self.hub.clock(),
            )

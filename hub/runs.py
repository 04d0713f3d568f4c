"""A sync run's record: the one-at-a-time lock, its items (every decision and why), its counts and status."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hub.errors import HubError
from hub.store import Store, dumps, iso, parse_iso

STALE_AFTER = timedelta(minutes=2)
"""A running run whose heartbeat is older than this died with its process and no longer holds the lock."""

HEARTBEAT_EVERY = 30.0
"""Seconds between a live run's heartbeats, written whatever its pages do (a page's remote writes can outlast
STALE_AFTER): four beats to each STALE_AFTER, so one slow write to the store does not lose the lock."""

log = logging.getLogger("hub.runs")

ACTIONS = ("created", "updated", "unchanged", "skipped", "failed")


TARGETED_TRIGGERS = frozenset({"webhook", "queue"})
"""Triggers of short syncs of a few records, which queue behind each other and give way to a whole sync."""


class AlreadyRunning(HubError):
    """A sync of the same connection and entity type is already in progress (``targeted``: only short ones are)."""

    def __init__(self, message: str, *, targeted: bool = False) -> None:
        super().__init__(message)
        self.targeted = targeted


@dataclass
class Item:
    """One record's outcome in a run."""

    entity: str
    action: str
    reason: str
    home_id: str | None = None
    remote_id: str | None = None
    name: str = ""
    changes: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    noted: bool = False
    """An unchanged record kept anyway: its sides differ where the rules write neither way (it says why)."""

    def as_dict(self) -> dict[str, Any]:
        """The item as the API and CLI show it."""
        return {"entity": self.entity, "home_id": self.home_id, "remote_id": self.remote_id, "name": self.name,
                "action": self.action, "reason": self.reason, "changes": self.changes, "error": self.error}


@dataclass
class Run:
    """A run in progress: its id (None for a dry run, which stores nothing), counts and items not yet saved."""

    id: int | None
    connection: str
    entities: list[str]
    trigger: str
    actor: str
    scope: dict[str, Any]
    dry_run: bool
    started_at: datetime
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("seen", *ACTIONS), 0))
    unsaved: list[Item] = field(default_factory=list)
    plan: list[Item] = field(default_factory=list)
    total: int | None = None
    """How many records the run will see, when its scope names them (an import or export of a selection)."""
    on_progress: Callable[[Run], None] | None = None
    _beating: tuple[asyncio.Task[None], asyncio.Event] | None = field(default=None, repr=False)

    def keep_alive(self, store: Store, clock: Callable[[], datetime]) -> None:
        """Touch the run's heartbeat every HEARTBEAT_EVERY seconds until ``finish_run``, so that a run busy on one
        long page keeps its lock and only a run whose process died loses it."""
        if self.id is None or self._beating is not None:
            return
        stopped = asyncio.Event()
        self._beating = (asyncio.create_task(_beat(store, self.id, clock, stopped)), stopped)

    async def stop_heartbeat(self) -> None:
        """Stop the heartbeat ``keep_alive`` started (letting a write under way finish, so none is left open)."""
        if self._beating is None:
            return
        task, stopped = self._beating
        self._beating = None
        stopped.set()
        await task

    def add(self, item: Item) -> None:
        """Count an item and keep it for saving (a dry run keeps every item as its plan)."""
        self.counts["seen"] += 1
        self.counts[item.action] += 1
        if self.on_progress is not None:
            self.on_progress(self)
        if self.dry_run:
            self.plan.append(item)
        elif item.action != "unchanged" or item.noted:
            self.unsaved.append(item)

    def take_back(self, items: list[Item]) -> None:
        """Uncount items whose writes were rolled back, so the counts still balance (they are never saved)."""
        for item in items:
            self.counts["seen"] -= 1
            self.counts[item.action] -= 1
        gone = {id(item) for item in items}
        self.unsaved = [item for item in self.unsaved if id(item) not in gone]

    def progress(self) -> dict[str, int]:
        """The counts as stored and shown while the run goes: with ``total`` when the run knows it."""
        return {**self.counts, "total": self.total} if self.total is not None else dict(self.counts)

    def status(self) -> str:
        """How the run ended, in words; never "success" while records were skipped or failed."""
        failed, skipped = self.counts["failed"], self.counts["skipped"]
        if failed:
            return f"completed with {failed} error{'s' * (failed != 1)}"
        if skipped:
            return f"completed with {skipped} skipped"
        return "success"


async def start_run(store: Store, *, connection: str, entities: list[str], trigger: str, actor: str,
                    scope: dict[str, Any], dry_run: bool, now: datetime, total: int | None = None) -> Run:
    """Begin a run, refusing if one of the same connection and entity type is in progress."""
    run = Run(None, connection, entities, trigger, actor, scope, dry_run, now, total=total)
    if dry_run:
        return run
    async with store.transaction() as tx:
        async with tx.execute(
            "SELECT id, entities, heartbeat_at, trigger FROM runs WHERE connection = ? AND status = 'running'",
            (connection,),
        ) as cursor:
            running = await cursor.fetchall()
        overlapping = []
        for run_id, running_entities, heartbeat, running_trigger in running:
            overlap = set(json.loads(running_entities)) & set(entities)
            if not overlap:
                continue
            last = parse_iso(heartbeat) or now
            if now - last > STALE_AFTER:
                await tx.execute(
                    "UPDATE runs SET status = 'interrupted', summary = 'the process running it stopped', "
                    "ended_at = ? WHERE id = ?", (iso(now), run_id),
                )
                continue
            overlapping.append((run_id, overlap, running_trigger, last))
        if overlapping:
            run_id, overlap, _trigger, last = overlapping[0]
            # After a kill -9 the dead run's row still says "running": say when it last showed life and when the
            # lock is free again, instead of refusing for two minutes without a hint.
            raise AlreadyRunning(
                f"a sync of {connection} ({', '.join(sorted(overlap))}) is already in progress (run {run_id}); it "
                f"last showed life at {iso(last)}, {max(0, int((now - last).total_seconds()))} s ago. A live run "
                f"shows life every {HEARTBEAT_EVERY:g} s; if its process has stopped, a sync from "
                f"{iso(last + STALE_AFTER)} ({_minutes(STALE_AFTER)} without life) takes its place",
                targeted=all(running_trigger in TARGETED_TRIGGERS for _id, _o, running_trigger, _l in overlapping),
            )
        cursor = await tx.execute(
            "INSERT INTO runs (connection, entities, trigger, actor, scope, dry_run, status, counts, started_at, "
            "heartbeat_at) VALUES (?, ?, ?, ?, ?, 0, 'running', ?, ?, ?)",
            (connection, dumps(entities), trigger, actor, dumps(scope), dumps(run.progress()), iso(now), iso(now)),
        )
        run.id = cursor.lastrowid
    return run


async def save_items(tx: Any, run: Run, now: datetime) -> None:
    """Write a run's new items and its heartbeat, inside the caller's transaction."""
    if run.dry_run:
        return
    if run.unsaved:
        await tx.executemany(
            "INSERT INTO run_items (run_id, entity, home_id, remote_id, name, action, reason, changes, error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(run.id, i.entity, i.home_id, i.remote_id, i.name, i.action, i.reason, dumps(i.changes), i.error)
             for i in run.unsaved],
        )
        run.unsaved.clear()
    await tx.execute(
        "UPDATE runs SET heartbeat_at = ?, counts = ? WHERE id = ?", (iso(now), dumps(run.progress()), run.id)
    )


async def finish_run(store: Store, run: Run, *, status: str, summary: str, now: datetime) -> None:
    """Close a run with its final status and counts."""
    await run.stop_heartbeat()
    if run.dry_run:
        return
    async with store.transaction() as tx:
        await save_items(tx, run, now)
        await tx.execute(
            "UPDATE runs SET status = ?, summary = ?, counts = ?, ended_at = ? WHERE id = ?",
            (status, summary, dumps(run.progress()), iso(now), run.id),
        )


async def _beat(store: Store, run_id: int, clock: Callable[[], datetime], stopped: asyncio.Event) -> None:
    """Write a run's heartbeat every HEARTBEAT_EVERY seconds until ``stopped`` is set."""
    while True:
        try:
            await asyncio.wait_for(stopped.wait(), HEARTBEAT_EVERY)
            return
        except TimeoutError:
            pass
        try:
            # One statement, no BEGIN: nothing is left open whenever the run stops.
            await store.write_one("UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status = 'running'",
                                  (iso(clock()), run_id))
        except Exception as exc:  # the store busy for a moment: the next beat (or the page's commit) writes it
            log.warning("run %s: heartbeat not written: %s", run_id, exc)


def _minutes(span: timedelta) -> str:
    minutes = span.total_seconds() / 60
    return f"{minutes:g} minute{'s' * (minutes != 1)}"

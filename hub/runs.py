"""A sync run's record: the one-at-a-time lock, its items (every decision and why), its counts and status."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hub.errors import HubError
from hub.store import Store, dumps, iso, parse_iso

STALE_AFTER = timedelta(minutes=2)
"""A running run whose heartbeat is older than this died with its process and no longer holds the lock."""

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
            if now - (parse_iso(heartbeat) or now) > STALE_AFTER:
                await tx.execute(
                    "UPDATE runs SET status = 'interrupted', summary = 'the process running it stopped', "
                    "ended_at = ? WHERE id = ?", (iso(now), run_id),
                )
                continue
            overlapping.append((run_id, overlap, running_trigger))
        if overlapping:
            run_id, overlap, _trigger = overlapping[0]
            raise AlreadyRunning(
                f"a sync of {connection} ({', '.join(sorted(overlap))}) is already in progress (run {run_id})",
                targeted=all(running_trigger in TARGETED_TRIGGERS for _id, _o, running_trigger in overlapping),
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
    if run.dry_run:
        return
    async with store.transaction() as tx:
        await save_items(tx, run, now)
        await tx.execute(
            "UPDATE runs SET status = ?, summary = ?, counts = ?, ended_at = ? WHERE id = ?",
            (status, summary, dumps(run.progress()), iso(now), run.id),
        )

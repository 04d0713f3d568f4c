"""The sync queue: local changes waiting to be pushed to a connection, kept in order until they succeed."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.store import Store, dumps, iso


@dataclass(frozen=True)
class Entry:
    """One queued local change."""

    id: int
    connection: str
    entity: str
    home_id: str
    op: str
    fields: list[str]
    actor: str
    created_at: str
    attempts: int
    last_error: str | None
    remote_id: str | None = None
    """The remote record a ``deactivate`` names: its home record was deleted and delinked, so no link says it."""
    remote_version: str | None = None
    """The remote record's version when the hub last saw it (QuickBooks' SyncToken), for a ``deactivate``."""


async def enqueue(tx: Any, *, connection: str, entity: str, home_id: str, op: str, fields: list[str], actor: str,
                  at: datetime, remote_id: str | None = None, remote_version: str | None = None) -> None:
    """Queue a local change inside the caller's transaction (``deactivate`` names its remote record)."""
    await tx.execute(
        "INSERT INTO outbox (connection, entity, home_id, op, fields, actor, created_at, remote_id, remote_version) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (connection, entity, home_id, op, dumps(sorted(fields)), actor, iso(at), remote_id, remote_version),
    )


async def entries(store: Store, connection: str, entity: str | None = None, *,
                  home_ids: Collection[str] | None = None) -> list[Entry]:
    """A connection's queued changes (of one type; of some records), oldest first."""
    sql = ("SELECT id, connection, entity, home_id, op, fields, actor, created_at, attempts, last_error, remote_id, "
           "remote_version FROM outbox WHERE connection = ?")
    params: list[Any] = [connection]
    if entity:
        sql += " AND entity = ?"
        params.append(entity)
    if home_ids is not None:
        sql += " AND home_id IN (SELECT value FROM json_each(?))"
        params.append(dumps(sorted(home_ids)))
    return [Entry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7], r[8], r[9], r[10], r[11])
            for r in await store.fetchall(sql + " ORDER BY id", params)]


async def queued(store: Store, connection: str, home_ids: list[str]) -> set[str]:
    """Which of these home records have changes waiting in this connection's queue (Pending Sync there)."""
    if not home_ids:
        return set()
    marks = ",".join("?" * len(home_ids))
    rows = await store.fetchall(f"SELECT DISTINCT home_id FROM outbox WHERE connection = ? AND home_id IN ({marks})",
                                [connection, *home_ids])
    return {row[0] for row in rows}


async def done(tx: Any, entry_ids: list[int]) -> None:
    """Drop entries that were pushed, and clear Pending Sync on records with nothing left in any queue."""
    if not entry_ids:
        return
    marks = ",".join("?" * len(entry_ids))
    async with tx.execute(f"SELECT DISTINCT home_id FROM outbox WHERE id IN ({marks})", entry_ids) as cursor:
        home_ids = [row[0] for row in await cursor.fetchall()]
    await tx.execute(f"DELETE FROM outbox WHERE id IN ({marks})", entry_ids)
    for home_id in home_ids:
        await tx.execute(
            "UPDATE records SET pending = 0 WHERE id = ? AND NOT EXISTS (SELECT 1 FROM outbox WHERE home_id = ?)",
            (home_id, home_id),
        )


async def narrow(tx: Any, entry_id: int, fields: list[str]) -> None:
    """Keep an entry whose other fields were pushed, for the fields still waiting (the record stays pending)."""
    await tx.execute("UPDATE outbox SET fields = ? WHERE id = ?", (dumps(sorted(fields)), entry_id))


async def failed(tx: Any, entry_id: int, error: str) -> None:
    """Keep an entry that could not be pushed, with its error, for the next sync."""
    await tx.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?", (error, entry_id))

"""The durable inbox: webhook events committed before the hub answers, then processed, retried or dead-lettered."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import weakref
from datetime import datetime, timedelta
from typing import Any

from hub.errors import HubError
from hub.store import Store, dumps, iso
from hub.types import WebhookEvent

MAX_ATTEMPTS = 12
"""After this many failed attempts an event is dead: kept with its error until someone replays it.

With the delays below the retries span fifty minutes to two hours, so an outage of the system (or of the hub's
own network) that long costs no event, where six attempts gave up within three minutes.
"""

BASE_DELAY = timedelta(seconds=5)
MAX_DELAY = timedelta(minutes=30)

BURST_GAP = 0.1
"""Seconds without a new delivery after which a burst of webhooks is over and processing takes its turn."""

LONGEST_DEFERRAL = 5.0
"""The longest processing waits for a burst to end: a steady stream of webhooks slows it, never starves it."""


BODY_KEY = "body:"
"""Starts the key of an event with no vendor event id, which is known only by a hash of the body it came in."""


def event_key(event: WebhookEvent, body: bytes, index: int) -> str:
    """What makes a delivery the same event again: the vendor's event id, else a hash of the body.

    A body hash cannot tell a vendor's retry from a later change that reads the same (Karbon's payload without its
    TimeStamp is the record's key and "Updated"), so such an event is taken again once the first one is done.
    """
    origin = event.event_id or BODY_KEY + hashlib.sha256(body).hexdigest() + f"#{index}"
    return f"{origin}:{event.entity}:{event.remote_id}"


async def accept(
    store: Store, connection: str, events: list[WebhookEvent], body: bytes, *, at: datetime
) -> tuple[int, int]:
    """Commit a delivery's events in one transaction; return (new, already seen)."""
    received = iso(at)
    rows = [
        (
            connection,
            event_key(event, body, index),
            event.entity,
            event.remote_id,
            event.action,
            dumps(
                {
                    "event_id": event.event_id,
                    "occurred_at": iso(event.occurred_at),
                    "account": event.account,
                    "extra": event.extra,
                }
            ),
            received,
            received,
        )
        for index, event in enumerate(events)
    ]
    new = await _committer(store).commit(rows)
    return new, len(rows) - new


class _GroupCommit:
    """Commits the deliveries that arrive while a commit runs together, in the next transaction.

    A commit costs far more than an insert, so under load one transaction per delivery is what limits intake.
    Each delivery still returns only once its events are durable, and a failed commit fails every delivery in it.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.waiting: list[tuple[list[tuple[Any, ...]], asyncio.Future[int]]] = []
        self.task: asyncio.Task[None] | None = None
        self.last_delivery = float("-inf")
        """When the latest delivery arrived, on the event loop's clock."""

    async def commit(self, rows: list[tuple[Any, ...]]) -> int:
        """Commit one delivery's rows with whatever else is waiting; return how many were new."""
        loop = asyncio.get_running_loop()
        self.last_delivery = loop.time()
        future: asyncio.Future[int] = loop.create_future()
        self.waiting.append((rows, future))
        if self.task is None:
            # A task of its own, not the caller's: a client hanging up must not cancel others' commit.
            self.task = asyncio.ensure_future(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self.waiting:
                batch, self.waiting = self.waiting, []
                try:
                    counts = await self._write([rows for rows, _future in batch])
                except Exception as exc:
                    for _rows, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_rows, future), count in zip(batch, counts, strict=True):
                    if not future.done():
                        future.set_result(count)
        finally:
            self.task = None

    async def _write(self, deliveries: list[list[tuple[Any, ...]]]) -> list[int]:
        """Insert every delivery's rows in one statement (one transaction); how many of each delivery's were new."""
        rows = [row for rows in deliveries for row in rows]
        inserted = {(connection, key) for connection, key in await self.store.write_one(_INSERT, (json.dumps(rows),))}
        counts = []
        for rows in deliveries:
            # An event sent twice in one batch counts as new for the delivery that came first.
            fresh = {(row[0], row[1]) for row in rows} & inserted
            counts.append(len(fresh))
            inserted -= fresh
        return counts


_INSERT = (
    "INSERT INTO inbox (connection, event_key, entity, remote_id, action, payload, received_at, next_attempt_at) "
    "SELECT " + ", ".join(f"json_extract(value, '$[{column}]')" for column in range(8)) + " FROM json_each(?) "
    "WHERE true ON CONFLICT (connection, event_key) DO UPDATE SET status = 'pending', attempts = 0, "
    "payload = excluded.payload, received_at = excluded.received_at, next_attempt_at = excluded.next_attempt_at, "
    "claimed_at = NULL, finished_at = NULL, last_error = NULL "
    f"WHERE inbox.status = 'done' AND substr(inbox.event_key, 1, {len(BODY_KEY)}) = '{BODY_KEY}' "
    "RETURNING connection, event_key"
)
"""Every row of a batch, passed as one JSON array, inserted unless already received (a done event known only by
its body is taken again); the new ones come back."""


_COMMITTERS: weakref.WeakKeyDictionary[Store, _GroupCommit] = weakref.WeakKeyDictionary()


def _committer(store: Store) -> _GroupCommit:
    committer = _COMMITTERS.get(store)
    if committer is None:
        committer = _COMMITTERS[store] = _GroupCommit(store)
    return committer


async def between_bursts(store: Store, *, gap: float | None = None, longest: float | None = None) -> None:
    """Return once no delivery has arrived for ``gap`` seconds (``BURST_GAP``), or after ``longest`` at most
    (``LONGEST_DEFERRAL``).

    Intake goes first: a vendor gives up on a webhook unanswered after 3-5 seconds, while processing may lag
    behind a burst and catch up after it. Processing waits here; the events wait, committed, in the inbox.
    """
    committer = _COMMITTERS.get(store)
    if committer is None:
        return
    gap = BURST_GAP if gap is None else gap
    longest = LONGEST_DEFERRAL if longest is None else longest
    loop = asyncio.get_running_loop()
    deadline = loop.time() + longest
    while (now := loop.time()) < deadline and now < committer.last_delivery + gap:
        await asyncio.sleep(min(committer.last_delivery + gap, deadline) - now)


async def claim(store: Store, *, at: datetime, limit: int = 50) -> list[dict[str, Any]]:
    """Take due pending events for processing, oldest first."""
    async with (
        store.transaction() as tx,
        tx.execute(
            "UPDATE inbox SET status = 'claimed', claimed_at = ?, attempts = attempts + 1 WHERE id IN ("
            "SELECT id FROM inbox WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY id LIMIT ?) "
            "RETURNING id, connection, entity, remote_id, action, attempts",
            (iso(at), iso(at), limit),
        ) as cursor,
    ):
        rows = await cursor.fetchall()
    keys = ("id", "connection", "entity", "remote_id", "action", "attempts")
    return sorted((dict(zip(keys, row, strict=True)) for row in rows), key=lambda r: r["id"])


async def finish(store: Store, ids: list[int], *, at: datetime) -> None:
    """Mark events processed."""
    if ids:
        async with store.transaction() as tx:
            await tx.executemany(
                "UPDATE inbox SET status = 'done', finished_at = ?, last_error = NULL WHERE id = ?",
                [(iso(at), event_id) for event_id in ids],
            )


async def release(store: Store, ids: list[int], *, at: datetime, delay: timedelta) -> None:
    """Put claimed events back without counting an attempt (their scope was busy)."""
    if ids:
        async with store.transaction() as tx:
            await tx.executemany(
                "UPDATE inbox SET status = 'pending', attempts = attempts - 1, next_attempt_at = ? WHERE id = ?",
                [(iso(at + delay), event_id) for event_id in ids],
            )


async def fail(
    store: Store, events: list[dict[str, Any]], error: str, *, at: datetime, rng: random.Random | None = None
) -> None:
    """Record a failed attempt: retry later with exponential backoff and jitter, or dead-letter after the last."""
    rng = rng or random.Random()
    async with store.transaction() as tx:
        for event in events:
            if event["attempts"] >= MAX_ATTEMPTS:
                await tx.execute(
                    "UPDATE inbox SET status = 'dead', last_error = ?, finished_at = ? WHERE id = ?",
                    (error, iso(at), event["id"]),
                )
                continue
            await tx.execute(
                "UPDATE inbox SET status = 'pending', last_error = ?, next_attempt_at = ? WHERE id = ?",
                (error, iso(at + backoff(event["attempts"], rng)), event["id"]),
            )


def backoff(attempts: int, rng: random.Random) -> timedelta:
    """The wait before attempt ``attempts + 1``: doubling from 5 s, capped at 30 min, with full jitter above half."""
    ceiling = min(MAX_DELAY, BASE_DELAY * (2 ** max(attempts - 1, 0)))
    return ceiling / 2 + ceiling / 2 * rng.random()


async def recover(store: Store, *, at: datetime) -> int:
    """After a restart, events claimed by a process that died are pending again; return how many."""
    async with store.transaction() as tx:
        cursor = await tx.execute(
            "UPDATE inbox SET status = 'pending', next_attempt_at = ? WHERE status = 'claimed'", (iso(at),)
        )
        return cursor.rowcount


async def replay(store: Store, event_id: int, *, at: datetime) -> None:
    """Send a dead (or finished) event through again, with fresh attempts."""
    async with store.transaction() as tx:
        cursor = await tx.execute(
            "UPDATE inbox SET status = 'pending', attempts = 0, next_attempt_at = ?, finished_at = NULL "
            "WHERE id = ? AND status IN ('dead', 'done')",
            (iso(at), event_id),
        )
        if cursor.rowcount == 0:
            raise HubError(f"no dead or finished inbox event {event_id} to replay")


async def list_events(store: Store, *, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Inbox events, newest first, optionally of one status."""
    sql = (
        "SELECT id, connection, entity, remote_id, action, status, attempts, received_at, next_attempt_at, "
        "finished_at, last_error, payload FROM inbox"
    )
    params: list[Any] = []
    if status:
        sql += " WHERE status = ?"
        params.append(status)
    rows = await store.fetchall(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])
    keys = (
        "id",
        "connection",
        "entity",
        "remote_id",
        "action",
        "status",
        "attempts",
        "received_at",
        "next_attempt_at",
        "finished_at",
        "last_error",
        "payload",
    )
    return [{**dict(zip(keys, row, strict=True)), "payload": json.loads(row[11])} for row in rows]

"""The home record store on SQLite: records, links, runs and their items, queues and the activity log."""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from hub.errors import StoreError
from hub.migrations import MIGRATIONS
from hub.types import Fields, LinkHow


def now_utc() -> datetime:
    """The current time, aware and in UTC."""
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """A time as stored: ISO 8601 in UTC."""
    return moment.astimezone(UTC).isoformat() if moment else None


def parse_iso(text: str | None) -> datetime | None:
    """A stored time back as an aware datetime."""
    return datetime.fromisoformat(text) if text else None


def name_key(name: Any) -> str:
    """The form names are matched in: trimmed, inner spaces collapsed, case-folded."""
    return " ".join(str(name or "").split()).casefold()


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


# One encoder for every write: json.dumps would build a new one per call, several per record in a sync.
_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=_json_default)


def dumps(value: Any) -> str:
    """JSON as the store keeps it: compact, keys sorted, times as ISO text."""
    return _ENCODER.encode(value)


_quote = json.encoder.encode_basestring_ascii  # how the encoder writes a key (it escapes non-ASCII too)


@functools.lru_cache(maxsize=256)
def _keys_written(keys: tuple[str, ...]) -> tuple[str, ...]:
    """An object's keys as the encoder writes them, sorted, each with its colon: one set per entity type's fields."""
    return tuple(_quote(key) + ":" for key in sorted(keys))


def dumps_object(mapping: dict[str, Any]) -> str:
    """``dumps`` of a flat object, faster where every key holds the same value (encoded once, not per key).

    A record's field times and provenance, and a link's remote change times, mostly share one value per record:
    a sync writes hundreds of thousands of them.
    """
    if len(mapping) < 2 or len(set(map(id, mapping.values()))) != 1:
        return dumps(mapping)
    text = dumps(next(iter(mapping.values())))
    return "{" + (text + ",").join(_keys_written(tuple(mapping))) + text + "}"


@dataclass
class HomeRecord:
    """A record of the hub's own: its fields, when each changed, who wrote it, and its flags."""

    id: str
    entity: str
    fields: Fields
    field_modified: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, dict[str, Any]] = field(default_factory=dict)
    hidden: bool = False
    pending: bool = False
    deleted_at: str | None = None
    created_at: str = ""
    modified_at: str = ""

    @property
    def name(self) -> str:
        """The record's display name."""
        return str(self.fields.get("name") or "")

    def changed_at(self, home_field: str) -> datetime | None:
        """When one field last changed at home; None for a field never set, which no 'newest' rule lets win."""
        return parse_iso(self.field_modified.get(home_field))


@dataclass
class Link:
    """A home record tied to a remote one on a connection, with what the hub last saw of the remote side."""

    id: int
    connection: str
    entity: str
    home_id: str
    remote_id: str
    link_key: str | None
    how: LinkHow
    remote_version: str | None
    remote_hash: str | None
    remote_snapshot: dict[str, Any]
    remote_changed: dict[str, str]
    remote_modified: str | None
    linked_at: str
    last_synced_at: str | None


_RECORD_COLUMNS = "id, entity, fields, field_modified, provenance, hidden, pending, deleted_at, created_at, modified_at"
_LINK_COLUMNS = (
    "id, connection, entity, home_id, remote_id, link_key, how, remote_version, remote_hash, remote_snapshot, "
    "remote_changed, remote_modified, linked_at, last_synced_at"
)


def _record(row: Sequence[Any]) -> HomeRecord:
    return HomeRecord(
        id=row[0], entity=row[1], fields=json.loads(row[2]), field_modified=json.loads(row[3]),
        provenance=json.loads(row[4]), hidden=bool(row[5]), pending=bool(row[6]), deleted_at=row[7],
        created_at=row[8], modified_at=row[9],
    )


_INSERT_LINK = (
    "INSERT INTO links (id, connection, entity, home_id, remote_id, link_key, how, remote_version, remote_hash, "
    "remote_snapshot, remote_changed, remote_modified, linked_at, last_synced_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _link_row(link: Link) -> tuple[Any, ...]:
    return (link.id, link.connection, link.entity, link.home_id, link.remote_id, link.link_key, link.how,
            link.remote_version, link.remote_hash, dumps(link.remote_snapshot), dumps_object(link.remote_changed),
            link.remote_modified, link.linked_at, link.last_synced_at)


def _link(row: Sequence[Any]) -> Link:
    return Link(
        id=row[0], connection=row[1], entity=row[2], home_id=row[3], remote_id=row[4], link_key=row[5], how=row[6],
        remote_version=row[7], remote_hash=row[8], remote_snapshot=json.loads(row[9]),
        remote_changed=json.loads(row[10]), remote_modified=row[11], linked_at=row[12], last_synced_at=row[13],
    )


class Store:
    """One SQLite database, opened in WAL mode; every write goes through ``transaction()``."""

    def __init__(self, db: aiosqlite.Connection, path: Path | str) -> None:
        self.db = db
        self.path = path
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str) -> Store:
        """Open (and create or migrate) the store at ``path``; ``:memory:`` for a throwaway one."""
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(str(path), isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA busy_timeout=10000")
            # FULL: a commit is on disk before the hub answers (a webhook's 2xx promises the event survives a power
            # loss).
            await db.execute("PRAGMA synchronous=FULL")
            await db.execute("PRAGMA foreign_keys=ON")
            store = cls(db, path)
            await store._migrate()
        except BaseException as exc:
            await db.close()  # a file that is not a hub store (or not SQLite) leaves no connection thread behind
            if isinstance(exc, sqlite3.DatabaseError):
                raise StoreError(f"the store at {path} cannot be opened: {exc}") from exc
            raise
        return store

    async def close(self) -> None:
        """Close the database."""
        await self.db.close()

    async def _migrate(self) -> None:
        async with self.db.execute("PRAGMA user_version") as cursor:
            (version,) = await cursor.fetchone()
        if version > len(MIGRATIONS):
            raise StoreError(
                f"the store at {self.path} is from a newer hub (schema {version}, this hub knows {len(MIGRATIONS)})"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            async with self._write_lock:
                # One script, one transaction: a crash mid-migration leaves the store at the previous version.
                await self.db.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction (BEGIN IMMEDIATE), committed on success and rolled back on any error."""
        async with self._write_lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            await self.db.execute("COMMIT")

    async def write_one(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        """Run one writing statement as a transaction of its own, and return the rows of its RETURNING clause.

        SQLite commits a lone statement when it completes, so this costs one trip to the database thread where
        ``transaction()`` costs one per statement plus two (BEGIN and COMMIT): what intake's commits need.
        """
        async with self._write_lock:
            return list(await self.db.execute_fetchall(sql, tuple(params)))

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        """Rows of a read query."""
        async with self.db.execute(sql, tuple(params)) as cursor:
            return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        """The first row of a read query, if any."""
        async with self.db.execute(sql, tuple(params)) as cursor:
            return await cursor.fetchone()

    # --- records ---------------------------------------------------------------------------------------------

    async def record(self, record_id: str) -> HomeRecord | None:
        """One home record by id (soft-deleted ones included)."""
        row = await self.fetchone(f"SELECT {_RECORD_COLUMNS} FROM records WHERE id = ?", (record_id,))
        return _record(row) if row else None

    async def records(self, ids: Iterable[str]) -> dict[str, HomeRecord]:
        """Several home records by id."""
        found: dict[str, HomeRecord] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            for row in await self.fetchall(f"SELECT {_RECORD_COLUMNS} FROM records WHERE id IN ({marks})", chunk):
                found[row[0]] = _record(row)
        return found

    async def list_records(self, entity: str, *, search: str = "", include_hidden: bool = True,
                           limit: int = 500, offset: int = 0) -> list[HomeRecord]:
        """Live home records of one type, optionally filtered by a name search."""
        sql = f"SELECT {_RECORD_COLUMNS} FROM records WHERE entity = ? AND deleted_at IS NULL"
        params: list[Any] = [entity]
        if search:
            sql += " AND name_key LIKE ? ESCAPE '\\'"
            params.append("%" + _like_escape(name_key(search)) + "%")
        if not include_hidden:
            sql += " AND hidden = 0"
        sql += " ORDER BY name_key, id LIMIT ? OFFSET ?"
        return [_record(row) for row in await self.fetchall(sql, [*params, limit, offset])]

    async def count_records(self, entity: str | None = None) -> int:
        """How many live home records there are (of one type, or of all)."""
        if entity is None:
            row = await self.fetchone("SELECT count(*) FROM records WHERE deleted_at IS NULL")
        else:
            row = await self.fetchone("SELECT count(*) FROM records WHERE entity = ? AND deleted_at IS NULL", (entity,))
        return int(row[0]) if row else 0

    async def by_name(self, entity: str, keys: Iterable[str]) -> dict[str, list[HomeRecord]]:
        """Live home records whose name, in matching form, is one of ``keys``."""
        found: dict[str, list[HomeRecord]] = {}
        for chunk in _chunks(sorted(set(keys))):
            marks = ",".join("?" * len(chunk))
            sql = (f"SELECT {_RECORD_COLUMNS}, name_key FROM records WHERE entity = ? AND deleted_at IS NULL "
                   f"AND name_key IN ({marks}) ORDER BY id")
            for row in await self.fetchall(sql, [entity, *chunk]):
                found.setdefault(row[10], []).append(_record(row))
        return found

    async def by_field(self, entity: str, home_field: str, values: Iterable[str], *,
                       case_insensitive: bool = True) -> dict[str, list[HomeRecord]]:
        """Live home records whose field equals one of ``values`` (compared case-folded if asked)."""
        wanted = {str(v).casefold() if case_insensitive else str(v) for v in values}
        found: dict[str, list[HomeRecord]] = {}
        if not wanted:
            return found
        expression = "lower(json_extract(fields, ?))" if case_insensitive else "json_extract(fields, ?)"
        for chunk in _chunks(sorted(wanted)):
            marks = ",".join("?" * len(chunk))
            sql = (f"SELECT {_RECORD_COLUMNS}, {expression} FROM records WHERE entity = ? AND deleted_at IS NULL "
                   f"AND {expression} IN ({marks}) ORDER BY id")
            path = f"$.{home_field}"
            for row in await self.fetchall(sql, [path, entity, path, *chunk]):
                found.setdefault(row[10], []).append(_record(row))
        return found

    def new_record(self, entity: str, fields: Fields, *, at: datetime,
                   provenance: dict[str, dict[str, Any]] | None = None, pending: bool = False,
                   record_id: str | None = None) -> HomeRecord:
        """A home record as ``insert_record`` would add it, built without writing it (for ``insert_records``)."""
        stamp = iso(at) or ""
        return HomeRecord(
            id=record_id or uuid.uuid4().hex, entity=entity, fields=dict(fields),
            field_modified=dict.fromkeys(fields, stamp), provenance=provenance or {},
            hidden=bool(fields.get("hidden")), pending=pending, created_at=stamp, modified_at=stamp,
        )

    async def insert_record(self, tx: aiosqlite.Connection, entity: str, fields: Fields, *, at: datetime,
                            provenance: dict[str, dict[str, Any]] | None = None, pending: bool = False,
                            record_id: str | None = None) -> HomeRecord:
        """Add a home record inside a transaction."""
        record = self.new_record(entity, fields, at=at, provenance=provenance, pending=pending, record_id=record_id)
        await self.insert_records(tx, [record])
        return record

    async def insert_records(self, tx: aiosqlite.Connection, records: Sequence[HomeRecord]) -> None:
        """Add built home records inside a transaction, in one statement (a page of them costs one round trip)."""
        await tx.executemany(
            "INSERT INTO records (id, entity, name_key, fields, field_modified, provenance, hidden, pending, "
            "created_at, modified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(r.id, r.entity, name_key(r.name), dumps(r.fields), dumps_object(r.field_modified),
              dumps_object(r.provenance), int(r.hidden), int(r.pending), r.created_at, r.modified_at) for r in records],
        )

    async def save_record(self, tx: aiosqlite.Connection, record: HomeRecord) -> None:
        """Write a home record's fields and flags back inside a transaction."""
        await self.save_records(tx, [record])

    async def save_records(self, tx: aiosqlite.Connection, records: Sequence[HomeRecord]) -> None:
        """Write several home records back inside a transaction, in one statement."""
        for record in records:
            record.hidden = bool(record.fields.get("hidden"))
        await tx.executemany(
            "UPDATE records SET name_key = ?, fields = ?, field_modified = ?, provenance = ?, hidden = ?, "
            "pending = ?, deleted_at = ?, modified_at = ? WHERE id = ?",
            [(name_key(r.name), dumps(r.fields), dumps_object(r.field_modified), dumps_object(r.provenance),
              int(r.hidden), int(r.pending), r.deleted_at, r.modified_at, r.id) for r in records],
        )

    # --- links -----------------------------------------------------------------------------------------------

    async def links_by_remote(self, connection: str, entity: str, remote_ids: Iterable[str]) -> dict[str, Link]:
        """Links of one connection and type, keyed by remote id."""
        return {link.remote_id: link for link in await self._links_where(connection, entity, "remote_id", remote_ids)}

    async def links_by_home(self, connection: str, entity: str, home_ids: Iterable[str]) -> dict[str, Link]:
        """Links of one connection and type, keyed by home id."""
        return {link.home_id: link for link in await self._links_where(connection, entity, "home_id", home_ids)}

    async def _links_where(self, connection: str, entity: str, column: str, values: Iterable[str]) -> list[Link]:
        found: list[Link] = []
        for chunk in _chunks(list(values)):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT {_LINK_COLUMNS} FROM links WHERE connection = ? AND entity = ? AND {column} IN ({marks})"
            found.extend(_link(row) for row in await self.fetchall(sql, [connection, entity, *chunk]))
        return found

    async def delinked_pairs(self, connection: str, entity: str, remote_ids: Iterable[str]) -> set[tuple[str, str]]:
        """(home id, remote id) pairs a person delinked, for these remote records: matching never rejoins them."""
        pairs: set[tuple[str, str]] = set()
        for chunk in _chunks(list(remote_ids)):
            marks = ",".join("?" * len(chunk))
            sql = ("SELECT home_id, remote_id FROM delinked WHERE connection = ? AND entity = ? "
                   f"AND remote_id IN ({marks})")
            pairs.update((row[0], row[1]) for row in await self.fetchall(sql, [connection, entity, *chunk]))
        return pairs

    async def delinked_homes(self, connection: str, entity: str) -> set[str]:
        """Home records a person delinked on this connection: not created remotely behind their back."""
        rows = await self.fetchall("SELECT home_id FROM delinked WHERE connection = ? AND entity = ?",
                                   (connection, entity))
        return {row[0] for row in rows}

    async def list_links(self, connection: str, entity: str | None = None) -> list[Link]:
        """Every link of a connection (of one type, if given)."""
        sql = f"SELECT {_LINK_COLUMNS} FROM links WHERE connection = ?"
        params: list[Any] = [connection]
        if entity:
            sql += " AND entity = ?"
            params.append(entity)
        return [_link(row) for row in await self.fetchall(sql + " ORDER BY id", params)]

    async def insert_link(self, tx: aiosqlite.Connection, link: Link) -> Link:
        """Tie a home record to a remote one."""
        await self.insert_links(tx, [link])
        return link

    async def insert_links(self, tx: aiosqlite.Connection, links: Sequence[Link]) -> None:
        """Tie several pairs inside a transaction, in one statement; each Link gets its new id."""
        if not links:
            return
        # The caller's transaction holds the write lock, so the ids after the largest are free: numbering the
        # links here spares reading them back (executemany gives no row ids).
        async with tx.execute("SELECT coalesce(max(id), 0) FROM links") as cursor:
            row = await cursor.fetchone()
        first = int(row[0]) + 1 if row else 1
        for number, link in enumerate(links, start=first):
            link.id = number
        await tx.executemany(_INSERT_LINK, [_link_row(link) for link in links])

    async def save_link(self, tx: aiosqlite.Connection, link: Link) -> None:
        """Write back what the hub now knows of the remote side of a link."""
        await self.save_links(tx, [link])

    async def save_links(self, tx: aiosqlite.Connection, links: Sequence[Link]) -> None:
        """Write back several links inside a transaction, in one statement."""
        await tx.executemany(
            "UPDATE links SET remote_version = ?, remote_hash = ?, remote_snapshot = ?, remote_changed = ?, "
            "remote_modified = ?, last_synced_at = ?, link_key = ? WHERE id = ?",
            [(link.remote_version, link.remote_hash, dumps(link.remote_snapshot), dumps_object(link.remote_changed),
              link.remote_modified, link.last_synced_at, link.link_key, link.id) for link in links],
        )

    async def delete_link(self, tx: aiosqlite.Connection, link_id: int) -> None:
        """Untie a link; both records stay."""
        await tx.execute("DELETE FROM links WHERE id = ?", (link_id,))

    async def home_changed_since_sync(self, connection: str, entity: str) -> list[tuple[HomeRecord, Link]]:
        """Linked home records edited at home after their link's last sync."""
        sql = (f"SELECT {', '.join('r.' + c.strip() for c in _RECORD_COLUMNS.split(','))}, "
               f"{', '.join('l.' + c.strip() for c in _LINK_COLUMNS.split(','))} "
               "FROM records r JOIN links l ON l.home_id = r.id "
               "WHERE l.connection = ? AND l.entity = ? AND r.deleted_at IS NULL "
               "AND (l.last_synced_at IS NULL OR r.modified_at > l.last_synced_at) ORDER BY r.modified_at")
        return [(_record(row[:10]), _link(row[10:])) for row in await self.fetchall(sql, (connection, entity))]

    async def unlinked_home(self, connection: str, entity: str, *, search: str = "", limit: int | None = None
                            ) -> list[HomeRecord]:
        """Live home records of a type with no link on this connection."""
        sql = (f"SELECT {_RECORD_COLUMNS} FROM records r WHERE entity = ? AND deleted_at IS NULL AND NOT EXISTS "
               "(SELECT 1 FROM links l WHERE l.home_id = r.id AND l.connection = ? AND l.entity = r.entity)")
        params: list[Any] = [entity, connection]
        if search:
            sql += " AND name_key LIKE ? ESCAPE '\\'"
            params.append("%" + _like_escape(name_key(search)) + "%")
        sql += " ORDER BY name_key, id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_record(row) for row in await self.fetchall(sql, params)]

    # --- remote records not linked yet (the unmatched list and the review queue) ------------------------------

    async def put_unlinked_many(self, tx: aiosqlite.Connection, connection: str, entity: str,
                                rows: Sequence[tuple[str, str, dict[str, Any], str | None, str, list[str]]],
                                at: datetime) -> None:
        """Remember several unlinked remote records of one type, each ``(remote_id, name, data, remote_modified,
        reason, candidates)``, in one statement."""
        await tx.executemany(
            "INSERT INTO unlinked_remote (connection, entity, remote_id, name, name_key, data, remote_modified, "
            "reason, candidates, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (connection, entity, remote_id) DO UPDATE SET name = excluded.name, "
            "name_key = excluded.name_key, data = excluded.data, remote_modified = excluded.remote_modified, "
            "reason = excluded.reason, candidates = excluded.candidates, seen_at = excluded.seen_at "
            "WHERE (unlinked_remote.data, unlinked_remote.reason, unlinked_remote.candidates) "
            "IS NOT (excluded.data, excluded.reason, excluded.candidates)",
            [(connection, entity, remote_id, name, name_key(name), dumps(data), remote_modified, reason,
              dumps(candidates), iso(at)) for remote_id, name, data, remote_modified, reason, candidates in rows],
        )

    async def drop_unlinked(self, tx: aiosqlite.Connection, connection: str, entity: str, remote_id: str) -> None:
        """Forget an unlinked remote record (it is linked now, or gone)."""
        await self.drop_unlinked_many(tx, connection, entity, [remote_id])

    async def drop_unlinked_many(self, tx: aiosqlite.Connection, connection: str, entity: str,
                                 remote_ids: Sequence[str]) -> None:
        """Forget several unlinked remote records of one type, in one statement."""
        await tx.execute(
            "DELETE FROM unlinked_remote WHERE connection = ? AND entity = ? "
            "AND remote_id IN (SELECT value FROM json_each(?))",
            (connection, entity, dumps(list(remote_ids))),
        )

    async def unlinked_remote(self, connection: str, entity: str | None = None, *, search: str = "",
                              review_only: bool = False, named: str | None = None) -> list[dict[str, Any]]:
        """Remote records seen but not linked: all, those matching a search or an exact name, or those in review."""
        sql = ("SELECT entity, remote_id, name, data, remote_modified, reason, candidates, seen_at "
               "FROM unlinked_remote WHERE connection = ?")
        params: list[Any] = [connection]
        if entity:
            sql += " AND entity = ?"
            params.append(entity)
        if named is not None:
            sql += " AND name_key = ?"
            params.append(name_key(named))
        if search:
            sql += " AND name_key LIKE ? ESCAPE '\\'"
            params.append("%" + _like_escape(name_key(search)) + "%")
        if review_only:
            sql += " AND json_array_length(candidates) > 0"
        rows = await self.fetchall(sql + " ORDER BY name_key, remote_id", params)
        return [
            {"entity": r[0], "remote_id": r[1], "name": r[2], "data": json.loads(r[3]), "remote_modified": r[4],
             "reason": r[5], "candidates": json.loads(r[6]), "seen_at": r[7]}
            for r in rows
        ]

    # --- runs --------------------------------------------------------------------------------------------------

    async def run(self, run_id: int) -> dict[str, Any] | None:
        """One run's header."""
        rows = await self._runs("WHERE id = ?", (run_id,))
        return rows[0] if rows else None

    async def runs(self, *, connection: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The latest runs, newest first."""
        if connection:
            return await self._runs("WHERE connection = ? ORDER BY id DESC LIMIT ?", (connection, limit))
        return await self._runs("ORDER BY id DESC LIMIT ?", (limit,))

    async def running(self, connection: str) -> list[dict[str, Any]]:
        """Runs of a connection still marked running."""
        return await self._runs("WHERE connection = ? AND status = 'running' ORDER BY id", (connection,))

    async def _runs(self, where: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        sql = ("SELECT id, connection, entities, trigger, actor, scope, dry_run, status, summary, counts, "
               f"started_at, ended_at, heartbeat_at FROM runs {where}")
        return [
            {"id": r[0], "connection": r[1], "entities": json.loads(r[2]), "trigger": r[3], "actor": r[4],
             "scope": json.loads(r[5]), "dry_run": bool(r[6]), "status": r[7], "summary": r[8],
             "counts": json.loads(r[9]), "started_at": r[10], "ended_at": r[11], "heartbeat_at": r[12]}
            for r in await self.fetchall(sql, params)
        ]

    async def run_items(self, run_id: int) -> list[dict[str, Any]]:
        """Every decision a run recorded, in order."""
        rows = await self.fetchall(
            "SELECT id, entity, home_id, remote_id, name, action, reason, changes, error FROM run_items "
            "WHERE run_id = ? ORDER BY id", (run_id,),
        )
        return [
            {"id": r[0], "entity": r[1], "home_id": r[2], "remote_id": r[3], "name": r[4], "action": r[5],
             "reason": r[6], "changes": json.loads(r[7]), "error": r[8]}
            for r in rows
        ]

    # --- activity, connection state ---------------------------------------------------------------------------

    async def log(self, actor: str, kind: str, message: str, *, connection: str | None = None,
                  at: datetime | None = None) -> None:
        """Add an entry to the activity log."""
        async with self.transaction() as tx:
            await tx.execute(
                "INSERT INTO activity (at, actor, connection, kind, message) VALUES (?, ?, ?, ?, ?)",
                (iso(at or now_utc()), actor, connection, kind, message),
            )

    async def activity(self, *, connection: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The latest activity entries, newest first."""
        sql = "SELECT id, at, actor, connection, kind, message FROM activity"
        params: list[Any] = []
        if connection:
            sql += " WHERE connection = ?"
            params.append(connection)
        rows = await self.fetchall(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])
        return [{"id": r[0], "at": r[1], "actor": r[2], "connection": r[3], "kind": r[4], "message": r[5]}
                for r in rows]

    async def connection_state(self, connection: str) -> dict[str, Any]:
        """What the hub remembers about a connection: pause, re-authorisation, encrypted tokens."""
        row = await self.fetchone(
            "SELECT paused_until, pause_reason, reauth_required, tokens, disconnected_at, disconnected_by "
            "FROM connection_state WHERE connection = ?",
            (connection,),
        )
        keys = ("paused_until", "pause_reason", "reauth_required", "tokens", "disconnected_at", "disconnected_by")
        return dict(zip(keys, row, strict=True)) if row else dict.fromkeys(keys)

    async def set_connection_state(self, connection: str, **values: Any) -> None:
        """Change some of a connection's remembered state."""
        allowed = {"paused_until", "pause_reason", "reauth_required", "tokens", "disconnected_at", "disconnected_by"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"unknown connection state {sorted(unknown)}")
        async with self.transaction() as tx:
            await tx.execute("INSERT OR IGNORE INTO connection_state (connection) VALUES (?)", (connection,))
            for key, value in values.items():
                await tx.execute(f"UPDATE connection_state SET {key} = ? WHERE connection = ?", (value, connection))


def _chunks(items: list[Any], size: int = 500) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

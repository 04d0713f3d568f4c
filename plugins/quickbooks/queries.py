"""Listing QuickBooks Online records: query statements, page tokens, CDC answers, and rows as RemoteRecords.

Pages come from the query endpoint ordered by Id, so the engine's own writes between pages (which change
LastUpdatedTime, never Id) cannot move a record across a page boundary. Each page after the first asks
for one row more at the front, the last row of the page before: if that row is not where it was, a record
before it was deleted meanwhile, and the listing no longer proves what exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.errors import RetriableError
from hub.types import RemoteRecord

PAGE_SIZE = 1000
"""QuickBooks' MAXRESULTS ceiling."""

IDS_PER_QUERY = 100
"""Ids asked for in one ``Id IN (...)`` query, to keep a statement short."""

NAMES_PER_QUERY = 30
"""Names asked for in one ``DisplayName IN (...)`` query: a name may be 500 characters, a statement not much more
than 100,000 (Intuit's "query too long" limit is not published; 30 long names stay well inside it)."""

CDC_LIMIT = 1000
"""The most objects one CDC answer holds; an answer this full may have left changes out."""

LIST_TYPES = frozenset({"Customer", "Vendor", "Item", "Employee"})
"""Entities with ``Active``, which QuickBooks leaves out of queries when inactive unless the query names it."""


def qbo_time(moment: datetime) -> str:
    """A moment as QuickBooks reads it in a query or CDC: ISO 8601 with its offset, whole seconds."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def statement(remote_type: str, *, start: int = 1, since: datetime | None = None, ids: Iterable[str] = (),
              named: tuple[str, Iterable[str]] | None = None) -> str:
    """A ``SELECT`` of one page of records, inactive list records included, in Id order; ``named`` is the name
    property and the names to find (``DisplayName IN ('a','b')``)."""
    conditions = ["Active IN (true,false)"] if remote_type in LIST_TYPES else []
    if since is not None:
        conditions.append(f"MetaData.LastUpdatedTime >= '{qbo_time(since)}'")
    wanted = [quoted(remote_id) for remote_id in ids]
    if wanted:
        conditions.append(f"Id IN ({','.join(wanted)})")
    if named is not None:
        prop, names = named
        conditions.append(f"{prop} IN ({','.join(quoted(name) for name in names)})")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT * FROM {remote_type}{where} ORDERBY Id STARTPOSITION {start} MAXRESULTS {PAGE_SIZE}"


def quoted(text: str) -> str:
    """A string literal of the query language, quotes and backslashes escaped."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class Cursor:
    """Where the next page of a listing starts: its position, and the Id of the row just before it."""

    start: int = 1
    last_id: str | None = None

    @classmethod
    def parse(cls, token: str | None) -> Cursor:
        """The cursor a page token names; a token this plugin did not write starts the listing again."""
        start, _, last_id = (token or "").partition(":")
        if not start.isdigit() or int(start) < 2 or not last_id:
            return cls()
        return cls(int(start), last_id)

    @property
    def position(self) -> int:
        """The STARTPOSITION to ask for: one row early, to see that the row before is still there."""
        return self.start - 1 if self.last_id else self.start

    def token(self) -> str:
        """The page token for this cursor."""
        return f"{self.start}:{self.last_id}"


def rows_of(found: dict[str, Any], remote_type: str) -> list[dict[str, Any]]:
    """The records of one type in a ``QueryResponse`` (an empty one has none)."""
    rows = found.get(remote_type, [])
    if not isinstance(rows, list) or not all(isinstance(row, dict) and isinstance(row.get("Id"), str) for row in rows):
        raise RetriableError(f"QuickBooks Online answered with {remote_type} rows that are not records with an Id")
    return rows


def after_cursor(rows: list[dict[str, Any]], cursor: Cursor) -> tuple[list[dict[str, Any]], bool]:
    """The rows past the cursor's last row, and whether that row was where it was left (nothing shifted)."""
    if cursor.last_id is None:
        return rows, True
    if rows and rows[0]["Id"] == cursor.last_id:
        return rows[1:], True
    last = id_order(cursor.last_id)
    return [row for row in rows if id_order(row["Id"]) > last], False


def id_order(remote_id: str) -> tuple[int, int, str]:
    """How QuickBooks orders Ids: digit strings as numbers, anything else after them as text."""
    return (0, int(remote_id), "") if remote_id.isascii() and remote_id.isdigit() else (1, 0, remote_id)


def cdc_rows(answer: dict[str, Any], remote_type: str) -> list[dict[str, Any]]:
    """Every record of one type in a CDC answer (``CDCResponse[].QueryResponse[].{Type}[]``)."""
    responses = answer.get("CDCResponse")
    if not isinstance(responses, list):
        raise RetriableError("QuickBooks Online answered a change data capture call without a CDCResponse list")
    rows: list[dict[str, Any]] = []
    for response in responses:
        parts = response.get("QueryResponse", []) if isinstance(response, dict) else None
        if not isinstance(parts, list):
            raise RetriableError("QuickBooks Online answered a change data capture call with a malformed CDCResponse")
        for part in parts:
            rows.extend(rows_of(part, remote_type) if isinstance(part, dict) else [])
    return rows


def remote_record(row: dict[str, Any]) -> RemoteRecord:
    """A record as QuickBooks sent it; a CDC ``"status": "Deleted"`` marker is a deleted record."""
    deleted = row.get("status") == "Deleted"
    token = row.get("SyncToken")
    return RemoteRecord(
        id=row["Id"],
        data=row,
        modified_at=_parse_time(_member(row, "MetaData", "LastUpdatedTime")),
        version=None if deleted or token is None else str(token),
        deleted=deleted,
    )


def _member(row: dict[str, Any], holder: str, key: str) -> Any:
    inner = row.get(holder)
    return inner.get(key) if isinstance(inner, dict) else None


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    # MetaData times always carry the company's offset; a bare one is read as UTC rather than dropped.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

"""What the engine intends for each record before it writes, and the small pure helpers that describe it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from hub.runs import Item, Run
from hub.store import HomeRecord, Link, Store, dumps
from hub.types import UNSET, RemoteRecord, is_blank


@dataclass
class Writes:
    """A page's rows for the home store, written statement by statement rather than record by record."""

    unlinked: list[tuple[str, str, dict[str, Any], str | None, str, list[str]]] = field(default_factory=list)
    new_records: list[HomeRecord] = field(default_factory=list)
    saved_records: list[HomeRecord] = field(default_factory=list)
    new_links: list[Link] = field(default_factory=list)
    saved_links: list[Link] = field(default_factory=list)

    async def apply(self, store: Store, tx: Any, connection: str, entity: str, at: datetime) -> None:
        """Write everything inside the caller's transaction: records before the links that refer to them."""
        if self.unlinked:
            await store.put_unlinked_many(tx, connection, entity, self.unlinked, at)
        if self.new_records:
            await store.insert_records(tx, self.new_records)
        if self.saved_records:
            await store.save_records(tx, self.saved_records)
        if self.new_links:
            await store.insert_links(tx, self.new_links)
            await store.drop_unlinked_many(tx, connection, entity, [link.remote_id for link in self.new_links])
        if self.saved_links:
            await store.save_links(tx, self.saved_links)


@dataclass(frozen=True)
class Match:
    """What the match rules found for one unlinked remote record."""

    how: str
    homes: list[HomeRecord]
    taken: bool = False
    delinked: bool = False
    home_deleted: bool = False
    """Delinked because its home record was deleted in the hub (every home record it was delinked from is)."""


@dataclass
class Plan:
    """What the engine intends for one record before it touches anything."""

    item: Item
    home: HomeRecord | None = None
    link: Link | None = None
    remote: RemoteRecord | None = None
    values: dict[str, Any] = field(default_factory=dict)
    home_changes: dict[str, Any] = field(default_factory=dict)
    remote_changes: dict[str, Any] = field(default_factory=dict)
    new_home: bool = False
    new_link: bool = False
    unlinked: tuple[str, list[str]] | None = None
    quiet: bool = False
    ignored: bool = False

    def fail(self, error: str) -> None:
        """Turn the plan into a failed item; nothing of it is applied."""
        self.item = replace(self.item, action="failed", reason=f"failed: {error}", error=error)
        self.home_changes, self.remote_changes = {}, {}


def change_entry(home_field: str, direction: str | None, rule: str, before: Any, after: Any) -> dict[str, Any]:
    return {"field": home_field, "direction": direction, "rule": rule,
            "before": None if before is UNSET else before, "after": None if after is UNSET else after}


def creation_changes(values: dict[str, Any], direction: str) -> list[dict[str, Any]]:
    """A created record's changes, as ``change_entry`` writes them: each field from nothing to its value."""
    return [{"field": f, "direction": direction, "rule": "create", "before": None, "after": v}
            for f, v in sorted(values.items())]


def content_hash(values: dict[str, Any]) -> str:
    return hashlib.sha256(dumps({k: (None if v is UNSET else v) for k, v in values.items()}).encode()).hexdigest()


def latest(first: datetime | None, *others: datetime | None) -> datetime | None:
    moments = [m for m in (first, *others) if m is not None]
    return max(moments) if moments else None


def holds(predicate: dict[str, Any], fields: dict[str, Any]) -> bool:
    value = fields.get(predicate["field"])
    if "equals" in predicate:
        return value == predicate["equals"]
    if "in" in predicate:
        return value in predicate["in"]
    return is_blank(value) == predicate["blank"]


def describe_predicate(predicate: dict[str, Any]) -> str:
    name = predicate["field"]
    if "equals" in predicate:
        return f"{name} is {predicate['equals']!r}"
    if "in" in predicate:
        return f"{name} is one of {predicate['in']!r}"
    return f"{name} is {'blank' if predicate['blank'] else 'filled in'}"


def describe_rule(rule: dict[str, Any], value: str) -> str:
    if rule["type"] == "link_key":
        return f"link key {value!r}"
    if rule["type"] == "exact_name":
        return f"exact name {value!r}"
    return f"{rule['home']} {value!r}"


def summary_of(run: Run) -> str:
    """The run's counts in a line, opening with seed 003's words when some records failed."""
    counts = run.counts
    line = ", ".join(f"{counts[key]} {key}" for key in ("seen", "created", "updated", "unchanged", "skipped",
                                                         "failed"))
    return f"Some errors were encountered during the sync: {line}" if counts["failed"] else line


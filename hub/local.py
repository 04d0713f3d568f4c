"""Changes made in the hub itself: create or edit a home record, mark it Pending Sync and queue it per connection."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub import outbox
from hub.errors import HubError
from hub.linking import delink
from hub.store import HomeRecord, Link, Store, iso
from hub.types import Fields

if TYPE_CHECKING:
    from hub.runtime import Hub


class UnknownRecord(HubError):
    """No live home record has that id."""


def new_record_defaults(hub: Hub, entity: str) -> dict[str, tuple[Any, str]]:
    """The values a new home record of this type starts with where its creator gives none, each with the option it
    comes from: what the contract of each usable connection syncing the type takes from the connection's options
    (QuickBooks' NC Only default). Where two connections disagree, a true value wins: NC Only on if either says so."""
    found: dict[str, tuple[Any, str]] = {}
    for name, connection in sorted(hub.config.connections.items()):
        contract = hub.registry.contracts.get(connection.plugin)
        if name in hub.unavailable or contract is None or entity not in contract.entities:
            continue
        if connection.entities and entity not in connection.entities:
            continue
        options = {**contract.default_options(), **connection.options}
        for home, (value, option) in contract.entity(entity).new_record_defaults(options).items():
            if home not in found or (value and not found[home][0]):
                found[home] = (value, f"connections.{name}.options.{option}")
    return found


async def create_record(store: Store, entity: str, fields: Fields, *, actor: str, at: datetime,
                        connections: Iterable[str], defaults: Mapping[str, tuple[Any, str]] | None = None
                        ) -> HomeRecord:
    """Add a home record and queue its creation on every connection that syncs its type.

    ``defaults`` (``new_record_defaults``) fill the fields the creator left out; each one's provenance names its option.
    """
    targets = list(connections)
    provenance: dict[str, dict[str, Any]] = {f: {"system": "hub", "actor": actor} for f in fields}
    given = dict(fields)
    for home, (value, option) in (defaults or {}).items():
        if home not in given:
            given[home] = value
            provenance[home] = {"system": "hub", "actor": actor, "rule": f"default from {option}"}
    fields = given
    async with store.transaction() as tx:
        record = await store.insert_record(tx, entity, fields, at=at, pending=bool(targets), provenance=provenance)
        for connection in targets:
            await outbox.enqueue(tx, connection=connection, entity=entity, home_id=record.id, op="create",
                                 fields=list(fields), actor=actor, at=at)
    return record


async def edit_record(store: Store, record_id: str, changes: dict[str, Any], *, actor: str, at: datetime,
                      connections: Iterable[str]) -> HomeRecord:
    """Change some fields of a home record and queue the change on every connection that syncs its type."""
    record = await store.record(record_id)
    if record is None or record.deleted_at:
        raise UnknownRecord(f"no home record with id {record_id!r}")
    changed = {name: value for name, value in changes.items() if record.fields.get(name) != value}
    if not changed:
        return record
    stamp = iso(at) or ""
    targets = list(connections)
    for name, value in changed.items():
        record.fields[name] = value
        record.field_modified[name] = stamp
        record.provenance[name] = {"system": "hub", "actor": actor}
    record.modified_at = stamp
    record.pending = record.pending or bool(targets)
    async with store.transaction() as tx:
        await store.save_record(tx, record)
        for connection in targets:
            await outbox.enqueue(tx, connection=connection, entity=record.entity, home_id=record.id, op="update",
                                 fields=list(changed), actor=actor, at=at)
    return record


async def delete_record(store: Store, record_id: str, *, actor: str, at: datetime,
                        deactivate_on: Collection[str] = ()) -> tuple[HomeRecord, list[Link]]:
    """Delete (archive) a home record: delinked on every connection, its queued changes dropped, no remote deleted.

    The hub never deletes a record in another system: each remote copy stays and is listed as unmatched again. On
    the connections in ``deactivate_on`` (their contract's ``on_home_delete`` is ``deactivate``) the remote copy is
    queued to be made inactive, the entry naming it, since the link that did is gone.
    """
    record = await store.record(record_id)
    if record is None or record.deleted_at:
        raise UnknownRecord(f"no home record with id {record_id!r}")
    rows = await store.fetchall("SELECT DISTINCT connection FROM links WHERE home_id = ?", (record.id,))
    # Queued before the delink, so that no crash leaves a delinked record whose deactivation was never queued.
    deactivating = [row[0] for row in rows if row[0] in deactivate_on]
    if deactivating:
        async with store.transaction() as tx:
            for connection in deactivating:
                link = (await store.links_by_home(connection, record.entity, [record.id]))[record.id]
                await tx.execute("DELETE FROM outbox WHERE connection = ? AND home_id = ? AND op = 'deactivate'",
                                 (connection, record.id))
                await outbox.enqueue(tx, connection=connection, entity=record.entity, home_id=record.id,
                                     op="deactivate", fields=[], actor=actor, at=at, remote_id=link.remote_id,
                                     remote_version=link.remote_version)
    # Delinked first: a crash between the two steps leaves a live, unlinked record, and deleting again finishes.
    links = [await delink(store, row[0], record.entity, home_id=record.id, actor=actor, at=at) for row in rows]
    record.deleted_at = iso(at)
    record.pending = False
    async with store.transaction() as tx:
        await tx.execute("DELETE FROM outbox WHERE home_id = ? AND op != 'deactivate'", (record.id,))
        await store.save_record(tx, record)
        await _forget_candidate(tx, record)
    kept = f"queued to be deactivated on {', '.join(deactivating)}" if deactivating else "remote records kept"
    await store.log(actor, "delete", f"deleted {record.entity} {record.name!r} ({record.id}); "
                    f"delinked on {len(links)} connection(s), {kept}", at=at)
    return record, links


async def _forget_candidate(tx: Any, record: HomeRecord) -> None:
    """Take a deleted record out of the unmatched remote records that named it as their match, saying so."""
    await tx.execute(
        "UPDATE unlinked_remote SET candidates = (SELECT json_group_array(value) FROM json_each(candidates) "
        "WHERE value != ?1), reason = ?2 WHERE entity = ?3 AND EXISTS (SELECT 1 FROM json_each(candidates) "
        "WHERE value = ?1)",
        (record.id, f"matched home record {record.name!r}, since deleted in the hub: link it by hand or import it",
         record.entity),
    )

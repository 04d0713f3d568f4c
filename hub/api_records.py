"""API routes for the hub's own records (list, show, create, edit, delete), the webhook inbox and the plugins."""

from __future__ import annotations

from typing import Any

from hub import inbox, outbox
from hub.api_http import ApiError, Call, api, int_path
from hub.api_links import link_json
from hub.api_runs import LIMIT, configured_types
from hub.api_schemas import INBOX_EVENT, PLUGIN, RECORD, RECORD_DETAIL, listing
from hub.engine import Scope
from hub.local import UnknownRecord, create_record, delete_record, edit_record, new_record_defaults
from hub.openapi import DescribedRoute, Operation, Param
from hub.runtime import Hub
from hub.store import HomeRecord

FIELDS: dict[str, Any] = {
    "type": "object",
    "description": "Home field values by field name; name is the record's display name.",
    "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"},
    "properties": {"name": {"type": "string"}, "hidden": {"type": "boolean"}},
}


def known_types(hub: Hub) -> list[str]:
    """Every entity type some usable connection syncs."""
    return sorted(
        {
            entity
            for name in hub.config.connections
            if name not in hub.unavailable
            for entity in configured_types(hub, name)
        }
    )


def check_type(hub: Hub, entity: str) -> str:
    """An entity type some connection syncs; 400 naming the field otherwise."""
    known = known_types(hub)
    if entity not in known:
        raise ApiError(400, f"entity: no connection syncs {entity!r} records (known: {', '.join(known) or 'none'})")
    return entity


async def queue_targets(hub: Hub, entity: str, *, linked_to: str | None = None) -> list[str]:
    """Connections a local change is queued for: they sync the type, write remotely, and create it or hold a link.

    A queued change of an unlinked record creates it remotely, so it goes only where the contract creates
    records by itself; elsewhere an explicit export does that.
    """
    targets = []
    for name in sorted(hub.config.connections):
        if name in hub.unavailable or entity not in configured_types(hub, name):
            continue
        engine = hub.engine(name)
        contract = engine.contract.entity(entity)
        if contract.pull_only or entity not in engine.entities_in(Scope()):
            continue
        linked = linked_to is not None and await hub.store.links_by_home(name, entity, [linked_to])
        if linked or contract.create_rule_to_remote(engine.options) == "auto":
            targets.append(name)
    return targets


def deactivate_targets(hub: Hub, entity: str) -> list[str]:
    """Connections where deleting a home record of this type makes its remote copy inactive (``on_home_delete``)."""
    targets = []
    for name in sorted(hub.config.connections):
        if name in hub.unavailable or entity not in configured_types(hub, name):
            continue
        contract = hub.engine(name).contract.entity(entity)
        if contract.on_home_delete == "deactivate" and not contract.pull_only:
            targets.append(name)
    return targets


def record_json(record: HomeRecord) -> dict[str, Any]:
    """A home record as the lists show it."""
    return {
        "id": record.id,
        "entity": record.entity,
        "name": record.name,
        "fields": record.fields,
        "pending": record.pending,
        "hidden": record.hidden,
        "created_at": record.created_at,
        "modified_at": record.modified_at,
    }


async def record_detail(hub: Hub, record: HomeRecord) -> dict[str, Any]:
    """A home record with who wrote each field, its links, and its changes waiting in sync queues."""
    links, queued = [], []
    for name in sorted(hub.config.connections):
        found = await hub.store.links_by_home(name, record.entity, [record.id])
        links += [link_json(link) for link in found.values()]
        queued += [
            {
                "connection": entry.connection,
                "op": entry.op,
                "fields": entry.fields,
                "remote_id": entry.remote_id,
                "actor": entry.actor,
                "created_at": entry.created_at,
                "attempts": entry.attempts,
                "last_error": entry.last_error,
            }
            for entry in await outbox.entries(hub.store, name, record.entity)
            if entry.home_id == record.id
        ]
    return {
        **record_json(record),
        "deleted_at": record.deleted_at,
        "field_modified": record.field_modified,
        "provenance": record.provenance,
        "links": links,
        "queued": queued,
    }


async def list_records(call: Call) -> list[dict[str, Any]]:
    """Live home records of one type, by name, optionally searched."""
    entity = check_type(call.hub, call.query["entity"])
    records = await call.hub.store.list_records(
        entity, search=call.query["search"], limit=call.query["limit"], offset=call.query["offset"]
    )
    return [record_json(record) for record in records]


async def show_record(call: Call) -> dict[str, Any]:
    """One home record, whole."""
    record = await call.hub.store.record(call.path["id"])
    if record is None:
        raise ApiError(404, f"no home record with id {call.path['id']!r}")
    return await record_detail(call.hub, record)


async def add_record(call: Call) -> dict[str, Any]:
    """Create a home record, marked Pending Sync and queued for each connection that will create it."""
    entity = check_type(call.hub, call.body["entity"])
    targets = await queue_targets(call.hub, entity)
    record = await create_record(
        call.hub.store, entity, call.body["fields"], actor=call.user.name, at=call.hub.clock(), connections=targets,
        defaults=new_record_defaults(call.hub, entity),
    )
    push_soon(call, targets, record)
    return await record_detail(call.hub, record)


async def change_record(call: Call) -> dict[str, Any]:
    """Change some fields of a home record, marked Pending Sync and queued where it syncs."""
    record_id = call.path["id"]
    record = await call.hub.store.record(record_id)
    if record is None or record.deleted_at:
        raise ApiError(404, f"no home record with id {record_id!r}")
    targets = await queue_targets(call.hub, record.entity, linked_to=record.id)
    record = await edit_record(
        call.hub.store, record_id, call.body["fields"], actor=call.user.name, at=call.hub.clock(), connections=targets
    )
    push_soon(call, targets, record)
    return await record_detail(call.hub, record)


async def remove_record(call: Call) -> dict[str, Any]:
    """Delete (archive) a home record: delinked everywhere, its queued changes dropped, no remote copy deleted; where
    the contract says so (QuickBooks' list records), the remote copy is queued to be made inactive, and pushed."""
    record = await call.hub.store.record(call.path["id"])
    targets = deactivate_targets(call.hub, record.entity) if record is not None else []
    try:
        record, links = await delete_record(call.hub.store, call.path["id"], actor=call.user.name, at=call.hub.clock(),
                                            deactivate_on=targets)
    except UnknownRecord as exc:
        raise ApiError(404, str(exc)) from None
    deactivating = [link for link in links if link.connection in targets]
    push_soon(call, sorted({link.connection for link in deactivating}), record)
    return {
        "id": record.id,
        "deleted_at": record.deleted_at,
        "delinked": [{"connection": link.connection, "entity": link.entity, "remote_id": link.remote_id}
                     for link in links],
        "deactivating": [{"connection": link.connection, "entity": link.entity, "remote_id": link.remote_id}
                         for link in deactivating],
    }


def push_soon(call: Call, connections: list[str], record: HomeRecord) -> None:
    """Flush the queue of each connection now, in the background (seed 002: created and linked "at once"); not for a
    disconnected user (seed 004), whose changes wait in the queue for the next sync."""
    push = getattr(call.request.app.state, "push_soon", None)
    if push is not None and not call.user.disconnected:
        for connection in connections:
            push(connection, record.entity, record.id, call.user.name)


async def list_inbox(call: Call) -> list[dict[str, Any]]:
    """Webhook events received, newest first, optionally of one status."""
    return await inbox.list_events(call.hub.store, status=call.query["status"], limit=call.query["limit"])


async def replay_event(call: Call) -> dict[str, Any]:
    """Send a dead (or finished) webhook event through again."""
    event_id = int_path(call, "id", "inbox event")
    row = await call.hub.store.fetchone("SELECT status FROM inbox WHERE id = ?", (event_id,))
    if row is None:
        raise ApiError(404, f"no inbox event {event_id}")
    if row[0] not in ("dead", "done"):
        raise ApiError(409, f"inbox event {event_id} is {row[0]}; only dead or finished events are replayed")
    await inbox.replay(call.hub.store, event_id, at=call.hub.clock())
    wake = getattr(call.request.app.state, "wake_workers", None)
    if wake is not None:
        wake()
    return {"id": event_id, "status": "pending"}


async def list_plugins(call: Call) -> list[dict[str, Any]]:
    """Installed system plugins, their versions, entity types and contracts, and any that failed to load."""
    return call.hub.describe_plugins()


REMOTE_COPY: dict[str, Any] = {
    "type": "object",
    "required": ["connection", "entity", "remote_id"],
    "properties": {"connection": {"type": "string"}, "entity": {"type": "string"}, "remote_id": {"type": "string"}},
}

RECORD_ID = (Param("id", "The home record's id.", {"type": "string", "minLength": 1}),)


def routes() -> list[DescribedRoute]:
    """The routes of this module."""
    return [
        api(
            "GET",
            "/records",
            list_records,
            Operation(
                summary="List home records of one type",
                tag="records",
                response=listing(RECORD),
                query=(
                    Param("entity", "The entity type.", {"type": "string", "minLength": 1}, required=True),
                    Param("search", "Only records whose name contains this.", {"type": "string", "default": ""}),
                    Param(
                        "limit", "At most this many.", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}
                    ),
                    Param(
                        "offset",
                        "Skip this many first.",
                        {"type": "integer", "minimum": 0, "maximum": 1_000_000, "default": 0},
                    ),
                ),
            ),
        ),
        api(
            "GET",
            "/records/{id}",
            show_record,
            Operation(
                summary="Show a home record: fields, Pending Sync, provenance, links, queued changes",
                tag="records",
                path=RECORD_ID,
                response=RECORD_DETAIL,
            ),
        ),
        api(
            "POST",
            "/records",
            add_record,
            Operation(
                summary="Create a home record",
                tag="records",
                status=201,
                response=RECORD_DETAIL,
                body={
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["entity", "fields"],
                    "properties": {"entity": {"type": "string", "minLength": 1}, "fields": FIELDS},
                },
                description="The record is marked Pending Sync and queued for every connection that syncs its type, "
                "writes remotely and creates such records by itself; the next sync of each pushes it (a serving hub "
                "pushes it at once, unless the user is configured `disconnected`). A field the body leaves out that "
                "a connection's contract defaults from its options (QuickBooks `nc_only_default`) takes that default.",
            ),
        ),
        api(
            "PATCH",
            "/records/{id}",
            change_record,
            Operation(
                summary="Change fields of a home record",
                tag="records",
                path=RECORD_ID,
                response=RECORD_DETAIL,
                body={
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["fields"],
                    "properties": {"fields": {**FIELDS, "minProperties": 1}},
                },
                description="Changed fields are queued for every connection that syncs the type and writes remotely "
                "(where the record is linked, or where the contract creates it); the record is marked Pending Sync.",
            ),
        ),
        api(
            "DELETE",
            "/records/{id}",
            remove_record,
            Operation(
                summary="Delete a home record",
                tag="records",
                admin=True,
                path=RECORD_ID,
                response={
                    "type": "object",
                    "required": ["id", "deleted_at", "delinked", "deactivating"],
                    "properties": {
                        "id": {"type": "string"},
                        "deleted_at": {"type": "string"},
                        "delinked": listing(REMOTE_COPY),
                        "deactivating": listing(REMOTE_COPY),
                    },
                },
                description="The hub never deletes records in other systems: the record is delinked on every "
                "connection, each remote copy stays and is listed as unmatched again, and the record's queued "
                "changes are dropped. Where the contract's `on_home_delete` is `deactivate` (QuickBooks customers, "
                "vendors and items), the remote copy is queued to be made inactive (`deactivating`) and pushed at "
                "once; if the system cannot be reached it waits in the queue for the next sync. The record leaves "
                "the lists; `GET /api/records/{id}` still shows it, with `deleted_at`.",
            ),
        ),
        api(
            "GET",
            "/inbox",
            list_inbox,
            Operation(
                summary="List webhook events in the inbox",
                tag="inbox",
                admin=True,
                response=listing(INBOX_EVENT),
                query=(
                    Param("status", "Only events of this status.", {"enum": ["pending", "claimed", "done", "dead"]}),
                    LIMIT,
                ),
            ),
        ),
        api(
            "POST",
            "/inbox/{id}/replay",
            replay_event,
            Operation(
                summary="Replay a dead or finished webhook event",
                tag="inbox",
                admin=True,
                errors=(409,),
                path=(Param("id", "The event's number.", {"type": "string", "pattern": "^[0-9]+$"}),),
                response={
                    "type": "object",
                    "required": ["id", "status"],
                    "properties": {"id": {"type": "integer"}, "status": {"const": "pending"}},
                },
            ),
        ),
        api(
            "GET",
            "/plugins",
            list_plugins,
            Operation(
                summary="List installed plugins",
                tag="hub",
                response=listing(PLUGIN),
            ),
        ),
    ]

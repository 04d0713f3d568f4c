"""API routes for connections and their syncs: state, manual syncs, run history and the activity log."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hub import outbox
from hub.api_http import ApiError, Call, Json, api, int_path, parse_since
from hub.api_schemas import (
    ACTIVITY,
    CONNECTION,
    CONNECTION_DETAIL,
    IDS,
    RUN,
    RUN_RESULT,
    RUN_WITH_ITEMS,
    listing,
)
from hub.auth import Forbidden
from hub.background_runs import ShuttingDown
from hub.engine import RunResult, Scope
from hub.openapi import Answer, DescribedRoute, Operation, Param
from hub.runtime import Hub
from hub.status import connection_status

CONNECTION_NAME = Param("name", "The connection's name, as configured.", {"type": "string", "minLength": 1})
LIMIT = Param(
    "limit", "At most this many, newest first.", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}
)
ENTITY_LIST: dict[str, Any] = {"type": "array", "items": {"type": "string", "minLength": 1}, "maxItems": 50}


# --- shared by every route that runs a sync ------------------------------------------------------------------


def configured_types(hub: Hub, name: str) -> list[str]:
    """The entity types a connection syncs: those its configuration names, else all of its contract's."""
    connection = hub.config.connections[name]
    return list(connection.entities or hub.registry.contracts[connection.plugin].entities)


def check_entities(hub: Hub, name: str, requested: list[str], field: str) -> tuple[str, ...]:
    """Entity types a request names, each one the connection syncs; 400 naming the field otherwise."""
    known = configured_types(hub, name)
    for entity in requested:
        if entity not in known:
            raise ApiError(400, f"{field}: {name} does not sync {entity!r} (it syncs: {', '.join(known)})")
    return tuple(dict.fromkeys(requested))


def check_fields(hub: Hub, name: str, entities: tuple[str, ...], fields: tuple[str, ...]) -> None:
    """Refuse (400) a field none of the synced entity types syncs: a typo would otherwise sync nothing."""
    contract = hub.registry.contracts[hub.config.connections[name].plugin]
    synced = {
        m.home for entity in entities or configured_types(hub, name) for m in contract.entity(entity).synced_fields
    }
    for home_field in fields:
        if home_field not in synced:
            raise ApiError(400, f"fields: {home_field!r} is not synced by {name} (synced: {', '.join(sorted(synced))})")


async def entities_of_records(hub: Hub, name: str, record_ids: tuple[str, ...]) -> tuple[str, ...]:
    """The entity types of some home records, which must exist and be types the connection syncs."""
    records = await hub.store.records(record_ids)
    missing = [record_id for record_id in record_ids if record_id not in records or records[record_id].deleted_at]
    if missing:
        raise ApiError(404, f"record_ids: no home record {', '.join(map(repr, missing))}")
    known = configured_types(hub, name)
    for record in records.values():
        if record.entity not in known:
            raise ApiError(400, f"record_ids: {record.id} is a {record.entity} record, which {name} does not sync")
    return tuple(sorted({record.entity for record in records.values()}))


def prefers_async(call: Call) -> bool:
    """Whether the request asks to be answered before the run ends: ``Prefer: respond-async`` (RFC 7240)."""
    preferences = ",".join(call.request.headers.getlist("prefer"))
    return any(part.split(";")[0].split("=")[0].strip().lower() == "respond-async"
               for part in preferences.split(","))


async def run_sync(call: Call, name: str, scope: Scope, *, dry_run: bool = False, early: bool = False) -> Any:
    """Run a sync for the calling user and answer its result; a refused run is a 409 carrying the result.

    ``early`` (the client sent ``Prefer: respond-async``) answers 202 with the run's id as soon as the run is
    stored, and the run goes on in the background; a dry run stores no run, so it is always waited for.
    """
    if early and not dry_run:
        try:
            run_id = await call.request.app.state.background_runs.start(call.hub, name, scope, actor=call.user.name)
        except ShuttingDown as exc:
            raise ApiError(503, str(exc)) from None
        location = f"/api/runs/{run_id}"
        return Json({"run_id": run_id, "connection": name, "status": "running", "location": location},
                    status_code=202, headers={"Location": location, "Preference-Applied": "respond-async"})
    result = await call.hub.sync(name, scope, trigger="manual", actor=call.user.name, dry_run=dry_run)
    answer = await result_json(call.hub, result, dry_run=dry_run)
    if result.status == "refused":
        return Json({"error": result.summary, "run": answer}, status_code=409)
    return answer


async def result_json(hub: Hub, result: RunResult, *, dry_run: bool) -> dict[str, Any]:
    """A run's result as the API answers it: the stored items of a real run, the plan of a dry one."""
    items = result.plan if dry_run or result.run_id is None else await hub.store.run_items(result.run_id)
    return {
        "run_id": result.run_id,
        "connection": result.connection,
        "status": result.status,
        "summary": result.summary,
        "counts": result.counts,
        "dry_run": dry_run,
        "items": items,
    }


# --- connections --------------------------------------------------------------------------------------------


async def connection_row(hub: Hub, name: str) -> dict[str, Any]:
    """One connection's state, plugin, schedule and entity types."""
    row = await connection_status(hub, name)
    if name in hub.unavailable:
        return {**row, "system": None, "entities": []}
    contract = hub.registry.contracts[hub.config.connections[name].plugin]
    return {**row, "system": contract.system, "entities": hub.engine(name).entities_in(Scope())}


async def list_connections(call: Call) -> list[dict[str, Any]]:
    """Every configured connection and its state."""
    return [await connection_row(call.hub, name) for name in sorted(call.hub.config.connections)]


async def show_connection(call: Call) -> dict[str, Any]:
    """One connection: its state, options, queued local changes and last run."""
    name = call.path["name"]
    call.connection(name, usable=False)
    last = await call.hub.store.runs(connection=name, limit=1)
    return {
        **await connection_row(call.hub, name),
        "options": call.hub.config.connections[name].options,
        "queued": len(await outbox.entries(call.hub.store, name)),
        "last_run": last[0] if last else None,
    }


async def sync_connection(call: Call) -> Any:
    """Run a manual sync: a whole connection's is an admin's, a list's as its contract says, a record's anyone's."""
    body = call.body
    scope = Scope(
        record_ids=tuple(body.get("record_ids", ())),
        remote_ids=tuple(body.get("remote_ids", ())),
        fields=tuple(body.get("fields", ())),
        since=parse_since(body.get("since")),
        mode=body.get("mode", "contract"),
        create_home=body.get("create_home", False),
        create_remote=body.get("create_remote", False),
        allow_empty_home=body.get("allow_empty_home", False),
        full=body.get("full", False),
    )
    narrowed = bool(scope.record_ids or scope.remote_ids or body.get("entities"))
    if not call.is_admin:
        if not narrowed:
            # Seed 001: the whole connection is an admin's; some lists (the Clients list's Sync) are anyone's.
            raise Forbidden(
                f"{call.user.name} is a standard user: only admins sync a whole connection; name the "
                "entities (lists) to sync, or record_ids or remote_ids to sync single records"
            )
        if scope.create_home or scope.create_remote:
            raise Forbidden(f"{call.user.name} is a standard user: only admins create records by import or export")
    name = call.path["name"]
    call.connection(name)
    entities = check_entities(call.hub, name, body.get("entities", []), "entities")
    if not entities and scope.record_ids and not scope.remote_ids:
        entities = await entities_of_records(call.hub, name, scope.record_ids)
    if not entities and scope.remote_ids:
        raise ApiError(400, "entities: name the entity type the remote_ids belong to")
    if not call.is_admin and not (scope.record_ids or scope.remote_ids):
        check_list_sync(call, name, entities)
    check_fields(call.hub, name, entities, scope.fields)
    scope = replace(scope, entities=entities)
    return await run_sync(call, name, scope, dry_run=body.get("dry_run", False), early=prefers_async(call))


def check_list_sync(call: Call, name: str, entities: tuple[str, ...]) -> None:
    """Refuse (403) a standard user's sync of lists the contract keeps for admins (``list_sync``), naming them."""
    contract = call.hub.registry.contracts[call.hub.config.connections[name].plugin]
    closed = [entity for entity in entities if contract.entity(entity).list_sync != "any_user"]
    if not closed:
        return
    open_lists = [e for e in configured_types(call.hub, name) if contract.entity(e).list_sync == "any_user"]
    lists = f"the {', '.join(open_lists)} list{'s' if len(open_lists) > 1 else ''} and " if open_lists else ""
    raise Forbidden(
        f"{call.user.name} is a standard user: only admins sync the {', '.join(closed)} list"
        f"{'s' if len(closed) > 1 else ''} of {name}; any user may sync {lists}single records "
        "(record_ids or remote_ids)"
    )


PREFER = Param(
    "Prefer",
    "`respond-async` (RFC 7240): answer 202 with the run's id as soon as the run starts, and let it go on in the "
    "background; follow it at the Location given (GET /api/runs/{id}). Without it the answer waits for the run's end.",
    {"type": "string"},
)
RUN_STARTED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["run_id", "connection", "status", "location"],
    "properties": {
        "run_id": {"type": "integer", "description": "the run just started: GET /api/runs/{run_id} follows it"},
        "connection": {"type": "string"},
        "status": {"const": "running"},
        "location": {"type": "string", "description": "the run's path, as in the Location header"},
    },
}
RUN_STARTED = Answer(
    202,
    "The run started and goes on in the background (the request sent Prefer: respond-async). Its counts move as "
    "records are done, and it ends with a status as a waited-for run does (refused, failed and interrupted too).",
    RUN_STARTED_SCHEMA,
    headers={"Location": "/api/runs/{id}: the run to follow", "Preference-Applied": "respond-async"},
)
ASYNC_NOTE = (
    " With `Prefer: respond-async` the answer is 202 and the run's id as soon as the run starts (a refusal before "
    "it starts is still answered 403, 409 or 503); the run goes on in the background."
)

SYNC_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "entities": {**ENTITY_LIST, "description": "entity types to sync (default: all the connection syncs)"},
        "record_ids": {**IDS, "description": "only these home records"},
        "remote_ids": {**IDS, "description": "only these remote records (name their entity type too)"},
        "fields": {**ENTITY_LIST, "description": "only these home fields"},
        "since": {"type": "string", "description": "only records modified since (YYYY-MM-DD or ISO 8601 time)"},
        "mode": {
            "enum": ["contract", "pull", "newest"],
            "description": "pull: the system's values overwrite the "
            "hub's; newest: the side changed last wins; contract: the contract's rules (default)",
        },
        "create_home": {"type": "boolean", "description": "create remote-only records at home (admins)"},
        "create_remote": {"type": "boolean", "description": "create the record_ids in the system (admins)"},
        "full": {"type": "boolean", "description": "list everything, not only what changed"},
        "allow_empty_home": {"type": "boolean", "description": "allow a first sync into an empty hub"},
        "dry_run": {"type": "boolean", "description": "answer the plan, write nothing"},
    },
}


# --- runs and activity --------------------------------------------------------------------------------------


async def list_runs(call: Call) -> list[dict[str, Any]]:
    """The latest runs, newest first, of one connection or all."""
    connection = call.query["connection"]
    if connection is not None:
        call.connection(connection, usable=False)
    return await call.hub.store.runs(connection=connection, limit=call.query["limit"])


async def show_run(call: Call) -> dict[str, Any]:
    """One run with every decision it recorded."""
    run_id = int_path(call, "id", "run")
    run = await call.hub.store.run(run_id)
    if run is None:
        raise ApiError(404, f"no run {run_id}")
    return {**run, "items": await call.hub.store.run_items(run_id)}


async def list_activity(call: Call) -> list[dict[str, Any]]:
    """The activity log, newest first: who asked for which sync, pauses, links and delinks."""
    connection = call.query["connection"]
    if connection is not None:
        call.connection(connection, usable=False)
    return await call.hub.store.activity(connection=connection, limit=call.query["limit"])


CONNECTION_FILTER = Param("connection", "Only this connection's.", {"type": "string", "minLength": 1})


def routes() -> list[DescribedRoute]:
    """The routes of this module."""
    return [
        api(
            "GET",
            "/connections",
            list_connections,
            Operation(
                summary="List connections and their state",
                tag="connections",
                response=listing(CONNECTION),
                description="State is idle, running, `paused until <time>` (rate limited), re-authorisation "
                "required, or unavailable (its plugin failed to load).",
            ),
        ),
        api(
            "GET",
            "/connections/{name}",
            show_connection,
            Operation(
                summary="Show one connection",
                tag="connections",
                path=(CONNECTION_NAME,),
                response=CONNECTION_DETAIL,
            ),
        ),
        api(
            "POST",
            "/connections/{name}/sync",
            sync_connection,
            Operation(
                summary="Run a manual sync and answer its result",
                tag="syncs",
                path=(CONNECTION_NAME,),
                body=SYNC_BODY,
                headers=(PREFER,),
                response=RUN_RESULT,
                answers=(RUN_STARTED,),
                errors=(403, 409, 503),
                description="Admins may sync a whole connection or any entity types. Standard users may sync "
                "single records (give record_ids or remote_ids), and the lists (entities) whose contract says "
                "`list_sync: any_user` (seed 001: any user syncs the Clients list; the other lists are an admin's). "
                "Each request is logged in the activity log with the caller's name. 409 when a sync of the same "
                "scope is already running, or when the hub refuses the run (the answer then carries the refused "
                "run). 403 for a standard user's connection-level sync, or sync of a list kept for admins (the "
                "error names the lists)." + ASYNC_NOTE + " A dry run is always waited for.",
            ),
        ),
        api(
            "GET",
            "/runs",
            list_runs,
            Operation(
                summary="List runs",
                tag="syncs",
                query=(CONNECTION_FILTER, LIMIT),
                response=listing(RUN),
                errors=(404,),
            ),
        ),
        api(
            "GET",
            "/runs/{id}",
            show_run,
            Operation(
                summary="Show a run with its items",
                tag="syncs",
                response=RUN_WITH_ITEMS,
                path=(Param("id", "The run's number.", {"type": "string", "pattern": "^[0-9]+$"}),),
            ),
        ),
        api(
            "GET",
            "/activity",
            list_activity,
            Operation(
                summary="List the activity log",
                tag="syncs",
                query=(CONNECTION_FILTER, LIMIT),
                response=listing(ACTIVITY),
                errors=(404,),
            ),
        ),
    ]

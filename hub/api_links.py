"""API routes for linking: the linked and unmatched lists, linking by hand, the import list, import and export."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from hub.api_http import ApiError, Call, Json, api
from hub.api_runs import (
    ASYNC_NOTE,
    CONNECTION_NAME,
    PREFER,
    RUN_STARTED,
    check_entities,
    prefers_async,
    result_json,
    run_sync,
)
from hub.api_schemas import IDS, IMPORT_CANDIDATE, LINK, LINK_ROW, RUN_RESULT, listing
from hub.contracts import EntityContract
from hub.disconnect import refuse_if_disconnected
from hub.engine import Mode, Scope
from hub.errors import SyncError
from hub.linking import LinkRefused, delink, link_by_hand, link_same_name, remember_found, report_csv
from hub.openapi import DescribedRoute, Operation, Param
from hub.runtime import Hub
from hub.store import HomeRecord, Link, name_key
from hub.views import LINKS_PAGE, LINKS_PAGE_MAX, import_candidates, link_page

ENTITY = {"type": "string", "minLength": 1}
HOME_ID = Param("home_id", "The home record's id.", {"type": "string", "minLength": 1})


def flag(name: str, description: str) -> Param:
    """A yes/no query parameter: ``true`` or ``false`` (also 1/0, yes/no), default ``false``."""
    return Param(name, description, {"type": "boolean", "default": False})


def flag_on(call: Call, name: str) -> bool:
    """Whether a yes/no query parameter was set."""
    return call.query[name]


def link_json(link: Link) -> dict[str, Any]:
    """A link as the API shows it."""
    return {
        "connection": link.connection,
        "entity": link.entity,
        "home_id": link.home_id,
        "remote_id": link.remote_id,
        "how": link.how,
        "remote_name": link.remote_snapshot.get("name"),
        "linked_at": link.linked_at,
        "last_synced_at": link.last_synced_at,
    }


async def home_record(call: Call, home_id: str, entity: str | None = None, field: str = "home_id") -> HomeRecord:
    """A live home record (of one type, if given): 404 naming the field otherwise."""
    record = await call.hub.store.record(home_id)
    if record is None or record.deleted_at or (entity and record.entity != entity):
        raise ApiError(404, f"{field}: no home {entity or 'record'} with id {home_id!r}")
    return record


async def check_remote(hub: Hub, name: str, entity: str, remote_id: str) -> None:
    """Refuse (404) to link to a remote record the system says does not exist."""
    try:
        remote = await hub.system(name).read(entity, remote_id)
    except NotImplementedError:
        return  # a system that cannot read one record: the targeted sync will show what it found
    except SyncError as exc:
        raise ApiError(503, f"could not look up remote_id in {name}: {exc}") from None
    if remote is None:
        raise ApiError(404, f"remote_id: {name} has no {entity} with id {remote_id!r}")


async def list_links(call: Call) -> Json:
    """Linked pairs, unmatched records on either side and the review queue, searchable by name, a page at a time."""
    name = call.path["name"]
    call.connection(name)
    entity = call.query["entity"]
    if entity is not None:
        check_entities(call.hub, name, [entity], "entity")
    rows, total = await link_page(
        call.hub,
        name,
        entity=entity,
        show=SHOW_ALIASES.get(call.query["show"], call.query["show"]),
        search=call.query["search"],
        show_hidden=flag_on(call, "show_hidden"),
        limit=call.query["limit"],
        offset=call.query["offset"],
    )
    return Json(rows, headers={TOTAL_COUNT: str(total)})


async def list_import_candidates(call: Call) -> list[dict[str, Any]]:
    """The import list: remote records never brought in (or all of them), hidden ones on request."""
    name = call.path["name"]
    call.connection(name)
    return await import_list(call.hub, name, call.query["entity"], show_synced=flag_on(call, "show_synced"),
                             show_hidden=flag_on(call, "show_hidden"))


async def import_list(hub: Hub, name: str, entity: str, *, show_synced: bool,
                      show_hidden: bool) -> list[dict[str, Any]]:
    """The import list of one type, or why there is none (409, 503); the API's and ``hub import-list``'s."""
    (entity,) = check_entities(hub, name, [entity], "entity")
    contract = hub.registry.contracts[hub.config.connections[name].plugin].entity(entity)
    if contract.create_to_home == "never":
        raise ApiError(409, f"{name} never creates {entity} records in the hub, so it has nothing to import")
    await refuse_if_disconnected(hub.store, name)  # the list is read from the system
    try:
        return await import_candidates(hub, name, entity, show_synced=show_synced, show_hidden=show_hidden)
    except NotImplementedError as exc:
        raise ApiError(409, str(exc)) from None
    except SyncError as exc:
        raise ApiError(503, f"could not list {entity} records in {name}: {exc}") from None


async def link_records(call: Call) -> Json:
    """Link a home record to a remote one by hand, then sync the pair so the first-sync rules apply."""
    name = call.path["name"]
    call.connection(name)
    (entity,) = check_entities(call.hub, name, [call.body["entity"]], "entity")
    home_id, remote_id = call.body["home_id"], call.body["remote_id"]
    await home_record(call, home_id, entity)
    await refuse_if_disconnected(call.hub.store, name)  # a link is read from the system and synced at once
    await check_remote(call.hub, name, entity, remote_id)
    contract = call.hub.registry.contracts[call.hub.config.connections[name].plugin].entity(entity)
    link = await link_by_hand(
        call.hub.store, name, contract, home_id, remote_id, actor=call.user.name, at=call.hub.clock()
    )
    result = await call.hub.sync(
        name,
        Scope(entities=(entity,), record_ids=(home_id,), remote_ids=(remote_id,)),
        trigger="manual",
        actor=call.user.name,
    )
    linked = (await call.hub.store.links_by_home(name, entity, [home_id])).get(home_id, link)
    return Json({"link": link_json(linked), "run": await result_json(call.hub, result, dry_run=False)}, status_code=201)


async def remove_link(call: Call) -> dict[str, Any]:
    """Delink a home record; both records stay, and neither syncs until linked again."""
    name, entity, home_id = call.path["name"], call.path["entity"], call.path["home_id"]
    call.connection(name)
    check_entities(call.hub, name, [entity], "entity")
    if not await call.hub.store.links_by_home(name, entity, [home_id]):
        raise ApiError(404, f"no {entity} link on {name} for home record {home_id!r}")
    link = await delink(call.hub.store, name, entity, home_id=home_id, actor=call.user.name, at=call.hub.clock())
    return link_json(link)


async def import_records(call: Call) -> Any:
    """Create remote-only records in the home store (those not matched to a home record get created)."""
    name = call.path["name"]
    call.connection(name)
    (entity,) = check_entities(call.hub, name, [call.body["entity"]], "entity")
    contract = call.hub.registry.contracts[call.hub.config.connections[name].plugin].entity(entity)
    if contract.create_to_home == "never":
        raise ApiError(409, f"{name} never creates {entity} records in the hub")
    scope = Scope(entities=(entity,), remote_ids=tuple(call.body["remote_ids"]), create_home=True)
    return await run_sync(call, name, scope, early=prefers_async(call))


async def export_records(call: Call) -> Any:
    """Create home-only records in the external system."""
    name = call.path["name"]
    call.connection(name)
    (entity,) = check_entities(call.hub, name, [call.body["entity"]], "entity")
    record_ids = tuple(dict.fromkeys(call.body["record_ids"]))
    for record_id in record_ids:
        await home_record(call, record_id, entity, field="record_ids")
    engine = call.hub.engine(name)
    contract = engine.contract.entity(entity)
    if contract.pull_only or contract.create_rule_to_remote(engine.options) == "never":
        raise ApiError(409, f"{name} never creates {entity} records in {engine.contract.system}")
    scope = Scope(entities=(entity,), record_ids=record_ids, create_remote=True)
    return await run_sync(call, name, scope, early=prefers_async(call))


async def sync_record(call: Call, mode: Mode) -> Any:
    """Sync one home record, pull or newest; an unlinked one is first found by its exact name (seed 003)."""
    name, home_id = call.path["name"], call.path["home_id"]
    call.connection(name)
    record = await home_record(call, home_id)
    try:
        check_entities(call.hub, name, [record.entity], "entity")
    except ApiError as exc:
        raise ApiError(409, str(exc)) from None
    linked = None
    if not await call.hub.store.links_by_home(name, record.entity, [home_id]):
        linked = await link_by_name(call.hub, name, record, actor=call.user.name)
    answer = await run_sync(call, name, Scope(entities=(record.entity,), record_ids=(home_id,), mode=mode))
    if linked is not None and isinstance(answer, dict):
        answer["linked"] = linked_note(name, record, linked)
    return answer


async def link_by_name(hub: Hub, name: str, record: HomeRecord, *, actor: str) -> Link:
    """Link an unlinked home record to the remote record of its exact name, as the contract matches; 409 if none."""
    plugin = hub.config.connections[name].plugin
    contract = hub.registry.contracts[plugin]
    title = hub.registry.systems[plugin].title or contract.system
    entity = contract.entity(record.entity)
    if name_key(record.name) and not await hub.store.unlinked_remote(name, record.entity, named=record.name):
        # Seed 003: "Pull Current Contact" finds the contact in the system, listed by the hub or not.
        await find_by_name(hub, name, entity, record, title)
    link = await link_same_name(hub.store, name, entity, record, system=title, actor=actor, at=hub.clock())
    if link is None:
        raise ApiError(409, f"{record.entity} {record.name!r} is not linked on {name}: link or export it first")
    return link


async def find_by_name(hub: Hub, name: str, contract: EntityContract, record: HomeRecord, title: str) -> None:
    """Look a record's name up in the system and keep what it finds as unmatched records; 409 when the system has
    none of that name to link (503 when it cannot be asked); nothing when it cannot look records up by name."""
    try:
        found = await hub.system(name).find_by_names(record.entity, [record.name])
    except SyncError as exc:
        raise ApiError(503, f"could not look up {record.entity} {record.name!r} in {name}: {exc}") from None
    if found is None:
        return
    if not await remember_found(hub.store, name, contract, found, system=title, at=hub.clock()):
        raise LinkRefused(f"{record.entity} {record.name!r} is not linked on {name}, and {title} has no "
                          f"{record.entity} named {record.name!r} that is not linked already: export the record "
                          "to create it")


def linked_note(name: str, record: HomeRecord, link: Link) -> str:
    """What a pull or newest sync says when it linked the record first."""
    return f"linked: exact name {record.name!r} to {name} {link.entity} {link.remote_id}"


async def pull_record(call: Call) -> Any:
    """Overwrite a home record with its linked remote record's values."""
    return await sync_record(call, "pull")


async def newest_record(call: Call) -> Any:
    """Sync a home record with its linked remote record, the side modified last winning."""
    return await sync_record(call, "newest")


async def link_report(call: Call) -> Response:
    """Linked pairs of one entity type as CSV: hub values beside the system's as last synced."""
    name = call.path["name"]
    call.connection(name)
    (entity,) = check_entities(call.hub, name, [call.query["entity"]], "entity")
    text = await report_text(call.hub, name, entity)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}-{entity}-links.csv"'},
    )


async def report_text(hub: Hub, name: str, entity: str) -> str:
    """The report of one type's linked pairs, as CSV text; the API's and ``hub report``'s."""
    plugin = hub.config.connections[name].plugin
    contract = hub.registry.contracts[plugin]
    title = hub.registry.systems[plugin].title or contract.system
    return await report_csv(hub.store, name, contract.entity(entity), title)


def _body(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": sorted(properties), "properties": properties}


RECORD_PATH = (CONNECTION_NAME, HOME_ID)
RECORD_RUN: dict[str, Any] = {
    **RUN_RESULT,
    "properties": {
        **RUN_RESULT["properties"],
        "linked": {"type": "string", "description": "present when the record was linked first, by exact name"},
    },
}
RECORD_LINKING = (
    "An unlinked record is first linked to the one unmatched remote record with its exact name, when the contract "
    "matches by exact name. 409 when there is none, several, or the contract does not match by name."
)
TOTAL_COUNT = "X-Total-Count"
"""The header of the links listing saying how many rows it has in all, across every page."""
LINKS_PAGING = (
    Param(
        "limit",
        f"At most this many rows (at most {LINKS_PAGE_MAX}); X-Total-Count says how many there are in all.",
        {"type": "integer", "minimum": 1, "maximum": LINKS_PAGE_MAX, "default": LINKS_PAGE},
    ),
    Param("offset", "Skip this many rows first.", {"type": "integer", "minimum": 0, "default": 0}),
)
SHOW_ALIASES = {"matched": "linked"}
"""The seeds' words for a ``show`` value (seed 002 and 003 speak of matched records)."""
SHOW = Param(
    "show",
    "Which rows: all, linked (or matched, the same), unmatched (on either side) or review (several candidates).",
    {"enum": ["all", "linked", "matched", "unmatched", "review"], "default": "all"},
)


def routes() -> list[DescribedRoute]:
    """The routes of this module."""
    return [
        api(
            "GET",
            "/connections/{name}/links",
            list_links,
            Operation(
                summary="List linked, unmatched and review-queue records",
                tag="links",
                path=(CONNECTION_NAME,),
                query=(
                    Param("entity", "Only this entity type.", ENTITY),
                    SHOW,
                    Param(
                        "search",
                        "Only records whose name (on either side) contains this.",
                        {"type": "string", "default": ""},
                    ),
                    flag(
                        "show_hidden",
                        "Include rows whose home record is hidden or whose remote record is (inactive in "
                        "QuickBooks); left out by default.",
                    ),
                    *LINKS_PAGING,
                ),
                response=listing(LINK_ROW),
                errors=(503,),
                description="A page at a time, in one order: type by type, the linked pairs, then the remote records "
                "unmatched or in review, then the unmatched home records. The X-Total-Count header gives the number "
                "of rows in all pages; ask again with offset moved on by limit for the next page.",
            ),
        ),
        api(
            "GET",
            "/connections/{name}/import-candidates",
            list_import_candidates,
            Operation(
                summary="List the remote records a person can import",
                tag="links",
                path=(CONNECTION_NAME,),
                query=(
                    Param("entity", "The entity type.", ENTITY, required=True),
                    flag("show_synced", "Include records already linked (brought in) on this connection."),
                    flag("show_hidden", "Include records hidden in the system (inactive in QuickBooks)."),
                ),
                response=listing(IMPORT_CANDIDATE),
                errors=(409, 503),
                description="Read live from the system, by name. Without show_synced only records never brought "
                "in are listed. 409 when the contract never creates the type in the hub or the system cannot list it.",
            ),
        ),
        api(
            "POST",
            "/connections/{name}/links",
            link_records,
            Operation(
                summary="Link two records by hand and sync the pair",
                tag="links",
                admin=True,
                status=201,
                path=(CONNECTION_NAME,),
                errors=(409, 503),
                body=_body(entity=ENTITY, home_id=ENTITY, remote_id=ENTITY),
                response={
                    "type": "object",
                    "required": ["link", "run"],
                    "properties": {"link": LINK, "run": RUN_RESULT},
                },
                description="The pair is synced at once under the contract's first-sync rules. 409 when either "
                "record is already linked on this connection.",
            ),
        ),
        api(
            "DELETE",
            "/connections/{name}/links/{entity}/{home_id}",
            remove_link,
            Operation(
                summary="Delink a home record",
                tag="links",
                admin=True,
                response=LINK,
                errors=(503,),
                path=(CONNECTION_NAME, Param("entity", "The entity type.", ENTITY), HOME_ID),
            ),
        ),
        api(
            "POST",
            "/connections/{name}/import",
            import_records,
            Operation(
                summary="Create remote-only records in the hub",
                tag="links",
                admin=True,
                path=(CONNECTION_NAME,),
                body=_body(entity=ENTITY, remote_ids={**IDS, "minItems": 1}),
                headers=(PREFER,),
                response=RUN_RESULT,
                answers=(RUN_STARTED,),
                errors=(409, 503),
                description="A remote record whose name matches a home record is linked rather than created."
                + ASYNC_NOTE,
            ),
        ),
        api(
            "POST",
            "/connections/{name}/export",
            export_records,
            Operation(
                summary="Create home-only records in the system",
                tag="links",
                admin=True,
                path=(CONNECTION_NAME,),
                body=_body(entity=ENTITY, record_ids={**IDS, "minItems": 1}),
                headers=(PREFER,),
                response=RUN_RESULT,
                answers=(RUN_STARTED,),
                errors=(409, 503),
                description="While it runs, GET /api/runs/{id} shows its counts, with total (the records chosen) "
                "beside seen." + ASYNC_NOTE,
            ),
        ),
        api(
            "POST",
            "/connections/{name}/records/{home_id}/pull",
            pull_record,
            Operation(
                summary="Overwrite a home record with the system's values",
                tag="links",
                path=RECORD_PATH,
                response=RECORD_RUN,
                errors=(409, 503),
                description=RECORD_LINKING,
            ),
        ),
        api(
            "POST",
            "/connections/{name}/records/{home_id}/newest",
            newest_record,
            Operation(
                summary="Sync a record, the side changed last winning",
                tag="links",
                path=RECORD_PATH,
                response=RECORD_RUN,
                errors=(409, 503),
                description=RECORD_LINKING,
            ),
        ),
        api(
            "GET",
            "/connections/{name}/report.csv",
            link_report,
            Operation(
                summary="Report linked pairs as CSV",
                tag="links",
                path=(CONNECTION_NAME,),
                query=(Param("entity", "The entity type to report.", ENTITY, required=True),),
                media_type="text/csv",
                response={"type": "string"},
                errors=(503,),
            ),
        ),
    ]

"""``hub records``: list, show, create, edit and delete the hub's own records, as ``/api/records`` does."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

from jsonschema import Draft202012Validator

from hub.cli_ops import count_at_least
from hub.errors import HubError
from hub.runtime import Hub
from hub.store import HomeRecord
from hub.tables import render


def add_record_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``hub records`` and its actions to the command line."""
    records = commands.add_parser("records", help="the hub's own records: list, show, create, edit, delete")
    actions = records.add_subparsers(title="actions", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="live records of one type, by name")
    listing.add_argument("entity")
    listing.add_argument("--search", default="", help="only records whose name contains this")
    listing.add_argument("--limit", type=count_at_least(1), default=100, help="at most this many (default 100)")
    listing.add_argument("--offset", type=count_at_least(0), default=0, help="skip this many first")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)

    show = actions.add_parser("show", help="one record: fields, Pending Sync, who wrote each field, links, queue")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_show)

    create = actions.add_parser("create", help="create a record; it is queued and pushed where it syncs")
    create.add_argument("entity")
    _field_flags(create)
    create.set_defaults(handler=_create)

    edit = actions.add_parser("edit", help="change fields of a record; the change is queued and pushed")
    edit.add_argument("id")
    _field_flags(edit)
    edit.set_defaults(handler=_edit)

    delete = actions.add_parser("delete", help="delete (archive) a record: delinked everywhere, no remote deleted")
    delete.add_argument("id")
    delete.add_argument("--actor", default=_user(), help="who deleted it (default $USER)")
    delete.set_defaults(handler=_delete)


def _user() -> str:
    return os.environ.get("USER", "cli")


def _field_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="text", action="append", default=[], metavar="FIELD=TEXT",
                        help="set a field to this text (repeatable); name is the display name")
    parser.add_argument("--set-json", dest="values", action="append", default=[], metavar="FIELD=JSON",
                        help='set a field to a JSON value: true, 12, null, {"city": "Leeds"} (repeatable)')
    parser.add_argument("--actor", default=_user(), help="who made the change (default $USER)")
    parser.add_argument("--json", action="store_true", help="the record as the API answers it")


def fields_of(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--set`` and ``--set-json`` values, checked as the API checks a body's ``fields``."""
    from hub.api_records import FIELDS

    fields: dict[str, Any] = {}
    for flag, pairs in (("--set", args.text), ("--set-json", args.values)):
        for pair in pairs:
            name, equals, value = pair.partition("=")
            if not equals:
                raise HubError(f"{flag} {pair!r}: write FIELD=VALUE")
            fields[name] = _json(value, flag, pair) if flag == "--set-json" else value
    if not fields:
        raise HubError("name the fields to set with --set FIELD=TEXT or --set-json FIELD=JSON")
    problem = next(iter(Draft202012Validator(FIELDS).iter_errors(fields)), None)
    if problem is not None:
        where = "/".join(map(str, problem.absolute_path))
        raise HubError(f"fields{'/' + where if where else ''}: {problem.message}")
    return fields


def _json(text: str, flag: str, pair: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise HubError(f"{flag} {pair!r}: not a JSON value (quote text, or use --set)") from None


def _run(args: argparse.Namespace, work: Callable[[Hub], Awaitable[int]]) -> int:
    from hub.cli import with_hub

    return with_hub(args, work)


def _list(args: argparse.Namespace) -> int:
    async def work(hub: Hub) -> int:
        from hub.api_records import check_type, record_json

        entity = check_type(hub, args.entity)
        records = await hub.store.list_records(entity, search=args.search, limit=args.limit, offset=args.offset)
        rows = [record_json(record) for record in records]
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            shown = [{**row, "pending": "pending sync" if row["pending"] else "",
                      "hidden": "hidden" if row["hidden"] else ""} for row in rows]
            print(render(shown, ["id", "name", "pending", "hidden", "modified_at"], empty=f"no {entity} records"))
        return 0

    return _run(args, work)


def _show(args: argparse.Namespace) -> int:
    async def work(hub: Hub) -> int:
        record = await hub.store.record(args.id)
        if record is None:
            raise HubError(f"no home record with id {args.id!r}")
        await _print_record(hub, record, args.json)
        return 0

    return _run(args, work)


def _create(args: argparse.Namespace) -> int:
    fields = fields_of(args)

    async def work(hub: Hub) -> int:
        from hub.api_records import check_type, queue_targets
        from hub.local import create_record, new_record_defaults

        entity = check_type(hub, args.entity)
        targets = await queue_targets(hub, entity)
        record = await create_record(hub.store, entity, fields, actor=args.actor, at=hub.clock(), connections=targets,
                                     defaults=new_record_defaults(hub, entity))
        await _push(hub, targets, record, args.actor)
        await _print_record(hub, record, args.json, verb="created")
        return 0

    return _run(args, work)


def _edit(args: argparse.Namespace) -> int:
    fields = fields_of(args)

    async def work(hub: Hub) -> int:
        from hub.api_records import queue_targets
        from hub.local import UnknownRecord, edit_record

        record = await hub.store.record(args.id)
        if record is None or record.deleted_at:
            raise UnknownRecord(f"no home record with id {args.id!r}")
        targets = await queue_targets(hub, record.entity, linked_to=record.id)
        record = await edit_record(hub.store, record.id, fields, actor=args.actor, at=hub.clock(), connections=targets)
        await _push(hub, targets, record, args.actor)
        await _print_record(hub, record, args.json, verb="changed")
        return 0

    return _run(args, work)


def _delete(args: argparse.Namespace) -> int:
    async def work(hub: Hub) -> int:
        from hub.api_records import deactivate_targets
        from hub.local import delete_record

        found = await hub.store.record(args.id)
        targets = deactivate_targets(hub, found.entity) if found is not None else []
        record, links = await delete_record(hub.store, args.id, actor=args.actor, at=hub.clock(),
                                            deactivate_on=targets)
        print(f"deleted {record.entity} {record.name!r} {record.id}")
        for link in links:
            if link.connection in targets:
                print(f"delinked on {link.connection} from remote {link.remote_id}: queued to be made inactive there")
            else:
                print(f"delinked on {link.connection} from remote {link.remote_id}: the remote record stays, unmatched")
        await _push(hub, sorted({link.connection for link in links if link.connection in targets}), record, args.actor)
        return 0

    return _run(args, work)


async def _push(hub: Hub, connections: list[str], record: HomeRecord, actor: str) -> None:
    """Flush each connection's queue for the record now, as ``hub serve`` does after an API change; what fails
    stays queued for the next sync."""
    from hub.workers import push_soon

    tasks: list[asyncio.Task[None]] = []
    for connection in connections:
        push_soon(hub, tasks, connection, record.entity, record.id, actor)
    await asyncio.gather(*list(tasks))


async def _print_record(hub: Hub, record: HomeRecord, as_json: bool, *, verb: str = "") -> None:
    """The record as ``GET /api/records/{id}`` answers it, or its fields, links and queue in lines."""
    from hub.api_records import record_detail

    detail = await record_detail(hub, (await hub.store.record(record.id)) or record)
    if as_json:
        print(json.dumps(detail, indent=2))
        return
    if detail["deleted_at"]:
        print(f"deleted at {detail['deleted_at']}")
    print(f"{verb + ' ' if verb else ''}{detail['entity']} {detail['name']!r} {detail['id']}"
          + (": pending sync" if detail["pending"] else ""))
    for name, value in detail["fields"].items():
        wrote = detail["provenance"].get(name) or {}
        by = wrote.get("actor") or (f"run {wrote['run']}" if wrote.get("run") else "")
        print(f"  {name}: {json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value}"
              + (f"  ({wrote.get('system')}, {by})" if wrote else ""))
    for link in detail["links"]:
        print(f"linked on {link['connection']} to remote {link['remote_id']} ({link['how']})")
    for entry in detail["queued"]:
        error = f"; last error: {entry['last_error']}" if entry["last_error"] else ""
        print(f"queued for {entry['connection']}: {entry['op']} {', '.join(entry['fields'])}{error}")

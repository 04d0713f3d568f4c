"""Commands about one connection: its import list and report, as the seed screens show them; disconnect, connect."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from hub.runtime import Hub
from hub.tables import render


def add_connection_commands(commands: argparse._SubParsersAction) -> None:
    """Add import-list, report, disconnect and connect to the command line."""
    import_list = commands.add_parser(
        "import-list",
        help="the system's records a person can import (seed 003's Contact Import)",
        description="The system's records of one type, read live, by name: those never brought in, unless "
        "--show-synced. Import the chosen ones with: hub sync CONNECTION --entity TYPE --import --remote ID ...",
    )
    import_list.add_argument("connection")
    import_list.add_argument("--entity", required=True, help="the entity type")
    import_list.add_argument("--show-synced", action="store_true", help="include records already brought in")
    import_list.add_argument("--show-hidden", action="store_true",
                             help="include records hidden in the system (inactive in QuickBooks)")
    import_list.add_argument("--json", action="store_true")
    import_list.set_defaults(handler=_import_list)

    report = commands.add_parser("report", help="a connection's linked pairs of one type as CSV")
    report.add_argument("connection")
    report.add_argument("--entity", required=True, help="the entity type")
    report.add_argument("-o", "--output", type=Path, help="write the CSV to this file (default: standard output)")
    report.set_defaults(handler=_report)

    disconnect = commands.add_parser("disconnect", help="stop every sync of a connection, keeping its records")
    disconnect.add_argument("connection")
    disconnect.add_argument("--delink-all", action="store_true", help="delink every record of the connection too")
    disconnect.add_argument("--actor", default=os.environ.get("USER", "cli"), help="who (default $USER)")
    disconnect.set_defaults(handler=_disconnect)

    connect = commands.add_parser("connect", help="connect a disconnected connection again")
    connect.add_argument("connection")
    connect.add_argument("--actor", default=os.environ.get("USER", "cli"), help="who (default $USER)")
    connect.set_defaults(handler=_connect)


def _run(args: argparse.Namespace, work: Callable[[Hub], Awaitable[int]]) -> int:
    from hub.cli import with_hub

    return with_hub(args, work)


def _import_list(args: argparse.Namespace) -> int:
    async def work(hub: Hub) -> int:
        from hub.api_links import import_list

        hub.connection(args.connection)
        rows = await import_list(hub, args.connection, args.entity, show_synced=args.show_synced,
                                 show_hidden=args.show_hidden)
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        shown = [{**row, "synced": "synced" if row["synced"] else "", "hidden": "hidden" if row["hidden"] else ""}
                 for row in rows]
        print(render(shown, ["remote_id", "name", "synced", "hidden", "home_id"],
                     empty=f"no {args.entity} records to import from {args.connection}"))
        if rows:
            print(f"import the chosen: hub sync {args.connection} --entity {args.entity} --import --remote ID ...")
        return 0

    return _run(args, work)


def _report(args: argparse.Namespace) -> int:
    async def work(hub: Hub) -> int:
        from hub.api_links import report_text
        from hub.api_runs import check_entities

        hub.connection(args.connection)
        (entity,) = check_entities(hub, args.connection, [args.entity], "--entity")
        text = await report_text(hub, args.connection, entity)
        if args.output is None:
            sys.stdout.write(text)
            return 0
        # The CSV's own line ends (\r\n) are kept, as the API sends them.
        with args.output.open("w", encoding="utf-8", newline="") as out:
            out.write(text)
        pairs = len(list(csv.reader(io.StringIO(text)))) - 1  # less the header
        print(f"wrote {pairs} linked {entity} pair{'s' * (pairs != 1)} of {args.connection} to {args.output}")
        return 0

    return _run(args, work)


def _disconnect(args: argparse.Namespace) -> int:
    async def work(hub: Hub) -> int:
        from hub.disconnect import disconnect

        hub.config.connection(args.connection)
        delinked = await disconnect(hub, args.connection, actor=args.actor, delink_all=args.delink_all)
        for link in delinked:
            print(f"delinked {link.entity} {link.home_id} from {link.remote_id}")
        kept = f"{len(delinked)} record(s) delinked" if args.delink_all else "its records and links are kept"
        print(f"disconnected {args.connection}: no sync runs until hub connect {args.connection}; {kept}")
        return 0

    return _run(args, work)


def _connect(args: argparse.Namespace) -> int:
    async def work(hub: Hub) -> int:
        from hub.disconnect import connect

        hub.config.connection(args.connection)
        waiting = await connect(hub, args.connection, actor=args.actor)
        print(f"connected {args.connection} again; {waiting} webhook event(s) waiting in the inbox go through now "
              "(hub serve's workers take them)")
        return 0

    return _run(args, work)

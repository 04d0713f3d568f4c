"""Operator commands: connection status, links and the unmatched lists, manual link and delink, the inbox."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from hub.engine import Scope
from hub.errors import HubError
from hub.linking import delink, link_by_hand
from hub.runs import AlreadyRunning
from hub.runtime import Hub
from hub.status import connection_status
from hub.tables import render


def add_operator_commands(commands: argparse._SubParsersAction) -> None:
    """Add status, links, link, delink and inbox to the command line."""
    status = commands.add_parser("status", help="each connection: idle, running or paused until")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_status)

    links = commands.add_parser("links", help="linked and unmatched records of a connection")
    links.add_argument("connection")
    links.add_argument("--entity")
    links.add_argument("--show", choices=["all", "linked", "matched", "unmatched", "review"], default="all",
                       help="which rows (matched is linked, the seeds' word)")
    links.add_argument("--show-hidden", action="store_true",
                       help="include hidden rows (inactive in QuickBooks), marked in a HIDDEN column")
    links.add_argument("--search", default="", help="only records whose name contains this")
    links.add_argument("--limit", type=count_at_least(1), help="show at most this many rows (default: all)")
    links.add_argument("--offset", type=count_at_least(0), default=0, help="skip this many rows first")
    links.add_argument("--json", action="store_true")
    links.set_defaults(handler=_links)

    link = commands.add_parser("link", help="link a home record to a remote record by hand")
    link.add_argument("connection")
    link.add_argument("entity")
    link.add_argument("home_id")
    link.add_argument("remote_id")
    link.add_argument("--actor", default="cli")
    link.add_argument("--no-sync", action="store_true", help="only link; the next sync applies the first-sync rules")
    link.set_defaults(handler=_link)

    unlink = commands.add_parser("delink", help="remove a link; both records stay")
    unlink.add_argument("connection")
    unlink.add_argument("entity")
    side = unlink.add_mutually_exclusive_group(required=True)
    side.add_argument("--home")
    side.add_argument("--remote")
    unlink.add_argument("--actor", default="cli")
    unlink.set_defaults(handler=_delink)

    inbox = commands.add_parser("inbox", help="webhook events received, and replay of dead ones")
    inbox.add_argument("action", nargs="?", choices=["replay"])
    inbox.add_argument("event_id", nargs="?", type=int)
    inbox.add_argument("--status", choices=["pending", "claimed", "done", "dead"])
    inbox.add_argument("--json", action="store_true")
    inbox.set_defaults(handler=_inbox)


def _run(args: argparse.Namespace, work: Any) -> int:
    from hub.cli import with_hub

    return with_hub(args, work)


def _status(args: argparse.Namespace) -> int:
    async def work(hub: Hub) -> int:
        rows = [await connection_status(hub, name) for name in sorted(hub.config.connections)]
        print(json.dumps(rows, indent=2) if args.json else render(rows, ["connection", "plugin", "state", "detail"]))
        return 0

    return _run(args, work)


def _links(args: argparse.Namespace) -> int:
    async def work(hub: Hub) -> int:
        from hub.api_links import SHOW_ALIASES
        from hub.views import link_page

        rows, total = await link_page(hub, args.connection, entity=args.entity,
                                      show=SHOW_ALIASES.get(args.show, args.show), search=args.search,
                                      show_hidden=args.show_hidden, limit=args.limit, offset=args.offset)
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            # Without --show-hidden no hidden row is listed, so the column would be blank.
            hidden = ["hidden"] if args.show_hidden else []
            shown = [{**row, "hidden": "hidden" if row["hidden"] else ""} for row in rows]
            print(render(shown, ["entity", "state", *hidden, "home_name", "home_id", "remote_name", "remote_id",
                                 "reason"]))
        if len(rows) < total:
            # On standard error under --json, so the rows stay one JSON document for a script.
            print(_shown(len(rows), total, args.offset), file=sys.stderr if args.json else sys.stdout)
        return 0

    return _run(args, work)


def _shown(count: int, total: int, offset: int) -> str:
    """The line under a page of the links listing: which rows it showed, of how many."""
    if not count:
        return f"showing none of {total} rows (--offset {offset} is past the end)"
    return f"showing {count} of {total} rows ({offset + 1} to {offset + count})"


def count_at_least(least: int) -> Callable[[str], int]:
    """An argparse type: a whole number no smaller than ``least``."""

    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            number = least - 1
        if number < least:
            raise argparse.ArgumentTypeError(f"not a whole number of at least {least}: {text!r}")
        return number

    return parse


def _link(args: argparse.Namespace) -> int:
    async def work(hub: Hub) -> int:
        from hub.api_links import check_remote
        from hub.disconnect import refuse_if_disconnected

        contract = hub.registry.contracts[hub.connection(args.connection).plugin].entity(args.entity)
        if not args.no_sync:  # --no-sync is for when the system cannot be reached: nothing is asked of it
            await refuse_if_disconnected(hub.store, args.connection)  # as the API: no link, nothing asked
            await check_remote(hub, args.connection, args.entity, args.remote_id)
        await link_by_hand(
            hub.store, args.connection, contract, args.home_id, args.remote_id, actor=args.actor, at=hub.clock()
        )
        print(f"linked {args.entity} {args.home_id} to {args.remote_id} on {args.connection}")
        if args.no_sync:
            print("the next sync of the pair applies the first-sync rules")
            return 0
        # As in the API: the pair syncs at once, so the first-sync rules fill in its fields now.
        scope = Scope(entities=(args.entity,), record_ids=(args.home_id,), remote_ids=(args.remote_id,))
        try:
            result = await hub.sync(args.connection, scope, trigger="manual", actor=args.actor)
        except (HubError, AlreadyRunning) as exc:
            print(f"the pair stays linked; its first sync did not run ({exc}): the next sync applies it")
            return 0
        print(f"first sync of the pair: {result.status}" + (f" ({result.summary})" if result.summary else ""))
        return 0 if result.status == "success" else 1

    return _run(args, work)


def _delink(args: argparse.Namespace) -> int:
    async def work(hub: Hub) -> int:
        link = await delink(
            hub.store,
            args.connection,
            args.entity,
            home_id=args.home,
            remote_id=args.remote,
            actor=args.actor,
            at=hub.clock(),
        )
        print(f"delinked {args.entity} {link.home_id} from {link.remote_id} on {args.connection}")
        return 0

    return _run(args, work)


def _inbox(args: argparse.Namespace) -> int:
    async def work(hub: Hub) -> int:
        from hub import inbox

        if args.action == "replay":
            if args.event_id is None:
                raise HubError("usage: hub inbox replay EVENT_ID")
            await inbox.replay(hub.store, args.event_id, at=hub.clock())
            print(f"event {args.event_id} queued again")
            return 0
        rows = await inbox.list_events(hub.store, status=args.status)
        print(
            json.dumps(rows, indent=2)
            if args.json
            else render(
                rows,
                ["id", "connection", "entity", "remote_id", "action", "status", "attempts", "last_error"],
                empty="the inbox is empty",
            )
        )
        return 0

    return _run(args, work)

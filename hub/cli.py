"""The ``hub`` command line: serve, sync, inspect runs, plugins and contracts, run the demo and simulators."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.config import DEFAULT_CONFIG, Config, example_config, load_config
from hub.contracts import check_files
from hub.engine import Scope
from hub.errors import ContractError, HubError
from hub.plugins import call_each
from hub.registry import build_registry, check_options
from hub.runs import AlreadyRunning
from hub.runtime import Hub, describe_plugins
from hub.tables import render

SKIPPED_SHOWN = 50
"""How many skipped records ``hub sync`` lists after its summary; ``hub runs show`` lists them all."""
STDOUT_CLOSED = 141
"""The exit status when the reader of our output closes it early: 128 + SIGPIPE, as shells report for ``yes``."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``hub`` command and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        status = int(args.handler(args) or 0)
        sys.stdout.flush()  # here, so a reader that went away is noticed below and not at exit
        return status
    except BrokenPipeError:
        return _stdout_closed()
    except ContractError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 1
    except (HubError, AlreadyRunning) as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _stdout_closed() -> int:
    """The reader of our output went away (``hub runs --json | head -1``): stop quietly, as ``yes | head`` does."""
    # Python flushes stdout again on exit; pointing it at /dev/null keeps that from printing a second error.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return STDOUT_CLOSED


def build_parser() -> argparse.ArgumentParser:
    """Every sub-command, including those plugins add through ``register_commands``."""
    parser = argparse.ArgumentParser(prog="hub", description="Keep the firm's own records in sync with its systems.")
    parser.add_argument(
        "--config",
        default=os.environ.get("HUB_CONFIG", DEFAULT_CONFIG),
        help=f"configuration file (default: $HUB_CONFIG or {DEFAULT_CONFIG})",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the web app: webhooks, API, timers")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(handler=_serve)

    sync = commands.add_parser("sync", help="sync one connection now")
    sync.add_argument("connection")
    sync.add_argument("--entity", action="append", default=[], help="entity type (repeatable)")
    sync.add_argument("--record", action="append", default=[], help="home record id (repeatable)")
    sync.add_argument("--remote", action="append", default=[], help="remote record id (repeatable)")
    sync.add_argument("--fields", default="", help="only these fields, comma-separated")
    sync.add_argument("--since", type=_date, help="only records modified since (YYYY-MM-DD or ISO time)")
    sync.add_argument(
        "--mode",
        choices=["contract", "pull", "newest"],
        default="contract",
        help="pull: the system's values overwrite the hub's; newest: the side changed last wins",
    )
    sync.add_argument("--import", dest="create_home", action="store_true", help="create missing records at home")
    sync.add_argument(
        "--export", dest="create_remote", action="store_true", help="create the --record records in the system"
    )
    sync.add_argument("--full", action="store_true", help="list everything, not only what changed")
    sync.add_argument("--allow-empty-home", action="store_true", help="allow a first sync into an empty hub")
    sync.add_argument("--dry-run", action="store_true", help="show the plan, write nothing")
    sync.add_argument("--actor", default=os.environ.get("USER", "cli"), help="who asked (recorded on the run)")
    sync.add_argument("--json", action="store_true")
    sync.set_defaults(handler=_sync)

    runs = commands.add_parser("runs", help="list runs, or show one")
    runs.add_argument("action", nargs="?", choices=["show"])
    runs.add_argument("run_id", nargs="?", type=int)
    runs.add_argument("--connection")
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(handler=_runs)

    plugins = commands.add_parser("plugins", help="list installed plugins")
    plugins.add_argument("--json", action="store_true")
    plugins.set_defaults(handler=_plugins)

    contracts = commands.add_parser("contracts", help="check contract files")
    contracts.add_argument("action", choices=["check"])
    contracts.add_argument("paths", nargs="*", type=Path)
    contracts.set_defaults(handler=_contracts)

    init = commands.add_parser("init", help=f"write the commented example configuration to {DEFAULT_CONFIG}")
    init.add_argument("--dir", type=Path, default=Path("."), help="the folder to write config/hub.toml under")
    init.add_argument("--force", action="store_true", help="overwrite an existing configuration file")
    init.set_defaults(handler=_init)

    demo = commands.add_parser("demo", help="run the hub with every simulator, seeded with sample data")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--once", action="store_true", help="seed, sync, print and exit instead of serving")
    demo.add_argument("--env", action="store_true",
                      help='print the exports that point other hub commands at the demo: eval "$(hub demo --env)"')
    demo.set_defaults(handler=_demo)

    simulate = commands.add_parser("simulate", help="run one plugin's simulator alone")
    simulate.add_argument("plugin")
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=8100)
    simulate.add_argument("--webhook-url", help="post the simulator's signed webhooks to this address by itself")
    simulate.add_argument("--webhook-every", type=_seconds, default=3.0, metavar="SECONDS",
                          help="seconds between deliveries to --webhook-url (default 3)")
    simulate.add_argument("--webhook-secret", help="sign deliveries with this secret instead of the simulator's")
    simulate.set_defaults(handler=_simulate)

    from hub.cli_connections import add_connection_commands
    from hub.cli_ops import add_operator_commands
    from hub.cli_records import add_record_commands

    add_operator_commands(commands)
    add_connection_commands(commands)
    add_record_commands(commands)
    registry_for_commands(commands)
    return parser


def registry_for_commands(commands: argparse._SubParsersAction) -> None:
    """Let plugins add sub-commands; a plugin that breaks is reported, not fatal."""
    try:
        registry = build_registry(os.environ)
    except HubError:
        return
    for _name, _result in call_each(registry.loaded, "register_commands", lambda _p: {"subparsers": commands}):
        pass


def with_hub(args: argparse.Namespace, work: Callable[[Hub], Awaitable[int]]) -> int:
    """Open the hub from the configuration, run ``work``, close it."""
    config = load_config(args.config, os.environ)

    async def run() -> int:
        hub = await Hub.open(config)
        try:
            return await work(hub)
        finally:
            await hub.close()

    return asyncio.run(run())


def _sync(args: argparse.Namespace) -> int:
    scope = Scope(
        entities=tuple(args.entity),
        record_ids=tuple(args.record),
        remote_ids=tuple(args.remote),
        fields=tuple(f.strip() for f in args.fields.split(",") if f.strip()),
        since=args.since,
        mode=args.mode,
        create_home=args.create_home,
        create_remote=args.create_remote,
        allow_empty_home=args.allow_empty_home,
        full=args.full,
    )

    async def work(hub: Hub) -> int:
        checked = await _checked_scope(hub, args.connection, scope)
        # A dry run writes nothing, so it does not link either.
        linked = None if args.dry_run else await _linked_first(hub, args.connection, checked, args.actor)
        bar = ProgressBar(sys.stderr) if (args.create_home or args.create_remote) and not args.json else None
        result = await hub.sync(args.connection, checked, trigger="manual", actor=args.actor, dry_run=args.dry_run,
                                on_progress=bar.update if bar else None)
        if bar:
            bar.close()
        if args.json:
            print(json.dumps({**result.__dict__, **({"linked": linked} if linked else {})}, indent=2, default=str))
        else:
            if linked:
                print(linked)
            print(f"run {result.run_id or '(dry run)'} of {result.connection}: {result.status}")
            print(result.summary)
            if args.dry_run:
                print(render(result.plan, ["entity", "action", "name", "reason"], empty="nothing to do"))
            elif result.run_id:
                for line in _problem_lines(result.run_id, await hub.store.run_items(result.run_id)):
                    print(line)
        ended = result.status == "success" or result.status.startswith("completed")
        # Skipped records are a person's to look at; failed ones are errors a script must notice, and so is an
        # export of which nothing chosen went (every record skipped).
        counts = result.counts
        nothing_sent = checked.create_remote and counts.get("skipped") and not any(
            counts.get(key) for key in ("created", "updated", "unchanged"))
        return 0 if ended and not counts.get("failed") and not nothing_sent else 1

    return with_hub(args, work)


def _problem_lines(run_id: int, items: list[dict[str, Any]]) -> list[str]:
    """One line per failed record, then per skipped one (at most SKIPPED_SHOWN): what, which, and why."""
    failed = [_problem_line(item) for item in items if item["action"] == "failed"]
    skipped = [_problem_line(item) for item in items if item["action"] == "skipped"]
    # A first sync may skip thousands of unmatched records: show the first few and say where the rest are.
    more = len(skipped) - SKIPPED_SHOWN
    tail = [f"... and {more} more skipped: hub runs show {run_id}"] if more > 0 else []
    return failed + skipped[:SKIPPED_SHOWN] + tail


def _problem_line(item: dict[str, Any]) -> str:
    remote = f" (remote id {item['remote_id']})" if item["remote_id"] else ""
    which = item["name"] or item["home_id"] or ""
    return f"{item['action']}: {item['entity']} {which}{remote}: {item['error'] or item['reason']}"


async def _checked_scope(hub: Hub, connection: str, scope: Scope) -> Scope:
    """The scope with the checks the API makes: known types and fields, existing records, an export's records."""
    from hub.api_runs import check_entities, check_fields, entities_of_records

    hub.connection(connection)
    entities = check_entities(hub, connection, list(scope.entities), "--entity")
    if scope.create_remote and not scope.record_ids:
        raise HubError("--export creates the home records named by --record in the system; name them "
                       f"(hub links {connection} --show unmatched lists them)")
    if scope.record_ids:
        found = await entities_of_records(hub, connection, scope.record_ids)
        entities = entities or found
    if scope.remote_ids and not entities:
        raise HubError("--remote: name the entity type the remote ids belong to with --entity")
    check_fields(hub, connection, entities, scope.fields)
    return replace(scope, entities=entities)


async def _linked_first(hub: Hub, connection: str, scope: Scope, actor: str) -> str | None:
    """Link one unlinked ``--record`` by exact name before a pull or newest sync of it, as the API's pull does."""
    from hub.api_links import link_by_name, linked_note

    if scope.mode == "contract" or len(scope.record_ids) != 1 or scope.remote_ids:
        return None
    if scope.create_home or scope.create_remote:
        return None
    record = await hub.store.record(scope.record_ids[0])
    if record is None or record.entity not in scope.entities:
        return None
    if await hub.store.links_by_home(connection, record.entity, [record.id]):
        return None
    link = await link_by_name(hub, connection, record, actor=actor)
    return linked_note(connection, record, link)


class ProgressBar:
    """A one-line progress bar for an import or export of a selection: done / total and the errors so far."""

    def __init__(self, stream: Any, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.drawn = False

    def update(self, run: Any) -> None:
        """Redraw the bar from a run's counts."""
        if not run.total:
            return
        done = min(run.counts["seen"], run.total)
        filled = self.width * done // run.total
        errors = run.counts["failed"]
        note = f", {errors} error{'s' * (errors != 1)}" if errors else ""
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done}/{run.total}{note}")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        """End the bar's line."""
        if self.drawn:
            self.stream.write("\n")


def _runs(args: argparse.Namespace) -> int:
    async def work(hub: Hub) -> int:
        if args.action == "show":
            if args.run_id is None:
                raise HubError("usage: hub runs show RUN_ID")
            run = await hub.store.run(args.run_id)
            if run is None:
                raise HubError(f"no run {args.run_id}")
            items = await hub.store.run_items(args.run_id)
            if args.json:
                print(json.dumps({**run, "items": items}, indent=2))
            else:
                print(f"run {run['id']} of {run['connection']} ({', '.join(run['entities'])}): {run['status']}")
                print(f"asked by {run['actor']} ({run['trigger']}), {run['started_at']} to {run['ended_at']}")
                print(run["summary"])
                print(render(items, ["action", "entity", "name", "remote_id", "error", "reason"], empty="no items",
                             details=_change_lines))
            return 0
        runs = await hub.store.runs(connection=args.connection)
        if args.json:
            print(json.dumps(runs, indent=2))
        else:
            print(
                render(
                    runs,
                    ["id", "connection", "entities", "trigger", "actor", "status", "started_at", "summary"],
                    empty="no runs yet",
                )
            )
        return 0

    return with_hub(args, work)


def _change_lines(item: dict[str, Any]) -> list[str]:
    """A run item's field changes, one ``field: before -> after`` line each, indented under its row."""
    return [
        f"    {change['field']}: {_value(change.get('before'))} -> {_value(change.get('after'))}"
        + (f" ({change['direction'].replace('_', ' ')})" if change.get("direction") else "")
        for change in item.get("changes") or []
    ]


def _value(value: Any) -> str:
    if value is None or value == "":
        return "(blank)"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _plugins(args: argparse.Namespace) -> int:
    rows = describe_plugins(build_registry(os.environ))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(render(rows, ["name", "version", "entities", "contract", "status"]))
    return 0


def _contracts(args: argparse.Namespace) -> int:
    if not args.paths:
        return _check_installed_contracts()
    paths = args.paths
    try:
        registry = build_registry(os.environ)
        known: dict[str, Any] = {"transforms": registry.transforms, "verifiers": registry.verifiers}
    except HubError:
        known = {}
    problems = check_files(paths, **known)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print(f"{len(paths)} contract{'s' * (len(paths) != 1)} valid: {', '.join(str(p) for p in paths)}")
    return 0


def _check_installed_contracts() -> int:
    """Check the contract of every installed plugin's system, built-in or not, each problem led by the plugin."""
    registry = build_registry(os.environ)
    problems = [p for _name, invalid in sorted(registry.invalid_contracts.items()) for p in invalid.problems]
    for failure in registry.failures:  # its contract cannot be reached, so it is not counted either way
        print(f"{failure.plugin}: not checked: failed in {failure.stage}: {failure.error}", file=sys.stderr)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    paths = [str(contract.path) for _name, contract in sorted(registry.contracts.items())]
    print(f"{len(paths)} contract{'s' * (len(paths) != 1)} valid: {', '.join(paths)}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from hub.app import serve

    config: Config = load_config(args.config, os.environ)
    check_options(build_registry(os.environ), config)
    return serve(config, host=args.host, port=args.port)


def _init(args: argparse.Namespace) -> int:
    """Write the commented example configuration (shipped inside the package) where the hub looks for it."""
    target = args.dir / DEFAULT_CONFIG
    if target.exists() and not args.force:
        raise HubError(f"{target} exists; edit it, or hub init --force to overwrite it with the example")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(example_config().read_text(encoding="utf-8"), encoding="utf-8")
    print(f"wrote {target}: edit its connections (secrets are named by environment variable), then hub plugins "
          "lists what is installed")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from hub.demo import demo_exports, run_demo

    if args.env:
        print(demo_exports())
        return 0
    return run_demo(port=args.port, once=args.once)


def _simulate(args: argparse.Namespace) -> int:
    from hub.app import listen_or_explain

    registry = build_registry(os.environ)
    app = registry.system(args.plugin).simulator()
    if app is None:
        raise HubError(f"plugin {args.plugin!r} ships no simulator")
    if args.webhook_url is not None:
        asyncio.run(_point_webhooks(app, args.plugin, args.webhook_url, args.webhook_secret))
    sock = listen_or_explain(args.host, args.port)
    if sock is None:
        return 3
    print(f"{args.plugin} simulator on http://{args.host}:{args.port}/ (control surface under /_sim/)", flush=True)
    every = args.webhook_every if args.webhook_url is not None else None
    with sock, contextlib.suppress(KeyboardInterrupt):  # uvicorn raises Ctrl-C again once it has stopped
        asyncio.run(_serve_simulator(app, sock, every))
    return 0


def _simulator_client(app: Any) -> Any:
    """A client that calls the simulator's control surface in process, as curl would over the network."""
    import httpx

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://simulator")


async def _point_webhooks(app: Any, plugin: str, url: str, secret: str | None) -> None:
    """Set the simulator's webhook target through its ``/_sim/webhooks/target`` route, or say why it cannot."""
    async with _simulator_client(app) as client:
        response = await client.post("/_sim/webhooks/target", json={"url": url, "secret": secret})
    if response.status_code == 404:
        raise HubError(f"plugin {plugin!r}'s simulator cannot send webhooks by itself (no /_sim/webhooks/target)")
    if response.status_code != 200:
        raise HubError(f"--webhook-url refused by the {plugin} simulator: {response.json().get('error')}")


async def _serve_simulator(app: Any, sock: Any, every: float | None) -> None:
    """Serve the simulator; with ``every``, have it deliver its webhooks that often while it serves."""
    import uvicorn

    delivering = asyncio.create_task(_deliver_webhooks(app, every)) if every is not None else None
    try:
        await uvicorn.Server(uvicorn.Config(app, log_level="warning")).serve(sockets=[sock])
    finally:
        if delivering is not None:
            delivering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await delivering


async def _deliver_webhooks(app: Any, every: float) -> None:
    """Every ``every`` seconds, flush what changed since the last delivery, as the vendor's own loop would."""
    async with _simulator_client(app) as client:
        while True:
            await asyncio.sleep(every)
            try:
                # "all": Karbon's simulator would otherwise hold each change for its 60-second coalescing window.
                response = await client.post("/_sim/webhooks/flush", json={"all": True})
                outcome = response.json()
            except Exception as exc:  # what failed stays pending in the simulator and goes on the next round
                print(f"webhook delivery failed: {exc}", file=sys.stderr, flush=True)
                continue
            if response.status_code != 200 or _delivery_happened(outcome):
                print(f"webhooks: {json.dumps(outcome)}", flush=True)


def _delivery_happened(outcome: dict[str, Any]) -> bool:
    """Whether a flush tried to deliver anything (its answer names what went, failed or errored)."""
    return any(outcome.get(name) for name in ("delivered", "failed", "error", "status"))


def _seconds(text: str) -> float:
    """A positive, finite number of seconds, as ``--webhook-every`` takes it."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return seconds


def _date(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD or an ISO time)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


if __name__ == "__main__":
    raise SystemExit(main())

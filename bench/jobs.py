"""One-shot jobs, each in a fresh process so its peak memory is its own: a hub sync, home edits, the floor.

``python -m bench.jobs sync --db PATH --sim URL [--import] [--count-writes]``
``python -m bench.jobs edit-home --db PATH --sim URL --remote-ids 1,2,3``
``python -m bench.jobs floor --db PATH --sim URL --rows-from HUB_DB``

Each prints one ``BENCH_RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from bench.procs import peak_rss_mb, print_result, rss_mb
from bench.rig import ACCESS_TOKEN, CONNECTION, REALM, hub_config, hub_env

WATCHED = ("records", "links", "unlinked_remote", "outbox")
"""The tables that hold data; run bookkeeping (runs, run_items, cursors) is counted apart."""

COPIED = ("records", "links", "run_items")
"""What a first sync writes per record, and so what the floor writes."""
FLOOR_PAGE = 1000
FLOOR_STATEMENT = (
    "SELECT * FROM Customer WHERE Active IN (true,false) ORDERBY Id STARTPOSITION {start} MAXRESULTS {size}"
)
"""The statement the QuickBooks plugin sends for a full listing, paged without its one-row overlap."""


def _reset_peak() -> None:
    # Linux: writing 5 to clear_refs resets VmHWM, so the peak read later is the sync's, not the imports'.
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


async def _open_hub(db: Path, sim_url: str, *, raise_limits: bool) -> Any:
    from hub.config import parse_config
    from hub.runtime import Hub

    env = hub_env()
    hub = await Hub.open(parse_config(hub_config(db, sim_url), env), env=env)
    if raise_limits:
        # QuickBooks' 500 calls a minute would make the pushes of 1,000 home edits wait a minute: that wait is the
        # vendor's, reported on its own, so the hub's own cost is measured with the limits out of the way.
        hub.registry.contracts["quickbooks"].limits.update({"per_minute": 100_000_000, "in_flight": 10_000})
    return hub


async def _count_writes(hub: Any) -> None:
    db = hub.store.db
    await db.execute("CREATE TEMP TABLE bench_writes (tbl TEXT PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0)")
    for table in WATCHED:
        await db.execute("INSERT INTO bench_writes (tbl) VALUES (?)", (table,))
        for event in ("INSERT", "UPDATE", "DELETE"):
            await db.execute(
                f"CREATE TEMP TRIGGER bench_{table}_{event.lower()} AFTER {event} ON main.{table} BEGIN "
                f"UPDATE bench_writes SET n = n + 1 WHERE tbl = '{table}'; END"
            )


async def _written(hub: Any) -> dict[str, int]:
    rows = await hub.store.fetchall("SELECT tbl, n FROM bench_writes")
    return {table: int(n) for table, n in rows}


async def sync_job(db: Path, sim_url: str, *, create_home: bool, count_writes: bool) -> dict[str, Any]:
    """One sync of the whole connection, timed; with its peak memory, its outcome and the rows it wrote."""
    from hub.engine import Scope

    hub = await _open_hub(db, sim_url, raise_limits=True)
    try:
        if count_writes:
            await _count_writes(hub)
        before_changes = hub.store.db.total_changes
        rss_before = rss_mb()
        _reset_peak()
        started, cpu = time.perf_counter(), time.process_time()
        result = await hub.sync(CONNECTION, Scope(create_home=create_home), trigger="manual", actor="bench")
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        peak = peak_rss_mb()
        total_changes = hub.store.db.total_changes - before_changes
        written = await _written(hub) if count_writes else None
        counts = {
            "records": (await hub.store.fetchone("SELECT count(*) FROM records"))[0],
            "links": (await hub.store.fetchone("SELECT count(*) FROM links"))[0],
        }
    finally:
        await hub.close()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "status": result.status,
        "summary": result.summary,
        "counts": result.counts,
        "rss_before_mb": rss_before,
        "rss_peak_mb": peak,
        "total_changes": total_changes,
        "data_rows_written": written,
        "store": counts,
    }


async def edit_home_job(db: Path, sim_url: str, remote_ids: list[str], note: str) -> dict[str, Any]:
    """A hub user's edit to the home customers linked to ``remote_ids``: their notes change and are queued."""
    from hub.local import edit_record
    from hub.store import now_utc

    hub = await _open_hub(db, sim_url, raise_limits=False)
    try:
        links = await hub.store.links_by_remote(CONNECTION, "customer", remote_ids)
        for remote_id, link in links.items():
            await edit_record(
                hub.store,
                link.home_id,
                {"notes": f"{note} {remote_id}"},
                actor="bench",
                at=now_utc(),
                connections=[CONNECTION],
            )
    finally:
        await hub.close()
    return {"edited": len(links)}


def _hub_rows(source: Path) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every row a hub's first sync wrote, table by table in the order it wrote them."""
    connection = sqlite3.connect(source)
    try:
        tables: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
        for table in ("runs", *COPIED):
            columns = [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]
            rows = connection.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid").fetchall()
            tables[table] = (columns, rows)
        return tables
    finally:
        connection.close()


async def floor_job(db: Path, sim_url: str, rows_from: Path) -> dict[str, Any]:
    """The floor: a plain httpx loop fetching the pages, plain sqlite3 ``executemany`` writing the same rows.

    The rows are those a hub's first sync of the same book wrote (records, links, run items), read from its
    store beforehand; each page fetched is followed by one transaction writing the next page's worth of each.
    """
    from hub.migrations import MIGRATIONS

    tables = _hub_rows(rows_from)
    connection = sqlite3.connect(db, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):  # as hub.store.Store.open sets them
        connection.execute(f"PRAGMA {pragma}")
    for script in MIGRATIONS:
        connection.executescript(script)
    runs_columns, runs = tables["runs"]
    connection.executemany(_insert("runs", runs_columns), runs)
    fetch = write = 0.0
    calls = rows_written = position = 0
    _reset_peak()
    started = time.perf_counter()
    url = f"{sim_url}/v3/company/{REALM}/query"
    headers = {
        "Authorization": f"Bearer {ACCESS_TOKEN}",
        "Accept": "application/json",
        "Content-Type": "application/text",
    }
    async with httpx.AsyncClient(timeout=120.0) as client:
        while True:
            moment = time.perf_counter()
            statement = FLOOR_STATEMENT.format(start=position + 1, size=FLOOR_PAGE)
            response = await client.post(
                url, params={"minorversion": "75"}, headers=headers, content=statement.encode()
            )
            page = response.json()["QueryResponse"].get("Customer", [])
            calls += 1
            fetch += time.perf_counter() - moment
            moment = time.perf_counter()
            connection.execute("BEGIN")
            for table in COPIED:
                columns, rows = tables[table]
                chunk = rows[position : position + len(page)]
                connection.executemany(_insert(table, columns), chunk)
                rows_written += len(chunk)
            connection.execute("COMMIT")
            write += time.perf_counter() - moment
            position += len(page)
            if len(page) < FLOOR_PAGE:
                break
    seconds = time.perf_counter() - started
    connection.close()
    return {
        "seconds": seconds,
        "fetch_seconds": fetch,
        "write_seconds": write,
        "calls": calls,
        "records": position,
        "rows_written": rows_written,
        "rss_peak_mb": peak_rss_mb(),
    }


def _insert(table: str, columns: list[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def main(argv: list[str] | None = None) -> None:
    """Run one job and print its result line."""
    parser = argparse.ArgumentParser(prog="python -m bench.jobs")
    parser.add_argument("job", choices=["sync", "edit-home", "floor"])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--sim", required=True)
    parser.add_argument("--import", dest="create_home", action="store_true")
    parser.add_argument("--count-writes", action="store_true")
    parser.add_argument("--remote-ids", default="")
    parser.add_argument("--note", default="edited at home")
    parser.add_argument("--rows-from", type=Path, help="floor: the store of a hub's first sync of the same book")
    args = parser.parse_args(argv)
    if args.job == "sync":
        result = asyncio.run(sync_job(args.db, args.sim, create_home=args.create_home, count_writes=args.count_writes))
    elif args.job == "edit-home":
        ids = [i for i in args.remote_ids.split(",") if i]
        result = asyncio.run(edit_home_job(args.db, args.sim, ids, args.note))
    else:
        result = asyncio.run(floor_job(args.db, args.sim, args.rows_from))
    print_result(result)


if __name__ == "__main__":
    main()

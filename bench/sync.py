"""Benchmarks 2-4: first sync against its floor, later syncs that must cost what changed, growth with the book.

For each book size N the simulator runs alone in its process, seeded with N customers. Every sync runs in a
fresh process (``bench.jobs``) so its peak memory is its own; API calls are read off the simulator's counters.
First syncs and floors alternate, so the machine's other work falls on both alike, and each ratio is taken
within one pair.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.procs import run_job, servers
from bench.rig import calls_between, edit_remote, seed_customers, sim_calls, start_simulator
from bench.stats import ratio, spread

PAGE = 1000
"""QuickBooks' largest page."""

VENDOR_PER_MINUTE = 500
"""QuickBooks Online's rate limit per company, the floor under any sync's wall time once calls are many."""

CHANGED_SHARE = 100
"""One record in this many is changed on each side before a later sync (1%)."""


@dataclass(frozen=True)
class SyncSettings:
    """Book sizes and runs per figure."""

    sizes: tuple[int, ...]
    runs: int


def min_calls(n: int) -> int:
    """The fewest query calls that list N records in pages of 1,000: a short (or empty) last page ends it."""
    return n // PAGE + 1


def run_syncs(settings: SyncSettings, work: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Every sync figure at every size, and the growth figures drawn from them."""
    first, no_change, later = [], [], []
    for n in settings.sizes:
        log(f"book of {n:,} customers")
        with servers() as started:
            sim = start_simulator(work, f"sync-simulator-{n}")
            started.append(sim)
            ids = seed_customers(sim.url, n)
            figures, store = _first_syncs(n, settings.runs, work, sim.url, log)
            first.append(figures)
            no_change.append(_no_change_syncs(n, settings.runs, store, sim.url, log))
            later.append(_later_syncs(n, settings.runs, store, sim.url, ids, log))
    return {"first_sync": first, "no_change_sync": no_change, "later_sync": later, "growth": growth(first)}


def _sync(store: Path, sim_url: str, *flags: str) -> tuple[dict[str, Any], dict[str, int]]:
    before = sim_calls(sim_url)
    result = run_job(["-m", "bench.jobs", "sync", "--db", str(store), "--sim", sim_url, *flags])
    return result, calls_between(before, sim_calls(sim_url))


def _first_syncs(
    n: int, runs: int, work: Path, sim_url: str, log: Callable[[str], None]
) -> tuple[dict[str, Any], Path]:
    syncs, floors, calls, floor_calls = [], [], [], []
    stores = [work / f"first-{n}-{number}.db" for number in range(runs)]
    for number, store in enumerate(stores):
        result, used = _sync(store, sim_url, "--import")
        if result["counts"]["created"] != n:
            raise RuntimeError(f"the first sync of {n} customers did not create them all: {result['summary']}")
        syncs.append(result)
        calls.append(used.get("total", 0))
        before = sim_calls(sim_url)
        floors.append(
            run_job(
                [
                    "-m",
                    "bench.jobs",
                    "floor",
                    "--db",
                    str(work / f"floor-{n}-{number}.db"),
                    "--sim",
                    sim_url,
                    "--rows-from",
                    str(stores[0]),
                ]
            )
        )
        floor_calls.append(calls_between(before, sim_calls(sim_url)).get("total", 0))
        (work / f"floor-{n}-{number}.db").unlink()
        log(
            f"  first sync {number + 1}: {result['seconds']:.2f} s ({n / result['seconds']:,.0f}/s), "
            f"floor {floors[-1]['seconds']:.2f} s, peak RSS {result['rss_peak_mb']} MiB"
        )
    for store in stores[1:-1]:  # keep the first (the floor's rows) until the end, and the last for later syncs
        store.unlink()
    figures = {
        "n": n,
        "seconds": spread(r["seconds"] for r in syncs),
        "cpu_seconds": spread(r["cpu_seconds"] for r in syncs),
        "records_per_s": spread((n / r["seconds"] for r in syncs), 1),
        "api_calls": spread(calls, 0),
        "min_api_calls": min_calls(n),
        "rss_before_mb": spread(r["rss_before_mb"] for r in syncs),
        "rss_peak_mb": spread(r["rss_peak_mb"] for r in syncs),
        "rows_written": spread((r["total_changes"] for r in syncs), 0),
        "floor": {
            "seconds": spread(f["seconds"] for f in floors),
            "fetch_seconds": spread(f["fetch_seconds"] for f in floors),
            "write_seconds": spread(f["write_seconds"] for f in floors),
            "records_per_s": spread((n / f["seconds"] for f in floors), 1),
            "api_calls": spread(floor_calls, 0),
            "rows_written": floors[0]["rows_written"],
        },
        "ratio_to_floor": spread(ratio(f["seconds"], s["seconds"]) for s, f in zip(syncs, floors, strict=True)),
    }
    if runs > 1:
        stores[0].unlink()
    return figures, stores[-1]


def _no_change_syncs(n: int, runs: int, store: Path, sim_url: str, log: Callable[[str], None]) -> dict[str, Any]:
    results = [_sync(store, sim_url, "--count-writes") for _ in range(runs)]
    log(
        f"  no-change sync: {results[-1][0]['seconds']:.2f} s, calls {results[-1][1]}, "
        f"rows {results[-1][0]['data_rows_written']}"
    )
    return {
        "n": n,
        "seconds": spread(r["seconds"] for r, _ in results),
        "api_calls": _calls(results),
        "data_rows_written": _rows(results),
        "bookkeeping_rows_written": spread((r["total_changes"] for r, _ in results), 0),
        "rss_peak_mb": spread(r["rss_peak_mb"] for r, _ in results),
    }


def _later_syncs(
    n: int, runs: int, store: Path, sim_url: str, ids: list[str], log: Callable[[str], None]
) -> dict[str, Any]:
    changed, echoes = [], []
    for number in range(runs):
        # Different customers each run, and never the same one on both sides.
        remote = ids[(2 * number) % CHANGED_SHARE :: CHANGED_SHARE]
        home = ids[(2 * number + 1) % CHANGED_SHARE :: CHANGED_SHARE]
        edit_remote(sim_url, remote, f"edited in QuickBooks, run {number}")
        edited = run_job(
            [
                "-m",
                "bench.jobs",
                "edit-home",
                "--db",
                str(store),
                "--sim",
                sim_url,
                "--remote-ids",
                ",".join(home),
                "--note",
                f"edited at home, run {number}",
            ]
        )
        if edited["edited"] != len(home):
            raise RuntimeError(f"only {edited['edited']} of {len(home)} home customers could be edited")
        changed.append((*_sync(store, sim_url, "--count-writes"), len(remote), len(home)))
        # The next sync reads back the changes the last one made (its own writes to QuickBooks): echoes, no writes.
        echoes.append(_sync(store, sim_url, "--count-writes"))
        result, calls, _r, _h = changed[-1]
        log(
            f"  later sync {number + 1}: {result['seconds']:.2f} s, calls {calls}, "
            f"rows {result['data_rows_written']}; echo sync calls {echoes[-1][1]}"
        )
    results = [(r, c) for r, c, _remote, _home in changed]
    calls = _calls(results)
    return {
        "n": n,
        "changed_remote": changed[0][2],
        "changed_home": changed[0][3],
        "seconds": spread(r["seconds"] for r, _ in results),
        "status": sorted({r["status"] for r, _ in results}),
        "api_calls": calls,
        "data_rows_written": _rows(results),
        "rss_peak_mb": spread(r["rss_peak_mb"] for r, _ in results),
        "vendor_limit_seconds": round(calls["total"]["median"] / VENDOR_PER_MINUTE * 60, 1),
        "echo_sync": {
            "seconds": spread(r["seconds"] for r, _ in echoes),
            "api_calls": _calls(echoes),
            "data_rows_written": _rows(echoes),
        },
    }


def _calls(results: list[tuple[dict[str, Any], dict[str, int]]]) -> dict[str, Any]:
    kinds = sorted({kind for _, calls in results for kind in calls} | {"total"})
    return {kind: spread((calls.get(kind, 0) for _, calls in results), 0) for kind in kinds}


def _rows(results: list[tuple[dict[str, Any], dict[str, int]]]) -> dict[str, Any]:
    tables = sorted({table for r, _ in results for table in (r["data_rows_written"] or {})})
    rows = {table: spread((r["data_rows_written"][table] for r, _ in results), 0) for table in tables}
    rows["total"] = spread((sum(r["data_rows_written"].values()) for r, _ in results), 0)
    return rows


def growth(first: list[dict[str, Any]]) -> dict[str, Any]:
    """How time and memory grow with the book: per-record time at each size, and peak memory at each."""
    points = [
        {
            "n": f["n"],
            "seconds": f["seconds"]["median"],
            "us_per_record": round(f["seconds"]["median"] / f["n"] * 1e6, 1),
            "rss_peak_mb": f["rss_peak_mb"]["median"],
        }
        for f in first
    ]
    if len(points) < 2:
        return {"points": points}
    small, large = points[0], points[-1]
    return {
        "points": points,
        "size_ratio": round(large["n"] / small["n"], 1),
        "time_ratio": ratio(large["seconds"], small["seconds"], 1),
        "per_record_time_ratio": ratio(large["us_per_record"], small["us_per_record"], 2),
        "rss_growth_mb": round(large["rss_peak_mb"] - small["rss_peak_mb"], 1),
    }

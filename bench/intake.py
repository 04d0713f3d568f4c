"""Benchmark 1, webhook intake: the hub under ``hub serve`` against a bare endpoint, then during a full sync.

The hub verifies each signed QuickBooks webhook, commits its event to the inbox and answers 200; its inbox
workers run as they do in production. The bare endpoint only answers 200. Between them, the durable minimum
(``bench.durable``) only commits each body through the hub's own group commit before answering: what a
durable answer costs on this machine whatever else the hub does. All three run under the same uvicorn
settings and take the same load from the same generator, in alternating runs so the machine's other work
falls on all alike. After each hub run the inbox workers must take up the whole backlog: how long that takes
is reported, and every event answered 200 must be in the inbox.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.load import LoadResult, run_load, start_load
from bench.procs import Server, free_port, run_job, servers, start_server
from bench.rig import ADMIN_TOKEN, CONNECTION, hub_config, hub_env, seed_customers, start_simulator, write_toml
from bench.stats import ratio, spread

VENDOR_TIMEOUT_MS = 3000.0
"""How long QuickBooks (and the other vendors) wait for a webhook's answer before counting it failed."""


@dataclass(frozen=True)
class IntakeSettings:
    """How long and how hard to load, how many runs, and the size of the book synced meanwhile."""

    seconds: float
    runs: int
    connections: int
    sync_records: int
    generator: str
    book: int = 100
    """Customers the hub holds (and the webhooks name) while intake is measured alone."""
    warmup: float = 1.0
    drain_limit: float = 10.0
    """How long to wait, after each run, for the inbox workers to take up its events (0: not at all)."""


def start_hub(work: Path, database: Path, sim_url: str, name: str) -> Server:
    """``hub serve`` with its own config file, on a free port."""
    port = free_port()
    config = write_toml(hub_config(database, sim_url, port=port), work / f"{name}.toml")
    argv = [sys.executable, "-m", "hub.cli", "--config", str(config), "serve"]
    return start_server(name, argv, url=f"http://127.0.0.1:{port}", ready_path="/healthz", log_dir=work, env=hub_env())


def start_bare(work: Path) -> Server:
    """The bare endpoint, on a free port."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.bare", "--port", str(port)]
    return start_server("bare", argv, url=f"http://127.0.0.1:{port}", ready_path="/healthz", log_dir=work)


def start_durable(work: Path) -> Server:
    """The durable-minimum endpoint, on a free port, with an empty store of its own."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.durable", "--port", str(port), "--db", str(work / "durable.db")]
    return start_server("durable", argv, url=f"http://127.0.0.1:{port}", ready_path="/healthz", log_dir=work)


def inbox_counts(database: Path) -> dict[str, int]:
    """Inbox events by status, read beside the running hub (WAL lets a reader in)."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        return dict(connection.execute("SELECT status, count(*) FROM inbox GROUP BY status").fetchall())
    finally:
        connection.close()


def wait_for_inbox(database: Path, *, limit: float) -> float:
    """Wait (at most ``limit`` seconds) until the hub's workers have taken up every pending event; seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < limit and inbox_counts(database).get("pending", 0):
        time.sleep(0.2)
    return time.monotonic() - started


def run_intake(settings: IntakeSettings, work: Path, log: Any = print) -> dict[str, Any]:
    """Hub against bare alone, then the hub while a first sync of ``sync_records`` customers runs."""
    load = {
        "seconds": settings.seconds,
        "connections": settings.connections,
        "generator": settings.generator,
        "book": settings.book,
    }
    with servers() as started:
        # The simulator shares the machine: a small book keeps what it spends answering the inbox workers'
        # queries (it scans every record for each) from being taken out of the hub's share.
        sim = start_simulator(work, "intake-simulator")
        started.append(sim)
        seed_customers(sim.url, settings.book)
        # A running hub already holds its book: the webhooks name customers it has linked.
        synced = work / "intake-synced.db"
        run_job(["-m", "bench.jobs", "sync", "--db", str(synced), "--sim", sim.url, "--import"])
        database = work / "intake-hub.db"
        shutil.copyfile(synced, database)
        bare = start_bare(work)
        started.append(bare)
        durable = start_durable(work)
        started.append(durable)
        hub = start_hub(work, database, sim.url, "intake-hub")
        started.append(hub)
        hook = "/webhooks/" + CONNECTION
        for server in (bare, durable, hub) if settings.warmup else ():  # first requests pay for imports and caches
            run_load(
                server.url + hook,
                seconds=settings.warmup,
                connections=settings.connections,
                ids=settings.book,
                prefix=f"warm-{server.name}",
                generator=settings.generator,
            )
        wait_for_inbox(database, limit=settings.drain_limit)
        before = sum(inbox_counts(database).values())
        bare_runs: list[LoadResult] = []
        durable_runs: list[LoadResult] = []
        hub_runs: list[LoadResult] = []
        backlog: list[float] = []
        drain: list[float] = []
        drained = True
        for number in range(settings.runs):
            for server, runs in ((bare, bare_runs), (durable, durable_runs)):
                runs.append(
                    run_load(
                        server.url + hook,
                        seconds=settings.seconds,
                        connections=settings.connections,
                        ids=settings.book,
                        prefix=f"{server.name}-{number}",
                        generator=settings.generator,
                    )
                )
            hub_runs.append(
                run_load(
                    hub.url + hook,
                    seconds=settings.seconds,
                    connections=settings.connections,
                    ids=settings.book,
                    prefix=f"hub-{number}",
                    generator=settings.generator,
                )
            )
            backlog.append(inbox_counts(database).get("pending", 0))
            if settings.drain_limit:  # let the workers catch up, so the next bare run has the machine to itself
                drain.append(wait_for_inbox(database, limit=settings.drain_limit))
                drained = drained and not inbox_counts(database).get("pending", 0)
            log(
                f"  intake run {number + 1}: bare {bare_runs[-1].rps:.0f}/s, durable minimum "
                f"{durable_runs[-1].rps:.0f}/s, hub {hub_runs[-1].rps:.0f}/s (p99 {hub_runs[-1].p99_ms:.1f} ms), "
                f"backlog {backlog[-1]:.0f} taken up in {drain[-1] if drain else 0:.1f} s"
            )
        committed = sum(inbox_counts(database).values()) - before
        hub_rss = hub.peak_rss_mb()
        hub.stop()
        durable.stop()
        bare.stop()
    with servers() as started:
        sim = start_simulator(work, "intake-sync-simulator")
        started.append(sim)
        seed_customers(sim.url, settings.sync_records)
        during = [_during_sync(settings, work, sim.url, number, log) for number in range(settings.runs)]
    answered = sum(run.requests - run.non_2xx for run in hub_runs)
    return {
        "load": load,
        "bare": _figures(bare_runs),
        "durable": _figures(durable_runs),
        "hub": {
            **_figures(hub_runs),
            "rss_peak_mb": hub_rss,
            "inbox_backlog_after_run": spread(backlog, 0),
            "backlog_seconds_to_take_up": spread(drain) if drain else None,
            "backlog_taken_up": drained if drain else None,
            "events_committed": committed,
            "events_answered_200": answered,
        },
        "ratio_hub_to_bare": spread(ratio(h.rps, b.rps) for h, b in zip(hub_runs, bare_runs, strict=True)),
        "ratio_durable_to_bare": spread(ratio(d.rps, b.rps) for d, b in zip(durable_runs, bare_runs, strict=True)),
        "ratio_hub_to_durable": spread(ratio(h.rps, d.rps) for h, d in zip(hub_runs, durable_runs, strict=True)),
        "hub_during_sync": {
            **_figures([run for run, _ in during]),
            "sync_records": settings.sync_records,
            "sync_seconds": spread(seconds for _, seconds in during),
            "p99_below_vendor_timeout": all(run.p99_ms < VENDOR_TIMEOUT_MS for run, _ in during),
        },
    }


def _during_sync(settings: IntakeSettings, work: Path, sim_url: str, number: int, log: Any) -> tuple[LoadResult, float]:
    """One run: a fresh hub, a first sync of the whole book through the API, and the load on until it ends.

    The sync starts first: once webhooks flow, the inbox workers' targeted syncs of a few customers hold the
    type most of the time, and the API refuses a whole sync (409) while one runs.
    """
    database = work / f"intake-during-{number}.db"
    with servers() as started:
        hub = start_hub(work, database, sim_url, f"intake-during-{number}")
        started.append(hub)
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        outcome: dict[str, Any] = {}

        def sync() -> None:
            started_at = time.perf_counter()
            response = httpx.post(
                hub.url + f"/api/connections/{CONNECTION}/sync", json={"create_home": True}, headers=auth, timeout=600.0
            )
            outcome.update(seconds=time.perf_counter() - started_at, status=response.status_code, body=response.text)

        worker = threading.Thread(target=sync)
        worker.start()
        deadline = time.monotonic() + 30
        while not _running(hub.url, auth) and worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        load = start_load(
            hub.url + "/webhooks/" + CONNECTION,
            seconds=600,
            connections=settings.connections,
            ids=settings.sync_records,
            prefix=f"during-{number}",
            generator=settings.generator,
        )
        worker.join(timeout=650)
        load.stop()
        result = load.result(timeout=60)
    if outcome.get("status") != 200:
        raise RuntimeError(f"the sync during intake failed: {outcome}")
    log(
        f"  intake during sync {number + 1}: hub {result.rps:.0f}/s, p99 {result.p99_ms:.1f} ms, "
        f"sync {outcome['seconds']:.1f} s"
    )
    return result, outcome["seconds"]


def _running(url: str, auth: dict[str, str]) -> bool:
    """Whether the hub's latest run (GET /api/runs answers newest first) is still running."""
    response = httpx.get(url + "/api/runs", params={"limit": 1}, headers=auth, timeout=10.0)
    return response.status_code == 200 and any(run["status"] == "running" for run in response.json())


def _figures(runs: list[LoadResult]) -> dict[str, Any]:
    return {
        "rps": spread((run.rps for run in runs), 1),
        "p50_ms": spread(run.p50_ms for run in runs),
        "p99_ms": spread(run.p99_ms for run in runs),
        "requests": sum(run.requests for run in runs),
        "errors": sum(run.errors for run in runs),
        "non_2xx": sum(run.non_2xx for run in runs),
    }

"""``bench/run``: run every benchmark on loopback, print the table, write ``bench/results.json``.

Modes: full (what the README quotes), ``--quick`` (small sizes, under two minutes), ``--smoke`` (the
smallest that still exercises every path: the test suite's smoke test).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.intake import IntakeSettings, run_intake
from bench.load import generator_name
from bench.report import SCHEMA, table, targets, write_results
from bench.sync import SyncSettings, run_syncs

MODES: dict[str, dict[str, Any]] = {
    "full": {
        "sizes": (1_000, 10_000, 100_000),
        "runs": 3,
        "seconds": 10.0,
        "sync_records": 10_000,
        "warmup": 1.0,
        "drain_limit": 120.0,
    },
    "quick": {
        "sizes": (1_000, 5_000),
        "runs": 3,
        "seconds": 2.0,
        "sync_records": 2_000,
        "warmup": 1.0,
        "drain_limit": 30.0,
    },
    "smoke": {"sizes": (100,), "runs": 1, "seconds": 1.0, "sync_records": 100, "warmup": 0.0, "drain_limit": 0.0},
}
CONNECTIONS = 32
DEFAULT_OUT = Path(__file__).with_name("results.json")


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small sizes, under two minutes")
    mode.add_argument("--smoke", action="store_true", help="the smallest run that checks every path")
    parser.add_argument("--only", choices=["intake", "sync"], help="run one group of benchmarks")
    parser.add_argument(
        "--load",
        choices=["auto", "wrk", "httpx"],
        default="auto",
        help="load generator for intake (auto: wrk where installed)",
    )
    parser.add_argument("--runs", type=int, help="runs per figure (default by mode)")
    parser.add_argument("--sizes", help="book sizes for the sync benchmarks, comma-separated")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where results.json goes")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (stores, server logs)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks of the chosen mode and report."""
    args = build_parser().parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    settings = dict(MODES[mode])
    if args.runs:
        settings["runs"] = args.runs
    if args.sizes:
        settings["sizes"] = tuple(int(size) for size in args.sizes.split(","))
    generator = generator_name(args.load)
    work = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    started = time.perf_counter()
    results: dict[str, Any] = {
        "schema": SCHEMA,
        "mode": mode,
        "started_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "settings": {**settings, "sizes": list(settings["sizes"]), "connections": CONNECTIONS},
    }
    try:
        if args.only in (None, "intake"):
            _say(f"webhook intake ({generator})")
            intake = IntakeSettings(
                seconds=settings["seconds"],
                runs=settings["runs"],
                connections=CONNECTIONS,
                sync_records=settings["sync_records"],
                generator=generator,
                warmup=settings["warmup"],
                drain_limit=settings["drain_limit"],
            )
            results["intake"] = run_intake(intake, work, _say)
        if args.only in (None, "sync"):
            results.update(run_syncs(SyncSettings(settings["sizes"], settings["runs"]), work, _say))
    finally:
        if args.keep:
            _say(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["targets"] = targets(results)
    write_results(results, args.out)
    print()
    print(table(results))
    print(f"\n{mode} run took {results['seconds']:.0f} s; results in {args.out}")
    return 0


def machine() -> dict[str, Any]:
    """What the figures were measured on: they compare only within one run on one machine."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": _load_average(),
    }


def _load_average() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)

"""The results: the targets each figure is held to, ``bench/results.json``, and the table printed at the end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.stats import median

SCHEMA = 1
"""The version of results.json's shape (the smoke test checks it)."""

INTAKE_TARGET = 0.8
FIRST_SYNC_TARGET = 0.5
PER_RECORD_GROWTH_LIMIT = 1.5
"""Linear: a record may cost at most this much more at the largest size than at the smallest."""
RSS_GROWTH_LIMIT_MB = 64.0
"""Flat: peak memory may grow at most this much across the sizes (the book itself would take far more)."""


def targets(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target the issue sets, with the figure measured against it and whether it was met."""
    found: dict[str, dict[str, Any]] = {}
    intake = results.get("intake")
    if intake:
        value = median(intake["ratio_hub_to_bare"])
        found["intake_vs_bare"] = _target(value, f">= {INTAKE_TARGET}", value is not None and value >= INTAKE_TARGET)
        p99 = median(intake["hub_during_sync"]["p99_ms"])
        found["p99_during_sync_ms"] = _target(
            p99, "< 3000 (the vendors' limit)", intake["hub_during_sync"]["p99_below_vendor_timeout"]
        )
    first = results.get("first_sync") or []
    if first:
        largest = first[-1]
        value = median(largest["ratio_to_floor"])
        found[f"first_sync_{largest['n']}_vs_floor"] = _target(
            value, f">= {FIRST_SYNC_TARGET}", value is not None and value >= FIRST_SYNC_TARGET
        )
        calls = median(largest["api_calls"])
        found[f"first_sync_{largest['n']}_api_calls"] = _target(
            calls,
            f"close to the minimum {largest['min_api_calls']}",
            calls is not None and calls <= largest["min_api_calls"] * 1.05 + 1,
        )
    for quiet in (results.get("no_change_sync") or [])[-1:]:
        calls, rows = median(quiet["api_calls"]["total"]), median(quiet["data_rows_written"]["total"])
        found[f"no_change_sync_{quiet['n']}"] = _target(
            {"api_calls": calls, "data_rows_written": rows},
            "1 change-feed call, 0 rows",
            calls == 1 and median(quiet["api_calls"].get("cdc", {})) == 1 and rows == 0,
        )
    later = results.get("later_sync") or []
    if len(later) > 1:
        small, large = later[0], later[-1]
        size = large["n"] / small["n"]
        calls = _growth(large["api_calls"]["total"], small["api_calls"]["total"])
        rows = _growth(large["data_rows_written"]["total"], small["data_rows_written"]["total"])
        found["later_sync_scales_with_changes"] = _target(
            {"size_ratio": size, "calls_ratio": calls, "rows_ratio": rows},
            "calls and rows grow with the 1% changed (as N), not more",
            calls is not None and rows is not None and calls <= size * 1.2 and rows <= size * 1.2,
        )
    growth = results.get("growth") or {}
    if "per_record_time_ratio" in growth:
        found["time_grows_linearly"] = _target(
            growth["per_record_time_ratio"],
            f"<= {PER_RECORD_GROWTH_LIMIT}",
            growth["per_record_time_ratio"] <= PER_RECORD_GROWTH_LIMIT,
        )
        found["memory_stays_flat"] = _target(
            growth["rss_growth_mb"], f"<= {RSS_GROWTH_LIMIT_MB} MiB", growth["rss_growth_mb"] <= RSS_GROWTH_LIMIT_MB
        )
    return found


def _target(value: Any, wanted: str, met: bool) -> dict[str, Any]:
    return {"value": value, "target": wanted, "met": bool(met)}


def _growth(large: dict[str, Any], small: dict[str, Any]) -> float | None:
    top, bottom = median(large), median(small)
    return round(top / bottom, 2) if top is not None and bottom else None


def write_results(results: dict[str, Any], path: Path) -> None:
    """Write results.json (the figures, the targets, the machine and the settings)."""
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def _cell(figure: dict[str, Any] | None, digits: int = 1, unit: str = "") -> str:
    if not figure or figure.get("median") is None:
        return "-"
    fmt = f"{{:,.{digits}f}}"
    low, mid, high = (fmt.format(figure[key]) for key in ("min", "median", "max"))
    return f"{mid}{unit} ({low}-{high})" if len(figure["runs"]) > 1 else f"{mid}{unit}"


def table(results: dict[str, Any]) -> str:
    """The results as text: median (min-max) of each figure, then the targets."""
    lines: list[str] = []
    intake = results.get("intake")
    if intake:
        load = intake["load"]
        lines.append(
            f"Webhook intake ({load['generator']}, {load['connections']} connections, {load['seconds']:g} s a run)"
        )
        lines.append(f"  {'':<36}{'req/s':<26}{'p50 ms':<22}{'p99 ms':<22}")
        rows = (
            ("bare Starlette endpoint", intake["bare"]),
            ("durable minimum (commit only)", intake["durable"]),
            ("hub", intake["hub"]),
            (f"hub during a {intake['hub_during_sync']['sync_records']:,}-record sync", intake["hub_during_sync"]),
        )
        for name, figures in rows:
            lines.append(
                f"  {name:<36}{_cell(figures['rps'], 0):<26}{_cell(figures['p50_ms']):<22}"
                f"{_cell(figures['p99_ms']):<22}"
            )
        hub = intake["hub"]
        lines.append(
            f"  hub / bare: {_cell(intake['ratio_hub_to_bare'], 2)}; durable minimum / bare: "
            f"{_cell(intake['ratio_durable_to_bare'], 2)}; hub / durable minimum: "
            f"{_cell(intake['ratio_hub_to_durable'], 2)}"
        )
        taken_up = {True: "", False: " (NOT all of it)", None: " (not waited for)"}[hub["backlog_taken_up"]]
        lines.append(
            f"  events committed {hub['events_committed']:,} for {hub['events_answered_200']:,} answered 200; "
            f"backlog after a run {_cell(hub['inbox_backlog_after_run'], 0)}, taken up in "
            f"{_cell(hub['backlog_seconds_to_take_up'])} s{taken_up}; "
            f"sync under load {_cell(intake['hub_during_sync']['sync_seconds'])} s"
        )
        lines.append("")
    first = results.get("first_sync") or []
    if first:
        lines.append("First sync into an empty store")
        lines.append(
            f"  {'N':>9}  {'seconds':<22}{'records/s':<26}{'calls (min)':<13}{'peak RSS MiB':<20}"
            f"{'floor s':<20}{'floor/hub':<20}"
        )
        for f in first:
            calls = f"{median(f['api_calls']):.0f} ({f['min_api_calls']})"
            lines.append(
                f"  {f['n']:>9,}  {_cell(f['seconds'], 2):<22}{_cell(f['records_per_s'], 0):<26}"
                f"{calls:<13}{_cell(f['rss_peak_mb']):<20}{_cell(f['floor']['seconds'], 2):<20}"
                f"{_cell(f['ratio_to_floor'], 2):<20}"
            )
        lines.append("")
    for title, key in (
        ("Sync with no changes", "no_change_sync"),
        ("Later sync, 1% changed on each side", "later_sync"),
    ):
        rows = results.get(key) or []
        if not rows:
            continue
        lines.append(title)
        lines.append(f"  {'N':>9}  {'seconds':<22}{'API calls by kind':<44}{'data rows written':<30}")
        for r in rows:
            calls = ", ".join(f"{kind} {median(v):.0f}" for kind, v in r["api_calls"].items() if kind != "total")
            written = (
                ", ".join(
                    f"{t} {median(v):.0f}" for t, v in r["data_rows_written"].items() if t != "total" and median(v)
                )
                or "none"
            )
            lines.append(f"  {r['n']:>9,}  {_cell(r['seconds'], 2):<22}{calls or 'none':<44}{written:<30}")
            if key == "later_sync":
                echo = r["echo_sync"]
                echo_calls = ", ".join(
                    f"{kind} {median(v):.0f}" for kind, v in echo["api_calls"].items() if kind != "total"
                )
                lines.append(
                    f"  {'':>9}  echo sync after it: {_cell(echo['seconds'], 2)} s, {echo_calls}, "
                    f"{median(echo['data_rows_written']['total']):.0f} data rows; at QuickBooks' "
                    f"500 calls/min the calls alone take >= {r['vendor_limit_seconds']} s"
                )
        lines.append("")
    growth = results.get("growth") or {}
    if growth.get("points"):
        lines.append("Growth (first sync)")
        for point in growth["points"]:
            lines.append(
                f"  {point['n']:>9,}  {point['us_per_record']:>8,.1f} us/record  peak RSS {point['rss_peak_mb']} MiB"
            )
        if "per_record_time_ratio" in growth:
            lines.append(
                f"  {growth['size_ratio']:g}x the records: {growth['time_ratio']}x the time, "
                f"{growth['per_record_time_ratio']}x the time per record, "
                f"{growth['rss_growth_mb']:+} MiB peak RSS"
            )
        lines.append("")
    lines.append("Targets")
    for name, target in results.get("targets", {}).items():
        lines.append(
            f"  [{'met' if target['met'] else 'MISSED':<6}] {name}: {target['value']} (target {target['target']})"
        )
    return "\n".join(lines)

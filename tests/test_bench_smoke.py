"""``bench/run --smoke`` runs every benchmark at the smallest size and writes results.json in the documented shape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def spread_ok(figure: dict[str, Any]) -> bool:
    return figure["min"] <= figure["median"] <= figure["max"] and len(figure["runs"]) >= 1


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    done = subprocess.run(
        [str(ROOT / "bench" / "run"), "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "BENCH_PYTHON": sys.executable},
    )
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
    assert "Targets" in done.stdout
    return json.loads(out.read_text())


@pytest.mark.slow
def test_smoke_run_writes_results_in_the_documented_shape(results: dict[str, Any]) -> None:
    assert results["schema"] == 1 and results["mode"] == "smoke"
    intake = results["intake"]
    for side in ("bare", "durable", "hub", "hub_during_sync"):
        assert intake[side]["rps"]["median"] > 0 and spread_ok(intake[side]["rps"])
        assert spread_ok(intake[side]["p99_ms"])
    assert intake["load"]["generator"] in ("wrk", "httpx")
    assert spread_ok(intake["ratio_hub_to_bare"]) and spread_ok(intake["ratio_durable_to_bare"])
    [first] = results["first_sync"]
    assert spread_ok(first["seconds"]) and spread_ok(first["floor"]["seconds"]) and spread_ok(first["rss_peak_mb"])
    assert set(results["targets"]) >= {"intake_vs_bare", "p99_during_sync_ms", "no_change_sync_100"}
    assert all(isinstance(target["met"], bool) for target in results["targets"].values())


@pytest.mark.slow
def test_every_webhook_the_hub_acknowledged_was_committed_to_its_inbox(results: dict[str, Any]) -> None:
    hub = results["intake"]["hub"]
    assert hub["non_2xx"] == 0 and hub["events_answered_200"] > 0
    assert hub["events_committed"] >= hub["events_answered_200"]


@pytest.mark.slow
def test_first_sync_lists_the_book_in_the_fewest_pages_and_a_quiet_sync_writes_nothing(
    results: dict[str, Any],
) -> None:
    [first] = results["first_sync"]
    assert first["api_calls"]["median"] == first["min_api_calls"] == 1
    [quiet] = results["no_change_sync"]
    assert quiet["api_calls"]["cdc"]["median"] == quiet["api_calls"]["total"]["median"] == 1
    assert quiet["data_rows_written"]["total"]["median"] == 0


@pytest.mark.slow
def test_a_later_sync_writes_only_what_changed(results: dict[str, Any]) -> None:
    [later] = results["later_sync"]
    assert later["changed_remote"] == later["changed_home"] == 1
    # One remote change pulled (record + link) and one home change pushed (one write call, its link, its queue).
    assert later["api_calls"]["write"]["median"] == 1
    assert later["data_rows_written"]["records"]["median"] == 2
    assert later["echo_sync"]["data_rows_written"]["total"]["median"] == 0

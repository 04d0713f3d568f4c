"""`hub demo` seeds the simulators and the home store, runs the first syncs and says where to look."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from hub.demo import SIM_PORTS, demo_exports, run_demo
from hub.errors import HubError


def _free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.slow
def test_the_demo_starts_every_simulator_syncs_and_prints_where_to_look(tmp_path, capsys):
    if not all(_free(port) for port in SIM_PORTS.values()):
        pytest.skip("the demo's simulator ports are taken on this machine")
    assert run_demo(port=18080, once=True, folder=tmp_path / "demo") == 0
    out = capsys.readouterr().out
    assert "first sync of karbon: completed" in out
    assert "first sync of quickbooks: completed" in out
    assert "http://127.0.0.1:18080/api" in out
    assert (tmp_path / "demo" / "hub.db").exists()


@pytest.mark.slow
def test_the_serving_demo_takes_a_simulators_signed_webhook_and_syncs_the_change(tmp_path):
    """A change made in the QuickBooks simulator reaches the hub as a signed webhook and syncs, unattended."""
    ports = (18081, *SIM_PORTS.values())
    if not all(_free(port) for port in ports):
        pytest.skip("the demo's ports are taken on this machine")
    demo = subprocess.Popen(
        [sys.executable, "-c", f"from hub.demo import run_demo; run_demo(port=18081, folder=__import__('pathlib')"
                               f".Path({str(tmp_path / 'demo')!r}))"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        _wait_for(lambda: httpx.get("http://127.0.0.1:18081/healthz").status_code == 200, demo)
        token = {"Authorization": "Bearer demo-admin-token"}
        runs = "http://127.0.0.1:18081/api/runs?connection=quickbooks"
        edit = httpx.post(f"http://127.0.0.1:{SIM_PORTS['quickbooks']}/_sim/edit/Customer/1",
                          json={"CompanyName": "Harbour Bakery Ltd"})
        assert edit.status_code == 200, edit.text
        def webhook_runs() -> list[dict[str, object]]:
            response = httpx.get(runs, headers=token)
            assert response.status_code == 200, response.text
            return [run for run in response.json() if run["trigger"] == "webhook"]

        _wait_for(lambda: bool(webhook_runs()), demo)
        (webhook_run, *_) = webhook_runs()
        assert webhook_run["status"] == "success"
        lines = demo_exports(tmp_path / "demo").splitlines()
        exports = dict(line.removeprefix("export ").split("=", 1) for line in lines)
        listed = subprocess.run([str(Path(sys.executable).parent / "hub"), "runs", "--json"], capture_output=True,
                                text=True, cwd=Path.home(), timeout=60, env={**os.environ, **exports})
        assert any(run["trigger"] == "webhook" for run in json.loads(listed.stdout)), listed.stderr
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=15)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
        if demo.stdout:
            demo.stdout.close()


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], seconds: float = 40.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the demo stopped: {process.stdout.read() if process.stdout else ''}")
        with contextlib.suppress(httpx.HTTPError):
            if condition():
                return
        time.sleep(0.25)
    raise AssertionError("timed out waiting for the demo")


def test_the_demo_names_a_taken_port_instead_of_crashing(tmp_path):
    port = SIM_PORTS["quickbooks"]
    if not _free(port):
        pytest.skip("the port is taken on this machine already")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(HubError, match=f"port {port}, which the demo's quickbooks simulator uses, is taken"):
            run_demo(port=18083, once=True, folder=tmp_path / "demo")
    assert not (tmp_path / "demo").exists()

"""`hub demo` seeds the simulators and the home store, runs the first syncs and says where to look."""

from __future__ import annotations

import socket

import pytest

from hub.demo import SIM_PORTS, run_demo


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

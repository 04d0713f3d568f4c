"""What ``hub sync``, ``hub runs`` and ``hub plugins`` print: every failure, every reason in full, every change."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import hub.cli
from hub.registry import build_registry
from tests import test_cli_commands as rig
from tests.memory_hub import BoundMemoryPlugin, memory_contract
from tests.memory_system import Clock, MemoryRemote

HUB = Path(sys.executable).parent / "hub"
LONG_REASON = "memory: a contact named Bea already exists in the address book of the practice; merge them there"

config = rig.config
remote = rig.remote


def test_export_lists_each_record_the_system_refused_with_its_reason(capsys, config: Path, remote: MemoryRemote):
    ids = rig.home_contacts(config, "Ada", "Bea")
    rig.hub_cli(capsys, "sync", "mem", "--allow-empty-home")
    remote.fail_writes["Bea"] = LONG_REASON

    status, out, _ = rig.hub_cli(capsys, "sync", "mem", "--export", *(arg for i in ids for arg in ("--record", i)))

    assert status == 1
    assert out.splitlines()[2:] == [f"failed: contact Bea: {LONG_REASON}"]


def test_sync_lists_skipped_records_with_their_remote_id_and_reason(capsys, config: Path, remote: MemoryRemote):
    remote.add("contact", {"Name": "Cy"})

    status, out, _ = rig.hub_cli(capsys, "sync", "mem", "--allow-empty-home")

    assert status == 0
    (line,) = out.splitlines()[2:]
    assert line.startswith("skipped: contact Cy (remote id R1): ")


def test_runs_show_prints_each_change_under_its_row(capsys, config: Path, remote: MemoryRemote):
    rig.home_contacts(config, "Ada")
    ada = remote.add("contact", {"Name": "Ada", "Email": "ada@old.example"})
    rig.hub_cli(capsys, "sync", "mem")
    remote.clock.tick()
    remote.edit("contact", ada, {"Email": "ada@new.example"})
    rig.hub_cli(capsys, "sync", "mem")

    status, out, _ = rig.hub_cli(capsys, "runs", "show", "2")

    assert status == 0
    lines = out.splitlines()
    row = next(i for i, line in enumerate(lines) if re.match(r"updated\s+contact\s+Ada\s", line))
    assert lines[row + 1] == "    email: ada@old.example -> ada@new.example (to home)"


def test_runs_show_does_not_cut_a_long_reason(capsys, config: Path, remote: MemoryRemote):
    (bea,) = rig.home_contacts(config, "Bea")
    rig.hub_cli(capsys, "sync", "mem", "--allow-empty-home")
    remote.fail_writes["Bea"] = LONG_REASON
    rig.hub_cli(capsys, "sync", "mem", "--export", "--record", bea)

    _, out, _ = rig.hub_cli(capsys, "runs", "show", "2")

    assert LONG_REASON in out


def test_runs_lists_each_summary_in_full_with_its_failed_count(capsys, config: Path, remote: MemoryRemote):
    (bea,) = rig.home_contacts(config, "Bea")
    rig.hub_cli(capsys, "sync", "mem", "--allow-empty-home")
    remote.fail_writes["Bea"] = LONG_REASON
    rig.hub_cli(capsys, "sync", "mem", "--export", "--record", bea)

    _, out, _ = rig.hub_cli(capsys, "runs")

    assert re.search(
        r"^2\s.*completed with 1 error\s+\S+\s+Some errors were encountered during the sync: "
        r"1 seen, 0 created, .*, 0 skipped, 1 failed$",
        out,
        re.M,
    )


def test_plugins_prints_a_long_contract_path_in_full(capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "site-packages" / "hub_memory_plugin" / "contracts" / "a-long-folder-name"
    folder.mkdir(parents=True)
    plugin = BoundMemoryPlugin(memory_contract(folder), MemoryRemote(Clock()))
    monkeypatch.setattr(hub.cli, "build_registry", lambda env, extra=(): build_registry(env, [*extra, plugin]))

    _, out, _ = rig.hub_cli(capsys, "plugins")

    (row,) = [line for line in out.splitlines() if line.startswith("memory ")]
    assert str(folder / "memory.json") in row


def test_runs_json_into_a_closed_pipe_exits_141_without_a_traceback(tmp_path: Path):
    config_file = tmp_path / "hub.toml"
    config_file.write_text(f'[hub]\ndatabase = "{tmp_path / "hub.db"}"\n')
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `| head -1` does once it has its line: every write now finds no reader

    with os.fdopen(write_end, "wb") as closed:
        done = subprocess.run([str(HUB), "--config", str(config_file), "runs", "--json"], stdout=closed,
                              stderr=subprocess.PIPE, text=True, timeout=60, check=False)

    assert (done.returncode, done.stderr) == (141, "")


@pytest.mark.parametrize("command", [["plugins", "--json"], ["plugins"]])
def test_plugins_into_a_closed_pipe_exits_141_without_a_traceback(command: list[str]):
    read_end, write_end = os.pipe()
    os.close(read_end)

    with os.fdopen(write_end, "wb") as closed:
        done = subprocess.run([str(HUB), *command], stdout=closed, stderr=subprocess.PIPE, text=True, timeout=60,
                              check=False)

    assert (done.returncode, done.stderr) == (141, "")

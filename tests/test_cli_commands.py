"""``hub sync``'s selection flags, ``hub simulate`` and ``hub demo --env``, as an operator runs them."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import tomllib
from datetime import datetime
from pathlib import Path

import httpx
import pytest

import hub.runtime
from hub.demo import DEMO_TOML
from tests.memory_hub import WEBHOOK_SECRET, install_memory_plugin, memory_contract
from tests.memory_system import Clock, MemoryRemote, contact_entity, field_rule
from tests.test_cli import CONFIG, hub_cli, with_hub

HUB = Path(sys.executable).parent / "hub"
FULL_BAR = "[" + "#" * 30 + "]"
# Remote-only contacts wait for a person (--import); email and phone come home on the first sync if blank at home.
CONTACTS = contact_entity(
    [
        field_rule("email", "Email", ("fill_blank", "never"), ("overwrite", "never")),
        field_rule("phone", "Phone", ("fill_blank", "never"), ("overwrite", "never")),
    ],
    create={"to_home": "on_request", "to_remote": "auto"},
)


@pytest.fixture
def remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MemoryRemote:
    """The memory system with contacts created at home only on request, installed beside the hub's own plugins."""
    remote = MemoryRemote(Clock())
    install_memory_plugin(monkeypatch, memory_contract(tmp_path, {"contact": CONTACTS}), remote)
    return remote


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A configuration with one connection, ``mem``, found through $HUB_CONFIG."""
    path = tmp_path / "hub.toml"
    path.write_text(CONFIG)
    monkeypatch.setenv("MEM_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("HUB_CONFIG", str(path))
    return path


def home_contacts(config: Path, *names: str) -> list[str]:
    """Add home contacts as if loaded before the hub was connected; their ids."""

    async def work(opened: hub.runtime.Hub) -> list[str]:
        async with opened.store.transaction() as tx:
            return [(await opened.store.insert_record(tx, "contact", {"name": n}, at=opened.clock())).id for n in names]

    return with_hub(config, work)


def home_fields(config: Path, home_id: str) -> dict[str, object]:
    """A home record's fields as the store holds them now."""

    async def work(opened: hub.runtime.Hub) -> dict[str, object]:
        record = await opened.store.record(home_id)
        assert record is not None
        return record.fields

    return with_hub(config, work)


def link_states(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """Each record's name (home or remote) and its state, as ``hub links mem --json`` lists them."""
    rows = json.loads(hub_cli(capsys, "links", "mem", "--json")[1])
    return {row["home_name"] or row["remote_name"]: row["state"] for row in rows}


# --- --export and --import: the chosen records created on the other side, with a progress bar --------------------


def test_export_creates_only_the_chosen_home_records_in_the_system_with_a_progress_bar(capsys, config, remote):
    ada, _bea = home_contacts(config, "Ada", "Bea")
    hub_cli(capsys, "sync", "mem", "--allow-empty-home")  # both existed before the first sync: they wait for a person
    assert remote.records.get("contact", {}) == {}

    status, out, err = hub_cli(capsys, "sync", "mem", "--entity", "contact", "--record", ada, "--export")

    assert status == 0
    assert err == f"\r{FULL_BAR} 1/1\n"
    assert out.splitlines() == ["run 2 of mem: success",
                                "1 seen, 1 created, 0 updated, 0 unchanged, 0 skipped, 0 failed"]
    assert [row["Name"] for row in remote.records["contact"].values()] == ["Ada"]
    assert link_states(capsys) == {"Ada": "linked (created)", "Bea": "unmatched home"}


def test_the_export_progress_bar_counts_the_records_the_system_refused(capsys, config, remote):
    ids = home_contacts(config, "Ada", "Bea")
    hub_cli(capsys, "sync", "mem", "--allow-empty-home")
    remote.fail_writes["Bea"] = "memory: a contact named Bea exists"

    _, out, err = hub_cli(capsys, "sync", "mem", "--export", *(arg for i in ids for arg in ("--record", i)))

    first, last = err.split("\r")[1:]
    assert first.startswith("[" + "#" * 15 + "." * 15 + "] 1/2")  # ", 1 error" too when Bea went first
    assert last == f"{FULL_BAR} 2/2, 1 error\n"
    assert out.splitlines()[0] == "run 2 of mem: completed with 1 error"


def test_json_output_draws_no_progress_bar(capsys, config, remote):
    (ada,) = home_contacts(config, "Ada")
    status, out, err = hub_cli(capsys, "sync", "mem", "--record", ada, "--export", "--json", "--allow-empty-home")
    assert (status, err) == (0, "")
    assert json.loads(out)["counts"]["created"] == 1


def test_import_creates_only_the_chosen_remote_records_at_home_with_a_progress_bar(capsys, config, remote):
    bea = remote.add("contact", {"Name": "Bea", "Email": "bea@remote.example"})
    remote.add("contact", {"Name": "Cy"})
    status, _, _ = hub_cli(capsys, "sync", "mem", "--allow-empty-home")
    assert status == 0 and link_states(capsys) == {"Bea": "unmatched remote", "Cy": "unmatched remote"}

    status, out, err = hub_cli(capsys, "sync", "mem", "--entity", "contact", "--remote", bea, "--import")

    assert status == 0 and err == f"\r{FULL_BAR} 1/1\n"
    assert out.splitlines()[1] == "1 seen, 1 created, 0 updated, 0 unchanged, 0 skipped, 0 failed"
    assert link_states(capsys) == {"Bea": "linked (created)", "Cy": "unmatched remote"}


# --- --fields, --since, --record: a narrower sync ----------------------------------------------------------------


def test_fields_brings_only_the_named_fields(capsys, config, remote):
    (ada,) = home_contacts(config, "Ada")
    remote.add("contact", {"Name": "Ada", "Email": "ada@remote.example", "Phone": "555-0101"})

    status, out, _ = hub_cli(capsys, "sync", "mem", "--fields", " email, ")

    assert status == 0 and out.splitlines()[0] == "run 1 of mem: success"
    assert home_fields(config, ada) == {"name": "Ada", "email": "ada@remote.example"}


def test_since_syncs_only_records_modified_since_that_date(capsys, config, remote):
    home_contacts(config, "Old Co", "New Co")
    remote.add("contact", {"Name": "Old Co"}, modified=datetime.fromisoformat("2025-11-30T12:00:00+00:00"))
    remote.add("contact", {"Name": "New Co"})  # the remote's clock: 2026-01-05

    status, out, _ = hub_cli(capsys, "sync", "mem", "--since", "2026-01-01")

    assert status == 0 and out.splitlines()[1].startswith("1 seen, ")
    assert link_states(capsys) == {"New Co": "linked (matched)", "Old Co": "unmatched home"}
    hub_cli(capsys, "sync", "mem")  # a sync from a date does not move the watermark: the next one lists everything
    assert set(link_states(capsys).values()) == {"linked (matched)"}


def test_since_refuses_what_is_not_a_date(capsys, config, remote):
    with pytest.raises(SystemExit) as exit_:
        hub_cli(capsys, "sync", "mem", "--since", "yesterday")
    assert exit_.value.code == 2
    assert "argument --since: not a date: 'yesterday' (use YYYY-MM-DD or an ISO time)" in capsys.readouterr().err


def test_record_syncs_only_that_home_records_pair(capsys, config, remote):
    ada, bea = home_contacts(config, "Ada", "Bea")
    ada_remote = remote.add("contact", {"Name": "Ada", "Email": "ada@old.example"})
    bea_remote = remote.add("contact", {"Name": "Bea", "Email": "bea@old.example"})
    hub_cli(capsys, "sync", "mem")
    remote.clock.tick()
    remote.edit("contact", ada_remote, {"Email": "ada@new.example"})
    remote.edit("contact", bea_remote, {"Email": "bea@new.example"})

    status, out, _ = hub_cli(capsys, "sync", "mem", "--record", ada)

    assert status == 0
    assert out.splitlines()[1] == "1 seen, 0 created, 1 updated, 0 unchanged, 0 skipped, 0 failed"
    assert home_fields(config, ada)["email"] == "ada@new.example"
    assert home_fields(config, bea)["email"] == "bea@old.example"


# --- hub simulate --------------------------------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen[str], seconds: float = 30.0) -> None:
    """Wait until ``url`` answers, failing at once if the process stops."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the simulator stopped: {process.communicate()}")
        try:
            httpx.get(url)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"nothing answered at {url}")


@pytest.mark.slow
def test_simulate_serves_the_karbon_api_with_its_auth_and_the_control_surface_until_interrupted():
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    simulator = subprocess.Popen([str(HUB), "simulate", "intuit_pm", "--port", str(port)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_http(f"{base}/_sim/calls", simulator)
        seeded = httpx.post(f"{base}/_sim/seed", json={"Contacts": [{"FirstName": "Ada", "LastName": "Baker"}]})
        assert seeded.status_code == 200, seeded.text

        listed = httpx.get(f"{base}/v3/Contacts", headers={"Authorization": "Bearer sim-app-id",
                                                             "AccessKey": "sim-access-key"})
        assert listed.status_code == 200
        assert [c["FullName"] for c in listed.json()["value"]] == ["Ada Baker"]
        refused = httpx.get(f"{base}/v3/Contacts", headers={"Authorization": "Bearer sim-app-id"})
        assert (refused.status_code, refused.json()["error"]["message"]) == (401, "JWT not present.")
    finally:
        simulator.send_signal(signal.SIGINT)
        out, _ = simulator.communicate(timeout=20)
    assert simulator.returncode == 0
    assert out.splitlines()[0] == f"intuit_pm simulator on {base}/ (control surface under /_sim/)"


def test_simulate_names_the_plugins_that_are_installed_and_those_without_a_simulator(capsys):
    status, _, err = hub_cli(capsys, "simulate", "sage")
    assert status == 1 and err.startswith("hub: no plugin registers a system named 'sage' (installed: ")
    status, _, err = hub_cli(capsys, "simulate", "xpm")
    assert (status, err) == (1, "hub: plugin 'xpm' ships no simulator\n")


# --- hub demo --env ------------------------------------------------------------------------------------------------


def test_demo_env_exports_the_demo_configuration_and_every_secret_it_names(capsys, tmp_path, monkeypatch):
    folder = tmp_path / "my demo"  # a space: the exports must survive the shell's eval
    folder.mkdir()
    monkeypatch.chdir(folder)

    status, out, _ = hub_cli(capsys, "demo", "--env")

    assert status == 0
    script = f'eval "$1"; {" ; ".join(f"echo ${name}" for name in ("HUB_CONFIG", "KARBON_APP_ID"))}'
    shown = subprocess.run(["sh", "-c", script, "sh", out], capture_output=True, text=True, check=True).stdout
    assert shown.splitlines() == [str(folder / "var" / "demo" / "hub.toml"), "sim-app-id"]
    exported = {line.removeprefix("export ").split("=", 1)[0] for line in out.splitlines()}
    assert demo_secret_names() <= exported


def demo_secret_names() -> set[str]:
    """Every environment variable config/demo.toml names: user tokens and connection secrets."""
    demo = tomllib.loads(DEMO_TOML.read_text())
    names = {user["token_env"] for user in demo["users"].values()}
    return names | {env for connection in demo["connections"].values() for env in connection["secrets"].values()}


"""The ``hub`` command line as an operator uses it: plugins, contracts, sync, runs, status, links and the inbox."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from hub import inbox
from hub.cli import main
from hub.config import load_config
from hub.runtime import Hub
from hub.store import now_utc
from hub.types import WebhookEvent
from tests.memory_hub import WEBHOOK_SECRET, install_memory_plugin, memory_contract
from tests.memory_system import Clock, MemoryRemote

T = TypeVar("T")
BUILT_INS = {"quickbooks", "intuit_pm", "xpm", "enterprise"}

CONFIG = """
[hub]
database = "hub.db"

[connections.mem]
plugin = "memory"

[connections.mem.secrets]
webhook = "MEM_WEBHOOK_SECRET"
"""


@pytest.fixture
def remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MemoryRemote:
    """The memory system, installed for this test as a pip-installed plugin would be (beside the hub's own)."""
    remote = MemoryRemote(Clock())
    install_memory_plugin(monkeypatch, memory_contract(tmp_path), remote)
    return remote


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(CONFIG)
    monkeypatch.setenv("MEM_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("HUB_CONFIG", str(path))
    return path


def hub_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run one ``hub`` command; return its exit status, standard output and standard error."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def with_hub(config: Path, work: Callable[[Hub], Awaitable[T]]) -> T:
    """Open the hub the command line opens, to arrange or inspect its store around a command."""

    async def run() -> T:
        opened = await Hub.open(load_config(config, os.environ))
        try:
            return await work(opened)
        finally:
            await opened.close()

    return asyncio.run(run())


# --- plugins and contracts ---------------------------------------------------------------------------------------


def test_plugins_lists_the_built_in_systems_with_version_entities_and_contract(capsys):
    status, out, _ = hub_cli(capsys, "plugins")
    assert status == 0
    header, *lines = out.splitlines()
    assert header.split() == ["NAME", "VERSION", "ENTITIES", "CONTRACT", "STATUS"]
    assert {line.split()[0] for line in lines} >= BUILT_INS


def test_plugins_json_describes_each_plugin(capsys):
    status, out, _ = hub_cli(capsys, "plugins", "--json")
    assert status == 0
    rows = {row["name"]: row for row in json.loads(out)}
    assert set(rows) >= BUILT_INS
    for name in BUILT_INS:
        assert rows[name]["version"] and rows[name]["entities"]
        assert Path(rows[name]["contract"]).name == f"{name}.json"


def test_contracts_check_passes_the_shipped_contracts(capsys):
    status, out, err = hub_cli(capsys, "contracts", "check")
    assert (status, err) == (0, "")
    assert out.startswith("4 contracts valid")


def test_contracts_check_accepts_a_valid_file(capsys, tmp_path: Path):
    path = memory_contract(tmp_path)
    status, out, _ = hub_cli(capsys, "contracts", "check", str(path))
    assert status == 0 and out.strip() == f"1 contract valid: {path}"


def test_contracts_check_lists_every_problem_as_file_pointer_message(capsys, tmp_path: Path):
    path = memory_contract(tmp_path)
    document = json.loads(path.read_text())
    document["entities"]["contact"]["fields"][0]["later_sync"]["to_home"] = "sometimes"
    document["webhook"]["verifier"] = "carrier-pigeon"
    document["colour"] = "blue"
    path.write_text(json.dumps(document))

    status, out, err = hub_cli(capsys, "contracts", "check", str(path))

    assert status == 1 and out == ""
    lines = err.splitlines()
    assert all(re.fullmatch(rf"{re.escape(str(path))}: /\S*: .+", line) for line in lines), lines
    pointers = {line.split(": ")[1] for line in lines}
    assert {"/", "/entities/contact/fields/0/later_sync/to_home", "/webhook/verifier"} <= pointers
    assert "carrier-pigeon" in err and "colour" in err


# --- sync, runs, status, links ------------------------------------------------------------------------------------


def test_sync_of_an_unknown_connection_names_the_configured_ones(capsys, config, remote):
    status, out, err = hub_cli(capsys, "sync", "nope")
    assert status == 1 and out == ""
    assert err.strip() == "hub: no connection named 'nope' in the configuration (configured: mem)"


def test_sync_without_a_secrets_environment_variable_names_the_key_and_the_variable(capsys, config, monkeypatch):
    monkeypatch.delenv("MEM_WEBHOOK_SECRET")
    status, _, err = hub_cli(capsys, "sync", "mem")
    assert status == 1
    assert "connections.mem.secrets.webhook: environment variable MEM_WEBHOOK_SECRET is not set" in err


def test_sync_of_a_connection_to_a_plugin_that_is_not_installed_says_what_is(capsys, config):
    config.write_text(CONFIG.replace('plugin = "memory"', 'plugin = "sage"'))
    status, _, err = hub_cli(capsys, "sync", "mem")
    assert status == 1 and "connections.mem.plugin: no plugin named 'sage' (installed: " in err


def test_sync_runs_and_the_run_shows_every_decision(capsys, config, remote):
    remote.add("contact", {"Name": "Ada", "Email": "ada@example"})

    status, out, _ = hub_cli(capsys, "sync", "mem", "--actor", "amy")

    assert status == 0
    assert out.splitlines() == [
        "run 1 of mem: success",
        "1 seen, 1 created, 0 updated, 0 unchanged, 0 skipped, 0 failed",
    ]
    status, out, _ = hub_cli(capsys, "runs")
    assert status == 0 and re.search(r"^1\s+mem\s+contact\s+manual\s+amy\s+success\s", out, re.MULTILINE)
    status, out, _ = hub_cli(capsys, "runs", "show", "1")
    assert status == 0 and "created" in out and "Ada" in out and "asked by amy (manual)" in out
    status, out, _ = hub_cli(capsys, "runs", "show", "1", "--json")
    shown = json.loads(out)
    assert shown["status"] == "success" and [item["name"] for item in shown["items"]] == ["Ada"]
    status, _, err = hub_cli(capsys, "runs", "show", "99")
    assert status == 1 and err.strip() == "hub: no run 99"


def test_a_sync_asked_for_on_the_command_line_is_in_the_activity_log(capsys, config, remote):
    hub_cli(capsys, "sync", "mem", "--actor", "amy")
    activity = with_hub(config, lambda opened: opened.store.activity(connection="mem"))
    assert [(a["actor"], a["kind"]) for a in activity] == [("amy", "sync requested")]


def test_a_dry_run_prints_the_plan_and_stores_nothing(capsys, config, remote):
    remote.add("contact", {"Name": "Ada"})
    status, out, _ = hub_cli(capsys, "sync", "mem", "--dry-run")
    assert status == 0 and out.startswith("run (dry run) of mem: success")
    assert re.search(r"contact\s+created\s+Ada", out)
    assert hub_cli(capsys, "runs")[1].strip() == "no runs yet"


def test_status_shows_a_paused_connection_with_its_time_and_reason(capsys, config, remote):
    until = now_utc().replace(microsecond=0) + timedelta(hours=1)
    with_hub(config, lambda opened: opened.engine("mem").pause(until, "HTTP 429, Retry-After: 3600"))

    status, out, _ = hub_cli(capsys, "status")

    assert status == 0
    assert re.search(rf"^mem\s+memory\s+paused until {re.escape(until.isoformat())}\s+HTTP 429", out, re.MULTILINE)
    (row,) = json.loads(hub_cli(capsys, "status", "--json")[1])
    assert row["state"] == f"paused until {until.isoformat()}" and row["paused_until"] == until.isoformat()


def test_status_of_an_idle_connection_tells_its_last_run(capsys, config, remote):
    hub_cli(capsys, "sync", "mem")
    (row,) = json.loads(hub_cli(capsys, "status", "--json")[1])
    assert row["state"] == "idle" and row["detail"].startswith("last run success at ")


def test_links_shows_linked_and_unmatched_records(capsys, config, remote):
    remote.add("contact", {"Name": "Ada"})
    hub_cli(capsys, "sync", "mem")
    status, out, _ = hub_cli(capsys, "links", "mem")
    assert status == 0 and re.search(r"contact\s+linked \(created\)\s+Ada\s+\w+\s+Ada\s+R1", out)
    rows = json.loads(hub_cli(capsys, "links", "mem", "--json")[1])
    assert [(r["home_name"], r["remote_id"]) for r in rows] == [("Ada", "R1")]


def home_contact(config: Path, name: str) -> str:
    """Add a home contact as if loaded before the hub was connected; its id."""

    async def work(opened: Hub) -> str:
        async with opened.store.transaction() as tx:
            return (await opened.store.insert_record(tx, "contact", {"name": name}, at=now_utc())).id

    return with_hub(config, work)


def test_link_syncs_the_pair_at_once_and_delink_unties_it(capsys, config, remote):
    home_id = home_contact(config, "Ada Lovelace")
    remote_id = remote.add("contact", {"Name": "A. Lovelace", "Email": "ada@remote.example"})

    status, out, _ = hub_cli(capsys, "link", "mem", "contact", home_id, remote_id)

    assert status == 0 and "first sync of the pair: success" in out
    home = json.loads(hub_cli(capsys, "links", "mem", "--json")[1])[0]
    assert (home["state"], home["home_id"], home["remote_id"]) == ("linked (manual)", home_id, remote_id)
    record = with_hub(config, lambda opened: opened.store.record(home_id))
    assert record.fields["email"] == "ada@remote.example"  # blank at home: the first-sync rule filled it

    status, out, _ = hub_cli(capsys, "delink", "mem", "contact", "--home", home_id)
    assert (status, out.strip()) == (0, f"delinked contact {home_id} from {remote_id} on mem")
    states = {row["state"] for row in json.loads(hub_cli(capsys, "links", "mem", "--json")[1])}
    assert "linked (manual)" not in states


def test_link_no_sync_only_links_and_keeps_the_system_untouched(capsys, config, remote):
    home_id = home_contact(config, "Ada Lovelace")
    remote_id = remote.add("contact", {"Name": "A. Lovelace"})
    calls = len(remote.calls)
    status, out, _ = hub_cli(capsys, "link", "mem", "contact", home_id, remote_id, "--no-sync")
    assert status == 0 and "the next sync of the pair applies the first-sync rules" in out
    assert len(remote.calls) == calls


def test_link_refuses_a_remote_record_the_system_does_not_have(capsys, config, remote):
    home_id = home_contact(config, "Ada Lovelace")
    status, _, err = hub_cli(capsys, "link", "mem", "contact", home_id, "NOPE")
    assert (status, err.strip()) == (1, "hub: remote_id: mem has no contact with id 'NOPE'")
    assert json.loads(hub_cli(capsys, "links", "mem", "--json", "--show", "linked")[1]) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("sync", "mem", "--entity", "widget"), "hub: --entity: mem does not sync 'widget' (it syncs: contact)"),
        (("links", "mem", "--entity", "widget"), "hub: memory has no entity type 'widget' (it has: contact)"),
        (("sync", "mem", "--fields", "nope"), "hub: fields: 'nope' is not synced by mem (synced: email)"),
        (("sync", "mem", "--record", "nope"), "hub: record_ids: no home record 'nope'"),
        (("sync", "mem", "--remote", "R1"),
         "hub: --remote: name the entity type the remote ids belong to with --entity"),
        (("sync", "mem", "--export"), "hub: --export creates the home records named by --record in the system; "
                                      "name them (hub links mem --show unmatched lists them)"),
    ],
)
def test_the_command_line_refuses_what_the_api_refuses_with_one_clear_line(capsys, config, remote, argv, message):
    status, _, err = hub_cli(capsys, *argv)
    assert (status, err.strip()) == (1, message)
    assert with_hub(config, lambda opened: opened.store.runs()) == []


def test_a_sync_with_failed_records_exits_1_so_a_script_notices(capsys, config, remote):
    remote.add("contact", {"Name": "Ada"})
    assert hub_cli(capsys, "sync", "mem")[0] == 0
    home_contact(config, "Grace")  # new at home since the first sync: the contract creates it in the system
    remote.fail_writes["Grace"] = "memory: the address book is full"
    status, out, _ = hub_cli(capsys, "sync", "mem")
    assert status == 1 and "1 failed" in out


# --- the inbox ---------------------------------------------------------------------------------------------------


def dead_event(config: Path) -> int:
    """Put one webhook event in the inbox and fail it for good; return its id."""

    async def work(opened: Hub) -> int:
        event = WebhookEvent("contact", "R7", "updated", event_id="msg_7")
        start = now_utc()
        await inbox.accept(opened.store, "mem", [event], b"{}", at=start)
        for hour in range(inbox.MAX_ATTEMPTS):
            (claimed,) = await inbox.claim(opened.store, at=start + timedelta(hours=hour))
            await inbox.fail(opened.store, [claimed], "memory: cannot reach the system", at=start)
        return claimed["id"]

    return with_hub(config, work)


def test_inbox_shows_a_dead_event_with_its_error_and_replay_queues_it_again(capsys, config, remote):
    event_id = dead_event(config)

    status, out, _ = hub_cli(capsys, "inbox", "--status", "dead")
    assert status == 0
    assert re.search(
        rf"^{event_id}\s+mem\s+contact\s+R7\s+updated\s+dead\s+{inbox.MAX_ATTEMPTS}\s+memory: cannot reach", out, re.M
    )

    status, out, _ = hub_cli(capsys, "inbox", "replay", str(event_id))
    assert (status, out.strip()) == (0, f"event {event_id} queued again")
    (row,) = json.loads(hub_cli(capsys, "inbox", "--json")[1])
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert hub_cli(capsys, "inbox", "--status", "dead")[1].strip() == "the inbox is empty"


def test_inbox_replay_refuses_an_unknown_event_and_a_missing_id(capsys, config, remote):
    status, _, err = hub_cli(capsys, "inbox", "replay", "42")
    assert status == 1 and err.strip() == "hub: no dead or finished inbox event 42 to replay"
    status, _, err = hub_cli(capsys, "inbox", "replay")
    assert status == 1 and err.strip() == "hub: usage: hub inbox replay EVENT_ID"

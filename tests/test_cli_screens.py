"""The seed screens on the command line: the links filters, the import list, the report and the hub's own records."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

import hub.runtime
from hub.api_links import report_text
from tests.memory_hub import WEBHOOK_SECRET, install_memory_plugin, memory_contract
from tests.memory_system import Clock, MemoryRemote, contact_entity, field_rule
from tests.test_cli import CONFIG, hub_cli, with_hub

# Remote-only contacts wait for a person (the import list); contacts made at home go out by themselves; a remote
# contact's Hidden flag is the home field hidden (QuickBooks' Inactive).
CONTACTS = contact_entity(
    [
        field_rule("email", "Email", ("fill_blank", "overwrite"), ("never", "overwrite")),
        field_rule("hidden", "Hidden", ("mirror", "never"), ("mirror", "never")),
    ],
    create={"to_home": "on_request", "to_remote": "auto"},
)


@pytest.fixture
def remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MemoryRemote:
    """The memory system with the contacts above, installed beside the hub's own plugins."""
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
    monkeypatch.setenv("USER", "ada")
    return path


def home_contacts(config: Path, *names: str) -> list[str]:
    """Add home contacts as if loaded before the hub was connected; their ids."""

    async def work(opened: hub.runtime.Hub) -> list[str]:
        async with opened.store.transaction() as tx:
            return [(await opened.store.insert_record(tx, "contact", {"name": n}, at=opened.clock())).id for n in names]

    return with_hub(config, work)


def table(out: str) -> list[list[str]]:
    """A printed table's rows, split on the runs of spaces between cells (cells here hold single spaces only)."""
    return [re.split(r"\s{2,}", line.strip()) for line in out.strip().splitlines()]


# --- hub links: matched, and the hidden rows -----------------------------------------------------------------------


@pytest.fixture
def linked_and_hidden(capsys, config, remote) -> dict[str, str]:
    """Ada linked, Old Co unmatched in the system and hidden there (Inactive), Zed unmatched there and visible."""
    (ada,) = home_contacts(config, "Ada")
    ids = {"Ada": ada, "Ada remote": remote.add("contact", {"Name": "Ada"})}
    ids["Old Co"] = remote.add("contact", {"Name": "Old Co", "Hidden": True})
    ids["Zed"] = remote.add("contact", {"Name": "Zed"})
    assert hub_cli(capsys, "sync", "mem")[0] == 0
    return ids


def test_links_takes_matched_as_the_apis_alias_of_linked(capsys, linked_and_hidden):
    status, out, err = hub_cli(capsys, "links", "mem", "--show", "matched")
    assert (status, err) == (0, "")
    assert out == hub_cli(capsys, "links", "mem", "--show", "linked")[1]
    assert [row[:3] for row in table(out)[1:]] == [["contact", "linked (matched)", "Ada"]]


def test_links_leaves_hidden_rows_out_unless_show_hidden_which_marks_them(capsys, linked_and_hidden):
    _, out, _ = hub_cli(capsys, "links", "mem")
    assert "Old Co" not in out and "HIDDEN" not in out

    status, out, _ = hub_cli(capsys, "links", "mem", "--show-hidden")

    rows = table(out)
    assert status == 0 and rows[0][:3] == ["ENTITY", "STATE", "HIDDEN"]
    assert ["contact", "unmatched remote", "hidden", "Old Co", linked_and_hidden["Old Co"]] == rows[2][:5]
    assert [row[2] for row in rows[1:]] == ["Ada", "hidden", "Zed"]  # a visible row's HIDDEN cell is blank
    shown = json.loads(hub_cli(capsys, "links", "mem", "--show-hidden", "--json")[1])
    assert [(row["remote_name"], row["hidden"]) for row in shown] == [("Ada", False), ("Old Co", True), ("Zed", False)]


# --- hub import-list: seed 003's Contact Import ----------------------------------------------------------------


def test_import_list_shows_what_was_never_brought_in_and_hidden_or_synced_records_on_request(
    capsys, linked_and_hidden
):
    ids = linked_and_hidden

    status, out, _ = hub_cli(capsys, "import-list", "mem", "--entity", "contact")

    assert status == 0
    assert table(out) == [
        ["REMOTE_ID", "NAME", "SYNCED", "HIDDEN", "HOME_ID"],
        [ids["Zed"], "Zed"],
        ["import the chosen: hub sync mem --entity contact --import --remote ID ..."],
    ]
    _, out, _ = hub_cli(capsys, "import-list", "mem", "--entity", "contact", "--show-synced", "--show-hidden")
    assert table(out)[1:4] == [
        [ids["Ada remote"], "Ada", "synced", ids["Ada"]],
        [ids["Old Co"], "Old Co", "hidden"],
        [ids["Zed"], "Zed"],
    ]
    rows = json.loads(hub_cli(capsys, "import-list", "mem", "--entity", "contact", "--show-hidden", "--json")[1])
    assert rows == [
        {"entity": "contact", "remote_id": ids["Old Co"], "name": "Old Co", "hidden": True, "synced": False,
         "home_id": None},
        {"entity": "contact", "remote_id": ids["Zed"], "name": "Zed", "hidden": False, "synced": False,
         "home_id": None},
    ]


def test_the_chosen_record_imported_leaves_the_import_list(capsys, linked_and_hidden):
    hub_cli(capsys, "sync", "mem", "--entity", "contact", "--import", "--remote", linked_and_hidden["Zed"])
    assert hub_cli(capsys, "import-list", "mem", "--entity", "contact")[1] == "no contact records to import from mem\n"


def test_import_list_refuses_a_type_the_connection_does_not_sync(capsys, config, remote):
    status, _, err = hub_cli(capsys, "import-list", "mem", "--entity", "widget")
    assert (status, err) == (1, "hub: entity: mem does not sync 'widget' (it syncs: contact)\n")


# --- hub report: seed 002's "How to Pull a Report" -------------------------------------------------------------


def test_report_prints_the_apis_csv_of_linked_pairs(capsys, config, remote):
    home_contacts(config, "Ada")
    remote.add("contact", {"Name": "Ada", "Email": "ada@remote.example"})
    hub_cli(capsys, "sync", "mem")

    status, out, err = hub_cli(capsys, "report", "mem", "--entity", "contact")

    assert (status, err) == (0, "")
    header, row = csv.reader(io.StringIO(out))
    assert (header[0], header[3], row) == ("Hub Contact Name", "Memory Contact Name",
                                           ["Ada", "ada@remote.example", "", "Ada", "ada@remote.example", ""])
    assert out == with_hub(config, lambda opened: report_text(opened, "mem", "contact"))  # the API's own text


def test_report_writes_the_csv_to_a_file_with_output(capsys, config, remote, tmp_path):
    home_contacts(config, "Ada")
    remote.add("contact", {"Name": "Ada"})
    hub_cli(capsys, "sync", "mem")
    shown = hub_cli(capsys, "report", "mem", "--entity", "contact")[1]

    status, out, _ = hub_cli(capsys, "report", "mem", "--entity", "contact", "-o", str(tmp_path / "ada.csv"))

    assert (status, out) == (0, f"wrote 1 linked contact pair of mem to {tmp_path / 'ada.csv'}\n")
    assert (tmp_path / "ada.csv").read_bytes().decode() == shown


# --- hub records: the hub's own records, as /api/records ---------------------------------------------------------


def test_records_create_queues_the_record_pushes_it_at_once_and_names_who_made_it(capsys, config, remote):
    hub_cli(capsys, "sync", "mem", "--allow-empty-home")  # the type was listed once, so a new record may go out

    status, out, _ = hub_cli(capsys, "records", "create", "contact", "--set", "name=Mary Somerville",
                             "--set", "email=mary@example.org")

    assert status == 0
    lines = out.splitlines()
    assert re.fullmatch(r"created contact 'Mary Somerville' [0-9a-f]{32}", lines[0])
    assert sorted(lines[1:3]) == ["  email: mary@example.org  (hub, ada)", "  name: Mary Somerville  (hub, ada)"]
    assert re.fullmatch(r"linked on mem to remote R\d+ \(created\)", lines[3])
    assert remote.by_name("contact", "Mary Somerville")["Email"] == "mary@example.org"
    (run,) = json.loads(hub_cli(capsys, "runs", "--json")[1])[:1]
    assert (run["trigger"], run["actor"]) == ("queue", "ada")


def test_records_create_keeps_the_record_queued_when_the_system_cannot_take_it(capsys, config, remote):
    hub_cli(capsys, "sync", "mem", "--allow-empty-home")
    remote.down = True

    status, out, _ = hub_cli(capsys, "records", "create", "contact", "--set", "name=Mary", "--actor", "sam",
                             "--json")

    record = json.loads(out)
    assert status == 0 and record["pending"] is True and record["links"] == []
    assert [(q["connection"], q["op"], q["actor"]) for q in record["queued"]] == [("mem", "create", "sam")]


def test_records_edit_changes_fields_and_pushes_them_to_the_linked_record(capsys, config, remote):
    (ada,) = home_contacts(config, "Ada")
    remote_id = remote.add("contact", {"Name": "Ada"})
    hub_cli(capsys, "sync", "mem")

    status, out, _ = hub_cli(capsys, "records", "edit", ada, "--set", "email=ada@new.example",
                             "--set-json", "hidden=false")

    assert status == 0 and out.splitlines()[0] == f"changed contact 'Ada' {ada}"
    assert "  email: ada@new.example  (hub, ada)" in out.splitlines()
    assert remote.get("contact", remote_id)["Email"] == "ada@new.example"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ((), "hub: name the fields to set with --set FIELD=TEXT or --set-json FIELD=JSON"),
        (("--set", "email"), "hub: --set 'email': write FIELD=VALUE"),
        (("--set", "Email=x"), "hub: fields: 'Email' does not match '^[a-z][a-z0-9_]*$'"),
        (("--set-json", "hidden=maybe"), "hub: --set-json 'hidden=maybe': not a JSON value (quote text, or use --set)"),
        (("--set-json", "hidden=1"), "hub: fields/hidden: 1 is not of type 'boolean'"),
    ],
)
def test_records_edit_refuses_fields_the_api_refuses(capsys, config, remote, flags, message):
    (ada,) = home_contacts(config, "Ada")
    status, _, err = hub_cli(capsys, "records", "edit", ada, *flags)
    assert (status, err.strip()) == (1, message)


def test_records_list_and_show(capsys, config, remote):
    ada, _bea = home_contacts(config, "Ada Baker", "Bea")

    status, out, _ = hub_cli(capsys, "records", "list", "contact", "--search", "ada")

    assert status == 0 and [row[:2] for row in table(out)] == [["ID", "NAME"], [ada, "Ada Baker"]]
    shown = hub_cli(capsys, "records", "show", ada)[1]
    assert shown.splitlines() == [f"contact 'Ada Baker' {ada}", "  name: Ada Baker"]
    status, _, err = hub_cli(capsys, "records", "list", "widget")
    assert (status, err.strip()) == (1, "hub: entity: no connection syncs 'widget' records (known: contact)")


def test_records_delete_delinks_everywhere_and_keeps_the_remote_record(capsys, config, remote):
    (ada,) = home_contacts(config, "Ada")
    remote_id = remote.add("contact", {"Name": "Ada"})
    hub_cli(capsys, "sync", "mem")

    status, out, _ = hub_cli(capsys, "records", "delete", ada)

    assert (status, out.splitlines()) == (0, [
        f"deleted contact 'Ada' {ada}",
        f"delinked on mem from remote {remote_id}: the remote record stays, unmatched",
    ])
    assert remote_id in remote.records["contact"]
    assert hub_cli(capsys, "records", "list", "contact")[1] == "no contact records\n"
    status, _, err = hub_cli(capsys, "records", "delete", ada)
    assert (status, err.strip()) == (1, f"hub: no home record with id {ada!r}")
    activity = with_hub(config, lambda opened: opened.store.activity())
    assert activity[0]["actor"] == "ada" and activity[0]["kind"] == "delete"


def test_records_create_takes_the_connections_default_for_a_field_left_out(capsys, tmp_path, monkeypatch, config):
    """As through the API: a connection option may default a field of new records (QuickBooks' NC Only default)."""
    entity = {**CONTACTS, "home_defaults": {"vip": {"option": "vip_default"}}}
    options = {"vip_default": {"default": {}, "values": [True, False], "description": "VIP by default, by type."}}
    contract = memory_contract(tmp_path, {"contact": entity}, options=options)
    install_memory_plugin(monkeypatch, contract, MemoryRemote(Clock()))
    config.write_text(CONFIG + "\n[connections.mem.options]\nvip_default = { contact = true }\n")

    _, out, _ = hub_cli(capsys, "records", "create", "contact", "--set", "name=Ada", "--json")
    _, given, _ = hub_cli(capsys, "records", "create", "contact", "--set", "name=Bea", "--set-json", "vip=false",
                          "--json")

    assert json.loads(out)["fields"]["vip"] is True
    assert json.loads(given)["fields"]["vip"] is False

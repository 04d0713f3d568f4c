"""Disconnecting a connection and connecting it again (seed 002), through the API and the command line."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub import inbox
from hub.types import WebhookEvent
from hub.workers import process_due
from tests.api_fixtures import ApiRig, open_rig
from tests.test_cli import config, hub_cli, remote  # noqa: F401  (fixtures)
from tests.test_cli_commands import home_contacts

REFUSED = re.compile(r"mem is disconnected \(by (\w+) at [0-9T:.+-]+\): no sync runs until an admin connects it "
                     r"again \(hub connect mem, or POST /api/connections/mem/connect\)")


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[ApiRig]:
    async with open_rig(tmp_path) as opened:
        yield opened


async def state_of(rig: ApiRig) -> dict:
    """The mem connection as GET /api/connections lists it."""
    return next(row for row in (await rig.standard.get("/api/connections")).json() if row["connection"] == "mem")


async def test_a_disconnected_connection_refuses_syncs_naming_who_and_how_to_reconnect(rig: ApiRig):
    await rig.home(name="Ada")
    rig.remote.add("contact", {"Name": "Ada"})
    await rig.sync()

    answer = await rig.admin.post("/api/connections/mem/disconnect")

    assert answer.status_code == 200 and answer.json()["delinked"] == []
    row = await state_of(rig)
    assert (row["state"], row["disconnected_by"]) == ("disconnected", "ada")
    assert row["detail"].startswith("by ada at ") and row["detail"].endswith("hub connect mem connects it again")
    refused = await rig.admin.post("/api/connections/mem/sync", json={})
    assert refused.status_code == 409 and REFUSED.fullmatch(refused.json()["error"]).group(1) == "ada"
    links = (await rig.standard.get("/api/connections/mem/links")).json()
    assert [row["state"] for row in links] == ["linked (matched)"]  # records and links are kept
    (entry,) = (await rig.standard.get("/api/activity", params={"connection": "mem", "limit": 1})).json()
    assert (entry["actor"], entry["kind"]) == ("ada", "disconnect")
    again = await rig.admin.post("/api/connections/mem/disconnect")
    assert again.status_code == 409 and again.json()["error"].startswith("mem is already disconnected (by ada at ")

    connected = await rig.admin.post("/api/connections/mem/connect")

    assert connected.status_code == 200 and connected.json()["state"] == "idle"
    assert (await rig.admin.post("/api/connections/mem/sync", json={})).json()["status"] == "success"
    assert (await rig.admin.post("/api/connections/mem/connect")).status_code == 409


async def test_a_disconnected_connection_refuses_a_link_by_hand_and_the_import_list_asking_nothing_of_it(
    rig: ApiRig,
):
    ada = await rig.home(name="Ada")
    remote_id = rig.remote.add("contact", {"Name": "Ada Lovelace"})
    await rig.admin.post("/api/connections/mem/disconnect")
    calls = len(rig.remote.calls)

    linked = await rig.admin.post("/api/connections/mem/links",
                                  json={"entity": "contact", "home_id": ada.id, "remote_id": remote_id})
    listed = await rig.admin.get("/api/connections/mem/import-candidates", params={"entity": "contact"})

    for answer in (linked, listed):
        assert answer.status_code == 409 and REFUSED.fullmatch(answer.json()["error"]).group(1) == "ada"
    assert len(rig.remote.calls) == calls
    assert await rig.hub.store.list_links("mem") == []


async def test_only_an_admin_disconnects_or_connects(rig: ApiRig):
    assert (await rig.standard.post("/api/connections/mem/disconnect")).status_code == 403
    await rig.admin.post("/api/connections/mem/disconnect")
    assert (await rig.standard.post("/api/connections/mem/connect")).status_code == 403


async def test_delink_all_delinks_every_record_and_keeps_both_sides(rig: ApiRig):
    ada = await rig.home(name="Ada")
    remote_id = rig.remote.add("contact", {"Name": "Ada"})
    await rig.sync()

    answer = await rig.admin.post("/api/connections/mem/disconnect", params={"delink_all": "true"})

    assert answer.json()["delinked"] == [{"entity": "contact", "home_id": ada.id, "remote_id": remote_id}]
    links = (await rig.standard.get("/api/connections/mem/links")).json()
    assert {row["state"] for row in links} == {"unmatched remote", "unmatched home"}


async def test_webhook_events_wait_in_the_inbox_while_disconnected_and_go_through_once_connected(rig: ApiRig):
    remote_id = rig.remote.add("contact", {"Name": "Ada"})
    await rig.admin.post("/api/connections/mem/disconnect")
    await inbox.accept(rig.hub.store, "mem", [WebhookEvent("contact", remote_id, "created", "ev-1")], b"{}",
                       at=rig.clock())

    await process_due(rig.hub)

    (event,) = await inbox.list_events(rig.hub.store)
    assert (event["status"], event["attempts"], event["last_error"]) == ("pending", 0, None)
    connected = (await rig.admin.post("/api/connections/mem/connect")).json()
    assert connected["waiting_events"] == 1
    await process_due(rig.hub)
    assert (await inbox.list_events(rig.hub.store))[0]["status"] == "done"


def test_hub_disconnect_and_connect_on_the_command_line(capsys, config, remote):  # noqa: F811
    remote.add("contact", {"Name": "Ada"})
    hub_cli(capsys, "sync", "mem")

    status, out, _ = hub_cli(capsys, "disconnect", "mem", "--actor", "ada")

    assert (status, out) == (0, "disconnected mem: no sync runs until hub connect mem; its records and links are "
                                "kept\n")
    (row,) = json.loads(hub_cli(capsys, "status", "--json")[1])
    assert row["state"] == "disconnected" and row["disconnected_by"] == "ada"
    assert re.search(r"^mem\s+memory\s+disconnected\s+by ada at ", hub_cli(capsys, "status")[1], re.M)
    status, out, err = hub_cli(capsys, "sync", "mem")
    assert (status, out) == (1, "") and REFUSED.fullmatch(err.strip().removeprefix("hub: "))
    status, _, err = hub_cli(capsys, "disconnect", "mem")
    assert status == 1 and err.startswith("hub: mem is already disconnected (by ada at ")
    (home_id,) = home_contacts(config, "Bea")
    status, out, err = hub_cli(capsys, "link", "mem", "contact", home_id, remote.add("contact", {"Name": "Bea"}))
    assert (status, out) == (1, "") and REFUSED.fullmatch(err.strip().removeprefix("hub: "))
    assert json.loads(hub_cli(capsys, "links", "mem", "--show", "linked", "--json")[1])[0]["home_name"] == "Ada"

    status, out, _ = hub_cli(capsys, "connect", "mem", "--actor", "bea")

    assert status == 0 and out.startswith("connected mem again; 0 webhook event(s) waiting")
    assert hub_cli(capsys, "sync", "mem")[0] == 0
    assert hub_cli(capsys, "connect", "mem")[2] == "hub: mem is connected; nothing to do\n"


def test_disconnect_delink_all_on_the_command_line(capsys, config, remote):  # noqa: F811
    remote_id = remote.add("contact", {"Name": "Ada"})
    hub_cli(capsys, "sync", "mem")

    status, out, _ = hub_cli(capsys, "disconnect", "mem", "--delink-all")

    assert status == 0 and f"from {remote_id}\n" in out and out.endswith("1 record(s) delinked\n")
    assert json.loads(hub_cli(capsys, "links", "mem", "--show", "linked", "--json")[1]) == []

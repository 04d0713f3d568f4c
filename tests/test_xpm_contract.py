"""XPM custom field values (seed 001): pulled with the client or job, by "Sync from PM", held off by Pending Sync."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub import outbox
from hub.app import create_app
from hub.config import parse_config
from hub.contracts import CONTRACTS_DIR
from hub.errors import RecordError
from hub.registry import build_registry
from hub.runtime import Hub
from hub.types import UNSET
from plugins.xpm.custom_fields import XPM_CUSTOM_FIELDS
from tests.api_fixtures import ADMIN_TOKEN, ENV, bearer, memory_plugin
from tests.memory_system import Clock, MemoryRemote, contract_file

XPM_ONLY = {"HUB_PLUGINS": "core,xpm"}

ACME_FIELDS = [
    {"UUID": "cf-1", "Name": "Year end", "Text": "March"},
    {"UUID": "cf-2", "Name": "Fee", "Decimal": "1200.50"},
]


# --- the shipped contract -----------------------------------------------------------------------------------------


def test_the_shipped_xpm_contract_validates_with_the_transform_its_plugin_registers():
    registry = build_registry(XPM_ONLY)
    assert registry.transforms["xpm_custom_fields"] is XPM_CUSTOM_FIELDS
    assert {"client", "job"} <= set(registry.contracts["xpm"].entities)


@pytest.mark.parametrize("entity", ["client", "job"])
def test_client_and_job_custom_field_values_only_come_in_from_xpm_in_both_phases(entity: str):
    mapping = build_registry(XPM_ONLY).contracts["xpm"].entity(entity).field("custom_fields")
    assert mapping is not None
    assert (mapping.remote, mapping.transform) == ("CustomFields", {"type": "plugin", "name": "xpm_custom_fields"})
    for phase in ("first", "later"):
        rules = mapping.rules(phase)
        assert (rules.to_home, rules.to_remote) == ("overwrite", "never"), phase


def test_the_client_no_longer_calls_custom_field_values_the_plugins_business():
    never_sync = json.loads((CONTRACTS_DIR / "xpm.json").read_text())["entities"]["client"]["never_sync"]
    assert "custom_fields" in never_sync["reason"] and "plugin's business" not in never_sync["reason"]


# --- xpm_custom_fields --------------------------------------------------------------------------------------------


def test_custom_fields_become_a_mapping_of_name_to_value_typed_by_their_value_element():
    fields = [
        {"UUID": "a", "Name": "Year end", "Text": "March"},
        {"UUID": "b", "Name": "Fee", "Decimal": "1200.50"},
        {"UUID": "c", "Name": "Partners", "Number": "3"},
        {"UUID": "d", "Name": "Audit", "Boolean": "true"},
        {"UUID": "e", "Name": "Engaged", "Date": "2026-03-31T00:00:00"},
        {"UUID": "f", "Name": "Trust", "Boolean": False},
    ]
    assert XPM_CUSTOM_FIELDS.to_home(fields) == {
        "Year end": "March",
        "Fee": 1200.5,
        "Partners": 3,
        "Audit": True,
        "Engaged": "2026-03-31T00:00:00",
        "Trust": False,
    }


def test_a_cleared_custom_field_is_left_out_and_none_left_is_blank():
    assert XPM_CUSTOM_FIELDS.to_home([{"Name": "Year end", "Text": "March"}, {"Name": "Due", "Date": ""}]) == {
        "Year end": "March"
    }
    assert XPM_CUSTOM_FIELDS.to_home([{"Name": "Due", "Date": None}]) is None
    assert XPM_CUSTOM_FIELDS.to_home([]) is None
    assert XPM_CUSTOM_FIELDS.to_home(UNSET) is UNSET


@pytest.mark.parametrize(
    ("custom_fields", "message"),
    [
        ({"Name": "Fee"}, "must be a list of <CustomField> elements, not dict"),
        (["Fee"], "custom field 1 is not a <CustomField> element"),
        ([{"UUID": "a", "Text": "March"}], "custom field 1 has no Name"),
        ([{"Name": "Fee", "Decimal": "12,50"}], "'Fee': Decimal '12,50' is not a number"),
        ([{"Name": "Partners", "Number": "2.5"}], "'Partners': Number '2.5' is not a whole number"),
        ([{"Name": "Audit", "Boolean": "maybe"}], "'Audit': Boolean 'maybe' is not true or false"),
        ([{"Name": "Fee", "Text": "a", "Decimal": "1"}], "'Fee' holds values in Text, Decimal"),
        ([{"Name": "Fee", "Text": "a"}, {"Name": "Fee", "Text": "b"}], "the custom field 'Fee' twice"),
    ],
)
def test_a_custom_field_list_xpm_would_not_send_skips_the_record_saying_why(custom_fields: Any, message: str):
    with pytest.raises(RecordError, match=message):
        XPM_CUSTOM_FIELDS.to_home(custom_fields)


def test_custom_field_values_are_never_written_to_xpm():
    with pytest.raises(RecordError, match="only come in from XPM"):
        XPM_CUSTOM_FIELDS.to_remote({"Year end": "June"})
    assert XPM_CUSTOM_FIELDS.to_remote(None) is None


# --- "Sync from PM" and Pending Sync, on a memory system with the XPM client rules --------------------------------


@dataclass
class XpmRig:
    """A hub whose ``xpm`` connection follows the shipped XPM client rules, an admin client, and the remote."""

    hub: Hub
    remote: MemoryRemote
    admin: httpx.AsyncClient

    async def sync(self, connection: str, **body: Any) -> dict[str, Any]:
        """An admin's sync through the API, a minute after the last thing that happened."""
        self.remote.clock.tick()
        response = await self.admin.post(f"/api/connections/{connection}/sync", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    async def client(self, record_id: str) -> dict[str, Any]:
        """The home client as the API shows it."""
        response = await self.admin.get(f"/api/records/{record_id}")
        assert response.status_code == 200, response.text
        return response.json()


def xpm_client_contract(directory: Path) -> Path:
    """A memory contract whose clients (and the staff they refer to) are the shipped XPM entities, ids aside."""
    shipped = json.loads((CONTRACTS_DIR / "xpm.json").read_text())
    entities = {name: {**shipped["entities"][name], "remote_id": "Id"} for name in ("staff", "client")}
    return contract_file(directory, entities, options=shipped["options"])


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[XpmRig]:
    # Two connections: ``xpm`` and ``books``, another system the same clients sync to.
    remote = MemoryRemote(Clock())
    config = {
        "hub": {"database": str(tmp_path / "hub.db")},
        "users": {"ada": {"role": "admin", "token_env": "HUB_ADMIN_TOKEN"}},
        "connections": {"xpm": {"plugin": "memory"}, "books": {"plugin": "memory"}},
    }
    env = {**ENV, **XPM_ONLY}
    plugin = memory_plugin(xpm_client_contract(tmp_path), remote)
    hub = await Hub.open(parse_config(config, env), env=env, plugins=[plugin], clock=remote.clock)
    transport = httpx.ASGITransport(app=create_app(hub, background=False))
    admin = httpx.AsyncClient(transport=transport, base_url="http://hub", headers=bearer(ADMIN_TOKEN))
    try:
        yield XpmRig(hub, remote, admin)
    finally:
        await admin.aclose()
        await hub.close()


async def test_sync_from_pm_brings_custom_fields_while_the_client_waits_only_for_another_system(rig: XpmRig):
    """Pending Sync is per system: a change queued for ``books`` does not hold off XPM's own values."""
    acme = rig.remote.add("client", {"Name": "Acme Ltd", "Email": "office@acme.example", "CustomFields": ACME_FIELDS})
    created = await rig.sync("xpm")
    (item,) = [i for i in created["items"] if i["action"] == "created"]
    client_id = item["home_id"]
    assert (await rig.client(client_id))["fields"]["custom_fields"] == {"Year end": "March", "Fee": 1200.5}
    await rig.sync("books")  # links the client there too

    # An edit in the hub is queued for both systems. XPM takes no client edits, so its run drops its entry; the
    # change still waits for ``books``, and the client stays Pending Sync there.
    response = await rig.admin.patch(f"/api/records/{client_id}", json={"fields": {"email": "accounts@acme.example"}})
    assert response.status_code == 200 and response.json()["pending"], response.text
    rig.remote.edit("client", acme, {"CustomFields": [{**ACME_FIELDS[0], "Text": "June"}, ACME_FIELDS[1]]})

    taken = await rig.sync("xpm", record_ids=[client_id], fields=["custom_fields"])

    assert taken["counts"]["updated"] == 1, taken
    client = await rig.client(client_id)
    assert client["fields"]["custom_fields"] == {"Year end": "June", "Fee": 1200.5}
    assert (client["fields"]["email"], client["pending"]) == ("accounts@acme.example", True)
    assert [entry["connection"] for entry in client["queued"]] == ["books"]


async def test_a_client_pending_for_xpm_itself_is_not_overwritten_by_sync_from_pm(rig: XpmRig):
    """Seed 001: "When a Client is marked as Pending Sync, custom field changes made in XPM will not be synchronised".
    """
    acme = rig.remote.add("client", {"Name": "Acme Ltd", "CustomFields": ACME_FIELDS})
    created = await rig.sync("xpm")
    (client_id,) = [i["home_id"] for i in created["items"] if i["action"] == "created"]
    # A change waiting for XPM (the queue keeps it while XPM has not taken it).
    async with rig.hub.store.transaction() as tx:
        await outbox.enqueue(tx, connection="xpm", entity="client", home_id=client_id, op="update",
                             fields=["custom_fields"], actor="ada", at=rig.remote.clock())
        await tx.execute("UPDATE records SET pending = 1 WHERE id = ?", (client_id,))
    rig.remote.edit("client", acme, {"CustomFields": [{**ACME_FIELDS[0], "Text": "June"}, ACME_FIELDS[1]]})

    held = await rig.sync("xpm", record_ids=[client_id], fields=["custom_fields"], mode="pull")

    assert (await rig.client(client_id))["fields"]["custom_fields"] == {"Year end": "March", "Fee": 1200.5}
    assert [(i["action"], i["reason"]) for i in held["items"] if i["home_id"] == client_id] == [
        ("skipped", "pending local changes wait to be pushed: the pull did not overwrite them")
    ]

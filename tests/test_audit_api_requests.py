"""Audit fixes in the API: strict JSON bodies, who may sync which list (seed 001), and ``show=matched``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hub.app import create_app
from hub.config import parse_config
from hub.contracts import CONTRACTS_DIR, load_contract
from hub.runtime import Hub
from tests.api_fixtures import ADMIN_TOKEN, ENV, STANDARD_TOKEN, ApiRig, bearer, memory_plugin, open_rig
from tests.memory_system import Clock, MemoryRemote, contract_file
from tests.plugin_api_fixtures import karbon_api_rig


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[ApiRig]:
    async with open_rig(tmp_path) as opened:
        yield opened


# --- JSON bodies ----------------------------------------------------------------------------------------------------


async def test_a_deeply_nested_body_is_a_400_naming_the_depth(rig: ApiRig):
    response = await rig.admin.post("/api/records", content=b"[" * 100_000)

    assert response.status_code == 400
    assert response.json() == {"error": "body: JSON is nested 100000 levels deep; the limit is 64"}


async def test_a_body_giving_a_key_twice_is_refused_naming_the_key(rig: ApiRig):
    body = b'{"entity": "contact", "fields": {"name": "Ada", "name": "Grace"}}'

    response = await rig.standard.post("/api/records", content=body)

    assert response.status_code == 400
    assert response.json() == {"error": "body: duplicate key 'name' in a JSON object"}
    assert await rig.hub.store.fetchall("SELECT id FROM records") == []


async def test_nan_is_not_json(rig: ApiRig):
    response = await rig.admin.post("/api/records", content=b'{"entity": "item", "fields": {"price": NaN}}')

    assert response.status_code == 400
    assert response.json() == {"error": "body: NaN is not a JSON number"}


# --- seed 001's user permissions: who syncs which list --------------------------------------------------------------


def test_the_shipped_contracts_open_the_lists_the_seeds_open():
    def lists(plugin: str) -> dict[str, str]:
        contract = load_contract(CONTRACTS_DIR / f"{plugin}.json")
        return {name: entity.list_sync for name, entity in contract.entities.items()}

    assert lists("xpm") == {"client": "any_user", "job": "admins", "staff": "admins", "tax_return": "admins",
                            "custom_field_definition": "admins"}
    assert set(lists("intuit_pm").values()) == {"admins"}  # seed 002: Sync Now is under Admin
    assert set(lists("quickbooks").values()) == {"any_user"}  # seed 004: every user may synchronize
    assert set(lists("enterprise").values()) == {"any_user"}  # seed 000 says nothing: as before


@dataclass
class XpmRig:
    """A hub whose ``xpm`` connection has the shipped XPM clients and staff, and clients for ada and sam."""

    hub: Hub
    remote: MemoryRemote
    admin: httpx.AsyncClient
    standard: httpx.AsyncClient

    async def sync(self, client: httpx.AsyncClient, **body: object) -> httpx.Response:
        """Ask for a sync of ``xpm``, a minute after the last thing that happened."""
        self.remote.clock.tick()
        return await client.post("/api/connections/xpm/sync", json=body)


@pytest.fixture
async def xpm(tmp_path: Path) -> AsyncIterator[XpmRig]:
    shipped = json.loads((CONTRACTS_DIR / "xpm.json").read_text())
    entities = {name: {**shipped["entities"][name], "remote_id": "Id"} for name in ("staff", "client")}
    remote = MemoryRemote(Clock())
    config = {
        "hub": {"database": str(tmp_path / "hub.db")},
        "users": {"ada": {"role": "admin", "token_env": "HUB_ADMIN_TOKEN"},
                  "sam": {"role": "standard", "token_env": "HUB_STANDARD_TOKEN"}},
        "connections": {"xpm": {"plugin": "memory"}},
    }
    env = {**ENV, "HUB_PLUGINS": "core,xpm"}
    plugin = memory_plugin(contract_file(tmp_path, entities, options=shipped["options"]), remote)
    hub = await Hub.open(parse_config(config, env), env=env, plugins=[plugin], clock=remote.clock)
    transport = httpx.ASGITransport(app=create_app(hub, background=False))
    admin = httpx.AsyncClient(transport=transport, base_url="http://hub", headers=bearer(ADMIN_TOKEN))
    standard = httpx.AsyncClient(transport=transport, base_url="http://hub", headers=bearer(STANDARD_TOKEN))
    try:
        yield XpmRig(hub, remote, admin, standard)
    finally:
        await admin.aclose()
        await standard.aclose()
        await hub.close()


async def test_any_user_syncs_the_clients_list(xpm: XpmRig):
    xpm.remote.add("client", {"Name": "Acme Ltd", "Email": "office@acme.example"})

    response = await xpm.sync(xpm.standard, entities=["client"])

    assert response.status_code == 200, response.text
    assert response.json()["counts"]["created"] == 1


async def test_a_standard_user_may_not_sync_the_staff_list_and_is_told_which_lists_are_open(xpm: XpmRig):
    xpm.remote.add("staff", {"Name": "Sam Smith", "Email": "sam@practice.example"})

    for entities in (["staff"], ["client", "staff"]):
        response = await xpm.sync(xpm.standard, entities=entities, dry_run=True)
        assert response.status_code == 403, entities
        assert response.json() == {
            "error": "sam is a standard user: only admins sync the staff list of xpm; any user may sync the client "
            "list and single records (record_ids or remote_ids)"
        }
    assert (await xpm.sync(xpm.admin, entities=["staff"])).status_code == 200


async def test_a_standard_user_still_syncs_one_record_of_a_list_kept_for_admins(xpm: XpmRig):
    staff = xpm.remote.add("staff", {"Name": "Sam Smith", "Email": "sam@practice.example"})
    created = (await xpm.sync(xpm.admin, entities=["staff"])).json()
    (home_id,) = [item["home_id"] for item in created["items"]]
    xpm.remote.edit("staff", staff, {"Email": "sam.smith@practice.example"})

    by_record = await xpm.sync(xpm.standard, record_ids=[home_id])
    by_remote = await xpm.sync(xpm.standard, entities=["staff"], remote_ids=[staff])

    assert by_record.status_code == 200, by_record.text
    assert by_record.json()["counts"]["updated"] == 1
    assert by_remote.status_code == 200, by_remote.text


async def test_the_openapi_description_says_who_syncs_lists(rig: ApiRig):
    document = (await rig.admin.get("/openapi.json")).json()
    description = document["paths"]["/api/connections/{name}/sync"]["post"]["description"]

    assert "the lists (entities) whose contract says `list_sync: any_user`" in description
    assert "403 for a standard user's connection-level sync, or sync of a list kept for admins" in description


# --- show=matched ---------------------------------------------------------------------------------------------------


async def test_links_show_matched_is_the_linked_list(rig: ApiRig):
    await rig.home(name="Ada")
    await rig.home(name="Hub Only")
    rig.remote.add("contact", {"Name": "Ada", "Email": "ada@example"})
    await rig.sync(entities=["contact"])

    matched = await rig.standard.get("/api/connections/mem/links", params={"entity": "contact", "show": "matched"})
    linked = await rig.standard.get("/api/connections/mem/links", params={"entity": "contact", "show": "linked"})

    assert matched.status_code == 200, matched.text
    assert [row["home_name"] for row in matched.json()] == ["Ada"]
    assert matched.json() == linked.json()


async def test_seed_002_keeps_karbons_lists_for_admins_but_not_its_records():
    async with karbon_api_rig() as rig:
        await rig.load("contact", "Ada Lovelace")
        ada = rig.seed_person("Ada", "Lovelace")

        refused = await rig.standard.post(f"{rig.at}/sync", json={"entities": ["contact"]})
        one = await rig.standard.post(f"{rig.at}/sync", json={"entities": ["contact"], "remote_ids": [ada]})

    assert refused.status_code == 403
    assert refused.json() == {"error": "sam is a standard user: only admins sync the contact list of karbon; any user "
                              "may sync single records (record_ids or remote_ids)"}
    assert one.status_code == 200, one.text

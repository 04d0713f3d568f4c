"""Seed 002 (Liscio and Intuit Practice Management), rule by rule, through the hub's API, against the Karbon simulator.

A person drives the hub only through ``/api``; the Karbon side is set up and checked in the simulator. Every call
the plugin makes passes the Karbon OpenAPI checker, and each test ends by asserting there was no violation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from plugins.intuit_pm.transforms import KARBON_ADDRESS
from tests.plugin_api_fixtures import KarbonApiRig, answer, item_of, karbon_api_rig

HUB_ADDRESS = {"lines": "1 Hub St", "city": "Hubtown", "region": "NSW", "postcode": "2000", "country": "AU"}
SYSTEM = "Intuit Practice Management (Karbon)"


@pytest.fixture
async def rig() -> AsyncIterator[KarbonApiRig]:
    async with karbon_api_rig() as opened:
        yield opened
        assert opened.violations == []


async def linked_account(rig: KarbonApiRig, **card: Any) -> tuple[str, str]:
    """A hub account "Acme" (phone 555 0100) and a Karbon "Acme" with this card, linked by Sync Now."""
    home = await rig.load("account", "Acme", phone="555 0100")
    key = rig.seed_org("Acme", **card)
    await rig.sync_now()
    assert await rig.linked_key(home) == key
    return home.id, key


async def linked_contact(rig: KarbonApiRig, **card: Any) -> tuple[str, str]:
    """A hub contact "Ada Lovelace" (title CFO) and a Karbon person of that name, linked by Sync Now."""
    home = await rig.load("contact", "Ada Lovelace", title="CFO")
    key = rig.seed_person("Ada", "Lovelace", **card)
    await rig.sync_now()
    assert await rig.linked_key(home) == key
    return home.id, key


# --- Sync Now ---------------------------------------------------------------------------------------------------


async def test_sync_now_links_exact_names_ignoring_case_and_the_runs_items_say_why(rig: KarbonApiRig):
    acme = await rig.load("account", "Acme Pty")
    ada = await rig.load("contact", "ada lovelace")
    acme_key, ada_key = rig.seed_org("ACME PTY"), rig.seed_person("Ada", "Lovelace")
    longer = rig.seed_org("Acme Pty Ltd")

    result = await rig.sync_now()

    assert result["status"] == "completed with 1 skipped", result["summary"]
    assert item_of(result, remote_id=acme_key)["reason"].startswith("linked: exact name 'acme pty'")
    assert item_of(result, remote_id=ada_key)["home_id"] == ada.id
    assert item_of(result, remote_id=longer)["reason"].startswith("unmatched: no link and no home record named")
    assert (await rig.run(result["run_id"]))["items"] == result["items"]
    linked = {row["home_id"]: row for row in await rig.links(show="linked")}
    assert (linked[acme.id]["remote_id"], linked[acme.id]["state"]) == (acme_key, "linked (matched)")
    assert (linked[ada.id]["home_name"], linked[ada.id]["remote_name"]) == ("ada lovelace", "Ada Lovelace")


# --- what syncs, and when ---------------------------------------------------------------------------------------


async def test_first_sync_fills_blanks_both_ways_and_the_hub_value_overwrites_karbons(rig: KarbonApiRig):
    acme = await rig.load("account", "Acme", phone="555 0100", email="accounts@hub.example")
    ada = await rig.load("contact", "Ada Lovelace", title="Chief Financial Officer")
    org = rig.seed_org("Acme", WebSites=["acme.example"], PhoneNumbers=[{"Number": "999 9999"}])
    person = rig.seed_person("Ada", "Lovelace", RoleOrTitle="CFO", EmailAddresses=["ada@acme.example"])

    result = await rig.sync_now()

    account = await rig.get_record(acme.id)
    assert (account["fields"]["phone"], account["fields"]["website"]) == ("555 0100", "acme.example")
    assert account["provenance"]["website"] == {"system": "karbon", "run": result["run_id"], "rule": "fill_blank"}
    assert account["fields"]["email"] == "accounts@hub.example"  # not a synced field of an account
    assert [phone["Number"] for phone in rig.card_of(org)["PhoneNumbers"]] == ["555 0100"]
    assert rig.card_of(org)["EmailAddresses"] == []
    assert (await rig.get_record(ada.id))["fields"]["email"] == "ada@acme.example"
    assert rig.card_of(person)["RoleOrTitle"] == "Chief Financial Officer"
    changes = item_of(result, remote_id=person)["changes"]
    assert {(c["field"], c["direction"], c["rule"]) for c in changes} == {
        ("title", "to_remote", "overwrite"),
        ("email", "to_home", "fill_blank"),
    }


async def test_later_syncs_send_the_hubs_values_to_karbon_and_never_take_karbons(rig: KarbonApiRig):
    acme, key = await linked_account(rig)
    rig.edit_card(key, WebSites=["karbon-only.example"], PhoneNumbers=[{"Number": "999 9999", "Label": "Work"}])
    await rig.edit(acme, phone="555 0200", address=HUB_ADDRESS)

    result = await rig.sync_now()

    assert result["status"] == "success", result["summary"]
    card = rig.card_of(key)
    assert card["PhoneNumbers"][0]["Number"] == "555 0200"  # both have a value: the hub's overwrites
    assert KARBON_ADDRESS.to_home(card["Addresses"][0]) == HUB_ADDRESS  # only the hub has one: written
    assert card["WebSites"] == ["karbon-only.example"]  # only Karbon has one: no change on either side
    fields = (await rig.get_record(acme))["fields"]
    assert fields.get("website") is None and fields["phone"] == "555 0200"


async def test_record_names_and_relationships_are_never_synced(rig: KarbonApiRig):
    acme = await rig.load("account", "acme pty", phone="555 0100")
    ada = await rig.load("contact", "Ada Lovelace", title="CFO", account=acme.id)
    acme_key, babbage_key = rig.seed_org("ACME PTY"), rig.seed_org("Babbage Ltd")
    ada_key = rig.seed_person("Ada", "Lovelace", OrganizationKey=babbage_key)
    await rig.sync_now()

    await rig.edit(acme.id, name="Acme Pty Limited", phone="555 0101")
    rig.sim.edit("Organizations", acme_key, {"FullName": "Acme Proprietary"})
    grace = await rig.create("contact", name="Grace Hopper", title="Rear Admiral", account=acme.id)
    await rig.sync_now()

    assert (await rig.get_record(acme.id))["name"] == "Acme Pty Limited"
    assert rig.record(acme_key)["FullName"] == "Acme Proprietary"
    assert rig.card_of(acme_key)["PhoneNumbers"][0]["Number"] == "555 0101"
    assert rig.card_of(ada_key)["OrganizationKey"] == babbage_key
    assert (await rig.get_record(ada.id))["fields"]["account"] == acme.id
    (grace_link,) = (await rig.get_record(grace["id"]))["links"]
    assert rig.card_of(grace_link["remote_id"])["OrganizationKey"] is None


# --- records created and edited in the hub ----------------------------------------------------------------------


async def test_a_record_created_in_the_hub_is_created_and_linked_in_karbon_at_the_next_sync(rig: KarbonApiRig):
    created = await rig.create(
        "contact", name="Grace Brewster Hopper", title="Rear Admiral", email="grace@navy.example"
    )

    assert created["pending"] is True
    assert [(q["connection"], q["op"], q["actor"]) for q in created["queued"]] == [("karbon", "create", "sam")]

    result = await rig.sync_now()

    item = item_of(result, home_id=created["id"])
    assert (item["action"], item["reason"]) == ("created", f"created in {SYSTEM}: queued local record")
    shown = await rig.get_record(created["id"])
    assert (shown["pending"], shown["queued"]) == (False, [])
    (link,) = shown["links"]
    assert (link["remote_id"], link["how"]) == (item["remote_id"], "created")
    person = rig.record(link["remote_id"])
    assert (person["FirstName"], person["LastName"]) == ("Grace Brewster", "Hopper")
    card = rig.card_of(link["remote_id"])
    assert (card["RoleOrTitle"], card["EmailAddresses"]) == ("Rear Admiral", ["grace@navy.example"])
    again = await rig.sync_now()
    assert (again["counts"]["created"], len(rig.sim.contacts)) == (0, 1)


async def test_an_edit_to_a_linked_record_in_the_hub_is_pushed_to_karbon(rig: KarbonApiRig):
    ada, key = await linked_contact(rig)

    edited = await rig.edit(ada, title="Finance Director", email="ada@hub.example")

    assert edited["pending"] is True
    assert [(q["op"], q["fields"]) for q in edited["queued"]] == [("update", ["email", "title"])]
    await rig.sync_now()
    card = rig.card_of(key)
    assert (card["RoleOrTitle"], card["EmailAddresses"]) == ("Finance Director", ["ada@hub.example"])
    shown = await rig.get_record(ada)
    assert (shown["pending"], shown["queued"]) == (False, [])


# --- records created in Karbon ----------------------------------------------------------------------------------


async def test_a_record_created_in_karbon_shows_up_unmatched_after_a_sync_and_import_creates_and_links_it(
    rig: KarbonApiRig,
):
    await linked_account(rig)
    zeta = rig.seed_org("Zeta Corp", WebSites=["zeta.example"], PhoneNumbers=[{"Number": "555 0500"}])

    assert await rig.links(entity="account", show="unmatched") == []
    await rig.sync_now()
    (row,) = await rig.links(entity="account", show="unmatched")
    assert (row["state"], row["remote_id"], row["remote_name"]) == ("unmatched remote", zeta, "Zeta Corp")

    imported = await rig.import_records("account", zeta)

    item = item_of(imported, remote_id=zeta)
    assert item["action"] == "created" and item["reason"].startswith("created at home")
    home = await rig.get_record(item["home_id"])
    assert (home["name"], home["fields"]["phone"], home["fields"]["website"]) == (
        "Zeta Corp",
        "555 0500",
        "zeta.example",
    )
    assert [link["remote_id"] for link in home["links"]] == [zeta]
    assert await rig.links(entity="account", show="unmatched") == []


# --- linking by hand, searching, the report ---------------------------------------------------------------------


async def test_manual_linking_searches_both_sides_by_name_links_a_pair_and_delinks_it(rig: KarbonApiRig):
    await linked_account(rig)
    countess = rig.seed_person("Augusta Ada", "King", RoleOrTitle="Countess", EmailAddresses=["ada@king.example"])
    rig.seed_person("Charles", "Babbage")
    await rig.sync_now()
    # Loaded after the sync, as a firm's upload would be: it waits unmatched, like the Karbon records.
    ada = await rig.load("contact", "Ada Lovelace", title="CFO")

    found = await rig.links(entity="contact", show="unmatched", search="ADA")

    assert {(row["state"], row["home_id"] or row["remote_id"]) for row in found} == {
        ("unmatched home", ada.id),
        ("unmatched remote", countess),
    }
    pair = {"entity": "contact", "home_id": ada.id, "remote_id": countess}
    assert (await rig.standard.post(f"{rig.at}/links", json=pair)).status_code == 403

    linked = answer(await rig.admin.post(f"{rig.at}/links", json=pair), 201)

    assert (linked["link"]["how"], linked["run"]["status"]) == ("manual", "success")
    assert rig.card_of(countess)["RoleOrTitle"] == "CFO"  # first-sync rules: the hub's value overwrites
    assert (await rig.get_record(ada.id))["fields"]["email"] == "ada@king.example"  # and a blank is filled
    (row,) = await rig.links(entity="contact", show="linked", search="king")
    assert (row["state"], row["home_name"], row["remote_name"]) == (
        "linked (manual)",
        "Ada Lovelace",
        "Augusta Ada King",
    )

    removed = answer(await rig.admin.delete(f"{rig.at}/links/contact/{ada.id}"))

    assert removed["remote_id"] == countess
    assert await rig.links(entity="contact", show="linked", search="ada") == []
    assert (await rig.get_record(ada.id))["links"] == [] and countess in rig.sim.contacts
    activity = answer(await rig.admin.get("/api/activity"))
    kinds = [(entry["actor"], entry["kind"]) for entry in activity if entry["kind"] in ("link", "delink")]
    assert kinds == [("ada", "delink"), ("ada", "link")]


async def test_the_report_lists_each_linked_contacts_name_title_and_email_on_both_sides(rig: KarbonApiRig):
    await rig.load("contact", "Ada Lovelace", title="CFO", email="ada@hub.example")
    rig.seed_person("ADA", "LOVELACE", RoleOrTitle="Countess")
    await rig.sync_now()

    response = await rig.standard.get(f"{rig.at}/report.csv", params={"entity": "contact"})

    assert response.status_code == 200 and response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="karbon-contact-links.csv"'
    header, row = response.text.splitlines()
    assert header.split(",") == [
        "Hub Contact Name",
        "Hub Contact Title",
        "Hub Contact Primary Email",
        "Intuit Practice Management Contact Name",
        "Intuit Practice Management Contact Title",
        "Intuit Practice Management Contact Primary Email",
    ]
    assert row.split(",") == ["Ada Lovelace", "CFO", "ada@hub.example", "ADA LOVELACE", "CFO", "ada@hub.example"]


async def test_unmatched_records_are_searched_by_name_and_filtered_matched_unmatched_or_all(rig: KarbonApiRig):
    acme, _key = await linked_account(rig)
    zeta = rig.seed_org("Zeta Corp")
    await rig.sync_now()
    hub_only = await rig.load("account", "Hub Only Corp")

    def shown(rows: list[dict[str, Any]]) -> set[str]:
        return {row["home_id"] or row["remote_id"] for row in rows}

    assert shown(await rig.links(entity="account", show="linked")) == {acme}
    assert shown(await rig.links(entity="account", show="unmatched")) == {zeta, hub_only.id}
    assert shown(await rig.links(entity="account")) == {acme, zeta, hub_only.id}
    assert shown(await rig.links(entity="account", show="unmatched", search="corp")) == {zeta, hub_only.id}
    assert shown(await rig.links(entity="account", search="zeta")) == {zeta}
    assert shown(await rig.links(entity="account", search="acme")) == {acme}
    assert (await rig.standard.get(f"{rig.at}/links", params={"show": "sideways"})).status_code == 400


# --- the caution, roles and the activity log --------------------------------------------------------------------


async def test_the_first_sync_into_an_empty_hub_is_refused_unless_allow_empty_home(rig: KarbonApiRig):
    key = rig.seed_org("Acme")

    refused = await rig.admin.post(f"{rig.at}/sync", json={})

    assert refused.status_code == 409
    assert "--allow-empty-home" in refused.json()["error"] and refused.json()["run"]["status"] == "refused"
    assert rig.calls() == []

    allowed = await rig.sync_now(allow_empty_home=True)

    assert allowed["status"] == "completed with 1 skipped", allowed["summary"]
    assert [row["remote_id"] for row in await rig.links(show="unmatched")] == [key]
    assert await rig.list_records("account") == [] and await rig.list_records("contact") == []


async def test_a_standard_user_cannot_sync_the_connection_and_every_manual_sync_names_who_asked(rig: KarbonApiRig):
    ada, _key = await linked_contact(rig)

    refused = await rig.standard.post(f"{rig.at}/sync", json={})
    assert refused.status_code == 403 and refused.json()["error"].startswith("sam is a standard user")
    one = answer(await rig.standard.post(f"{rig.at}/sync", json={"record_ids": [ada]}))
    everything = await rig.sync_now()

    activity = answer(await rig.standard.get("/api/activity", params={"connection": "karbon"}))
    asked = [entry["message"] for entry in activity if entry["kind"] == "sync requested"]
    assert asked == [
        "ada asked for a sync of karbon (everything)",
        "sam asked for a sync of karbon (contact)",
        "ada asked for a sync of karbon (everything)",
    ]
    runs = answer(await rig.standard.get("/api/runs", params={"connection": "karbon"}))
    assert [(run["id"], run["actor"]) for run in runs[:2]] == [(everything["run_id"], "ada"), (one["run_id"], "sam")]


async def test_a_record_created_in_the_hub_is_created_in_karbon_at_once_by_the_serving_hub():
    """With the hub serving (workers on), a create through the API is pushed without waiting for a sync."""
    import asyncio

    import httpx

    from hub.app import create_app
    from tests.plugin_api_fixtures import ADMIN_TOKEN, bearer

    async with karbon_api_rig() as rig:
        await rig.sync_now(allow_empty_home=True)
        app = create_app(rig.hub, background=True)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hub", headers=bearer(ADMIN_TOKEN)
        ) as client:
            created = answer(await client.post("/api/records", json={"entity": "account",
                                                                     "fields": {"name": "Fresh Start Ltd"}}), 201)
            assert created["pending"] is True
            for _ in range(200):
                record = answer(await client.get(f"/api/records/{created['id']}"))
                if not record["pending"] and record["links"]:
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError(f"the new account never reached Karbon: {record}")
        assert record["links"][0]["how"] == "created"

"""Seed 003's screens that act on chosen records (Import Selected, Export Selected, Pull Current Contact, Sync
Current Contact) act on those records alone, and find them in QuickBooks whether or not the hub has listed them.

A person drives the hub only through ``/api``; the QuickBooks side is set up and checked in the simulator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.plugin_api_fixtures import QboApiRig, answer, item_of, qbo_api_rig


@pytest.fixture
async def rig() -> AsyncIterator[QboApiRig]:
    async with qbo_api_rig() as opened:
        yield opened


async def queue_of(rig: QboApiRig, home_id: str) -> list[tuple[str, list[str], int]]:
    """A home record's changes waiting in the sync queue: op, fields and attempts of each."""
    record = await rig.get_record(home_id)
    return [(entry["op"], entry["fields"], entry["attempts"]) for entry in record["queued"]]


async def unrelated_queue(rig: QboApiRig) -> tuple[str, str, str]:
    """Two hub changes nobody chose, queued for QuickBooks: an edit QuickBooks will refuse (Zed's e-mail) and a
    new customer; returns Zed's home id and QuickBooks Id, and the new customer's home id."""
    zed, zed_id = await rig.linked_customer("Zed Holdings")
    await rig.edit(zed, email="accounts at zed")
    newcomer = await rig.create("customer", name="Queued Newcomer")
    return zed, zed_id, newcomer["id"]


async def assert_untouched(rig: QboApiRig, zed: str, zed_id: str, newcomer: str) -> None:
    """The unrelated changes still wait, never tried, and QuickBooks has neither."""
    assert await queue_of(rig, zed) == [("update", ["email"], 0)]
    assert await queue_of(rig, newcomer) == [("create", ["name"], 0)]
    assert "PrimaryEmailAddr" not in rig.remote("Customer", zed_id)
    assert rig.remote_named("Customer", "Queued Newcomer") == []


# --- 1. a run over chosen records flushes only their queued changes ----------------------------------------------


async def test_import_selected_leaves_other_queued_changes_queued_and_unsent(rig: QboApiRig):
    zed, zed_id, newcomer = await unrelated_queue(rig)
    chosen = rig.customer("Six Co")

    imported = await rig.import_records("customer", chosen)

    assert imported["status"] == "success", imported
    assert [(i["action"], i["name"]) for i in imported["items"]] == [("created", "Six Co")]
    await assert_untouched(rig, zed, zed_id, newcomer)


async def test_sync_current_contact_sends_its_own_queued_change_and_leaves_the_others(rig: QboApiRig):
    acme, acme_id = await rig.linked_customer("Acme Ltd")
    zed, zed_id, newcomer = await unrelated_queue(rig)
    await rig.edit(acme, phone="0113 496 0001")

    synced = answer(await rig.standard.post(f"{rig.at}/records/{acme}/newest"))

    assert synced["status"] == "success", synced
    assert [(i["action"], i["name"]) for i in synced["items"]] == [("updated", "Acme Ltd")]
    assert rig.remote("Customer", acme_id)["PrimaryPhone"] == {"FreeFormNumber": "0113 496 0001"}
    assert await queue_of(rig, acme) == []
    await assert_untouched(rig, zed, zed_id, newcomer)

    # The whole sync that follows flushes what waited, in the order it was queued.
    later = await rig.sync_now(entities=["customer"])
    assert [(i["action"], i["name"]) for i in later["items"] if i["action"] != "unchanged"] == [
        ("failed", "Zed Holdings"),
        ("created", "Queued Newcomer"),
    ]


async def test_export_selected_sends_only_the_chosen_records(rig: QboApiRig):
    zed, zed_id, newcomer = await unrelated_queue(rig)
    chosen = await rig.create("customer", name="Chosen Ltd")

    exported = await rig.export_records("customer", chosen["id"])

    assert exported["status"] == "success", exported
    assert [(i["action"], i["name"]) for i in exported["items"]] == [("created", "Chosen Ltd")]
    await assert_untouched(rig, zed, zed_id, newcomer)


# --- 2. Export Selected before the hub has listed the type -------------------------------------------------------


async def test_export_selected_before_any_listing_looks_the_names_up_then_links_or_creates(rig: QboApiRig):
    brien = rig.customer("O'Brien's Bar", Notes="kept in QuickBooks")
    bolt = rig.customer("Bolt Inc")
    alpha = await rig.create("customer", name="Alpha Ltd")
    obrien_home = await rig.create("customer", name="O'Brien's Bar")
    bolt_home = await rig.create("customer", name="Bolt Inc")
    queries = len(rig.calls("query"))

    exported = await rig.export_records("customer", alpha["id"], obrien_home["id"], bolt_home["id"])

    assert exported["status"] == "success", exported
    assert item_of(exported, home_id=alpha["id"])["action"] == "created"
    assert item_of(exported, home_id=obrien_home["id"])["reason"].startswith("linked: exact name \"O'Brien's Bar\"")
    assert item_of(exported, home_id=bolt_home["id"])["remote_id"] == bolt
    assert item_of(exported, home_id=obrien_home["id"])["remote_id"] == brien
    assert [len(rig.remote_named("Customer", n)) for n in ("Alpha Ltd", "O'Brien's Bar", "Bolt Inc")] == [1, 1, 1]
    (lookup,) = [c.body.decode() for c in rig.calls("query")[queries:]]
    assert "DisplayName IN ('Alpha Ltd','Bolt Inc','O\\'Brien\\'s Bar')" in lookup
    assert all([(await rig.get_record(h))["pending"] is False for h in (alpha["id"], obrien_home["id"])])


async def test_export_of_records_never_queued_before_any_listing_does_not_duplicate_either(rig: QboApiRig):
    existing = rig.customer("Harbour Bakery")
    home = await rig.load("customer", "Harbour Bakery", hidden=False)

    exported = await rig.export_records("customer", home.id)

    assert item_of(exported, home_id=home.id)["remote_id"] == existing
    assert len(rig.remote_named("Customer", "Harbour Bakery")) == 1


# --- 3. an id QuickBooks does not have -------------------------------------------------------------------------


async def test_importing_an_id_quickbooks_does_not_have_is_a_failed_item(rig: QboApiRig):
    acme = rig.customer("Acme Ltd")

    imported = await rig.import_records("customer", acme, "999")

    assert imported["status"] == "completed with 1 error"
    assert item_of(imported, remote_id=acme)["action"] == "created"
    missing = item_of(imported, remote_id="999")
    assert (missing["action"], missing["error"]) == ("failed", "QuickBooks Online has no customer 999")
    assert imported["counts"]["seen"] == imported["counts"]["total"] == 2


# --- 4. Pull Current Contact finds the contact in QuickBooks; a duplicate name links ------------------------------


async def test_pull_current_contact_finds_a_customer_the_hub_never_listed(rig: QboApiRig):
    remote_id = rig.customer("Gamma Co", Notes="from QuickBooks")
    home = await rig.load("customer", "Gamma Co", hidden=False)

    pulled = answer(await rig.standard.post(f"{rig.at}/records/{home.id}/pull"))

    assert pulled["linked"] == f"linked: exact name 'Gamma Co' to qbo customer {remote_id}"
    assert pulled["status"] == "success"
    assert (await rig.get_record(home.id))["fields"]["notes"] == "from QuickBooks"


async def test_a_create_refused_as_a_duplicate_name_links_to_the_customer_made_in_quickbooks_meanwhile(
    rig: QboApiRig,
):
    await rig.linked_customer("Acme Ltd")  # the customer list has been listed
    delta = rig.customer("Delta Ltd", Notes="keyed into QuickBooks")
    one = await rig.create("customer", name="Delta Ltd")
    two = await rig.create("customer", name="Echo Ltd")

    alone = await rig.export_records("customer", one["id"])

    assert alone["status"] == "success", alone
    assert item_of(alone, home_id=one["id"])["reason"].startswith("linked: exact name 'Delta Ltd'")
    assert item_of(alone, home_id=one["id"])["remote_id"] == delta
    assert (await rig.get_record(one["id"]))["fields"]["notes"] == "keyed into QuickBooks"

    # In a batch: the refused one links, the one beside it is created.
    foxtrot = rig.customer("Foxtrot Ltd")
    three = await rig.create("customer", name="Foxtrot Ltd")
    both = await rig.export_records("customer", two["id"], three["id"])

    assert both["status"] == "success", both
    assert item_of(both, home_id=two["id"])["action"] == "created"
    assert item_of(both, home_id=three["id"])["remote_id"] == foxtrot
    assert [len(rig.remote_named("Customer", n)) for n in ("Delta Ltd", "Echo Ltd", "Foxtrot Ltd")] == [1, 1, 1]

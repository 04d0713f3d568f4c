"""Seeds 003 (WorkSpace's QuickBooks contacts) and 004 (All Orders' sync), rule by rule, through the hub's HTTP API.

A person drives the hub only through ``/api``; the QuickBooks side is set up and checked in the simulator.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from hub.engine import Scope
from tests.plugin_api_fixtures import QboApiRig, answer, item_of, qbo_api_rig
from tests.quickbooks_fixtures import SALE


@pytest.fixture
async def rig() -> AsyncIterator[QboApiRig]:
    async with qbo_api_rig() as opened:
        yield opened


@pytest.fixture
async def sending_all() -> AsyncIterator[QboApiRig]:
    async with qbo_api_rig(options={"send_all": True}) as opened:
        yield opened


async def candidates(rig: QboApiRig, **flags: str) -> list[dict[str, Any]]:
    """The import list of customers with these filters."""
    return answer(await rig.standard.get(f"{rig.at}/import-candidates", params={"entity": "customer", **flags}))


def names(rows: list[dict[str, Any]], key: str = "name") -> list[str]:
    """One value of each row, in order: its name unless told otherwise."""
    return [row[key] for row in rows]


# --- seed 003: Contact Import -----------------------------------------------------------------------------------


async def test_the_import_list_shows_customers_never_brought_in_unless_show_synced_and_inactive_ones_if_show_hidden(
    rig: QboApiRig,
):
    acme = rig.customer("Acme Ltd")
    bolt = rig.customer("Bolt Inc", Active=False)
    cog_home, cog = await rig.linked_customer("Cog Co")

    assert [(row["remote_id"], row["name"]) for row in await candidates(rig)] == [(acme, "Acme Ltd")]
    hidden_too = await candidates(rig, show_hidden="true")
    assert [(row["remote_id"], row["hidden"]) for row in hidden_too] == [(acme, False), (bolt, True)]
    everyone = await candidates(rig, show_synced="true", show_hidden="true")
    assert [(row["name"], row["synced"], row["home_id"]) for row in everyone] == [
        ("Acme Ltd", False, None),
        ("Bolt Inc", False, None),
        ("Cog Co", True, cog_home),
    ]
    assert [row["remote_id"] for row in await candidates(rig, show_synced="true")] == [acme, cog]

    never = await rig.standard.get(f"{rig.at}/import-candidates", params={"entity": "invoice"})
    assert never.status_code == 409 and "never creates invoice records" in never.json()["error"]
    wrong = await rig.standard.get(f"{rig.at}/import-candidates", params={"entity": "customer", "show_hidden": "maybe"})
    assert wrong.status_code == 400 and wrong.json()["error"].startswith("show_hidden:")


async def test_select_all_none_or_some_of_the_list_and_import_the_selection(rig: QboApiRig):
    acme = rig.customer(
        "Acme Ltd", PrimaryEmailAddr={"Address": "ap@acme.example"}, BillAddr={"Line1": "1 Quay St", "City": "Leeds"}
    )
    rig.customer("Bolt Inc")
    cog = rig.customer("Cog Co", Mobile={"FreeFormNumber": "07700 900123"})

    none = await rig.admin.post(f"{rig.at}/import", json={"entity": "customer", "remote_ids": []})
    assert none.status_code == 400 and none.json()["error"].startswith("remote_ids:")
    refused = await rig.standard.post(f"{rig.at}/import", json={"entity": "customer", "remote_ids": [acme]})
    assert refused.status_code == 403

    some = await rig.import_records("customer", acme, cog)

    assert (some["status"], some["counts"]["created"]) == ("success", 2)
    acme_home = await rig.get_record(item_of(some, remote_id=acme)["home_id"])
    assert (acme_home["fields"]["email"], acme_home["fields"]["billing_city"]) == ("ap@acme.example", "Leeds")
    assert names(await candidates(rig)) == ["Bolt Inc"]

    everything = await rig.import_records("customer", *names(await candidates(rig), "remote_id"))

    assert everything["counts"]["created"] == 1
    assert await candidates(rig) == []
    assert names(await rig.list_records("customer")) == ["Acme Ltd", "Bolt Inc", "Cog Co"]


async def test_an_inactive_customer_is_imported_as_hidden(rig: QboApiRig):
    dormant = rig.customer("Dormant Ltd", Active=False)

    imported = await rig.import_records("customer", dormant)

    home = await rig.get_record(item_of(imported, remote_id=dormant)["home_id"])
    assert (home["hidden"], home["fields"]["hidden"]) == (True, True)
    assert rig.remote("Customer", dormant)["Active"] is False


async def test_import_links_an_exact_name_match_instead_of_duplicating(rig: QboApiRig):
    home = await rig.load("customer", "Cog Co", hidden=False)
    cog = rig.customer("Cog Co", Notes="From QuickBooks")
    near_miss = rig.customer("COG CO.")

    imported = await rig.import_records("customer", cog, near_miss)

    assert item_of(imported, remote_id=cog)["reason"].startswith("linked: exact name 'Cog Co'")
    assert item_of(imported, remote_id=cog)["home_id"] == home.id
    assert (await rig.get_record(home.id))["fields"]["notes"] == "From QuickBooks"
    # The seed's warning: a name that is not a 100% match comes in as a record of its own.
    assert sorted(names(await rig.list_records("customer", search="cog"))) == ["COG CO.", "Cog Co"]


async def test_a_row_that_fails_to_import_is_a_failed_item_naming_the_record_and_its_error(rig: QboApiRig):
    acme, dyna = rig.customer("Acme Ltd"), rig.customer("Dyna Corp")
    await rig.load("customer", "Dyna Corp", email="accounts at dyna", hidden=False)

    imported = await rig.import_records("customer", acme, dyna)

    assert imported["status"] == "completed with 1 error"
    failed = item_of(imported, action="failed")
    assert (failed["remote_id"], failed["name"]) == (dyna, "Dyna Corp")
    assert "Invalid Email Address format" in failed["error"] and "accounts at dyna" in failed["error"]
    assert (await rig.run(imported["run_id"]))["status"] == "completed with 1 error"
    assert names(await rig.list_records("customer", search="acme")) == ["Acme Ltd"]


# --- seed 003: Export, with its progress bar ---------------------------------------------------------------------


async def test_an_export_shows_its_progress_while_it_runs_and_ends_with_each_records_error(rig: QboApiRig):
    """34 customers go in two batches of QuickBooks' at most 30; progress moves as each batch is answered."""
    (vendor,) = rig.seed("Vendor", {"DisplayName": "Harbour Supplies"})
    clash = await rig.load("customer", "Harbour Supplies", hidden=False)
    chosen = [(await rig.load("customer", f"Client {n:02}", hidden=False)).id for n in range(33)]
    unchosen = await rig.load("customer", "Not Chosen", hidden=False)
    rig.sim.latency = 0.03  # each QuickBooks call takes a moment, so the run is seen half done
    before = len(rig.calls())
    started = await rig.start_export("customer", clash.id, *chosen)

    # The answer names the run at once, so the client follows its own run, not whichever run is newest.
    accepted = answer(started, 202)
    assert accepted == {"run_id": accepted["run_id"], "connection": "qbo", "status": "running",
                        "location": f"/api/runs/{accepted['run_id']}"}
    assert started.headers["Location"] == accepted["location"]
    assert started.headers["Preference-Applied"] == "respond-async"
    # A webhook's run of the same connection starts meanwhile: it is the newest run, and no matter.
    webhook = asyncio.create_task(rig.hub.sync(rig.connection, Scope(entities=("vendor",), remote_ids=(vendor,)),
                                               trigger="webhook", actor="webhook:qbo"))
    progress: list[tuple[int, int]] = []
    while (result := await rig.run(accepted["run_id"]))["status"] == "running":
        counts = result["counts"]
        if counts["seen"]:  # stored with the first record done
            progress.append((counts["seen"], counts["total"]))
        await asyncio.sleep(0.005)
    assert (await webhook).run_id > accepted["run_id"]

    assert {total for _seen, total in progress} == {34}, progress
    seen = [count for count, _total in progress]
    assert any(0 < count < 34 for count in seen) and seen == sorted(seen), seen
    assert result["status"] == "completed with 1 error"
    assert {key: result["counts"][key] for key in ("seen", "total", "created", "failed")} == {
        "seen": 34,
        "total": 34,
        "created": 33,
        "failed": 1,
    }
    # The batch answered the clash with its own Fault; the 29 beside it were created all the same.
    failed = item_of(result, action="failed")
    assert failed["home_id"] == clash.id and "Duplicate Name Exists Error" in failed["error"]
    sent = [(call.method, call.resource) for call in rig.calls()[before:] if call.method == "POST"]
    assert [call for call in sent if call[1] != "query"] == [("POST", "batch"), ("POST", "batch")]
    assert all([(await rig.get_record(home_id))["links"] for home_id in chosen])
    assert rig.remote_named("Customer", "Not Chosen") == [] and await rig.remote_id(unchosen) is None


# --- seed 003: Contact Match ------------------------------------------------------------------------------------


async def test_the_match_screen_hides_synchronized_and_hidden_records_unless_asked(rig: QboApiRig):
    acme, _ = await rig.linked_customer("Acme Ltd")
    bolt, bolt_id = await rig.linked_customer("Bolt Inc")
    zed, old = rig.customer("Zed Holdings"), rig.customer("Old Co", Active=False)
    rig.edit_remote("Customer", bolt_id, Active=False)
    await rig.sync_now(entities=["customer"])
    # Loaded after the sync, so they wait on the match screen rather than going out with it.
    home_only = await rig.load("customer", "Home Only", hidden=False)
    shelved = await rig.load("customer", "Shelved Ltd", hidden=True)

    def shown(rows: list[dict[str, Any]]) -> set[str]:
        return {row["home_id"] or row["remote_id"] for row in rows}

    unmatched = await rig.links(entity="customer", show="unmatched")
    assert shown(unmatched) == {zed, home_only.id}
    with_hidden = await rig.links(entity="customer", show="unmatched", show_hidden="true")
    assert {row["home_id"] or row["remote_id"]: row["hidden"] for row in with_hidden} == {
        zed: False,
        home_only.id: False,
        old: True,
        shelved.id: True,
    }
    assert shown(await rig.links(entity="customer")) == {acme, zed, home_only.id}
    assert shown(await rig.links(entity="customer", show_hidden="true")) == {
        acme,
        bolt,
        zed,
        old,
        home_only.id,
        shelved.id,
    }


async def test_single_records_are_imported_or_exported_from_the_match_screen(rig: QboApiRig):
    await rig.linked_customer("Acme Ltd")
    zed = rig.customer("Zed Holdings", Notes="from QuickBooks")
    await rig.sync_now(entities=["customer"])
    home_only = await rig.load("customer", "Home Only", email="hello@home.example", hidden=False)

    imported = await rig.import_records("customer", zed)
    exported = await rig.export_records("customer", home_only.id)

    assert item_of(imported, remote_id=zed)["action"] == "created"
    assert item_of(exported, home_id=home_only.id)["action"] == "created"
    (sent,) = rig.remote_named("Customer", "Home Only")
    assert sent["PrimaryEmailAddr"] == {"Address": "hello@home.example"}
    assert await rig.links(entity="customer", show="unmatched") == []
    linked = {row["remote_name"]: row["state"] for row in await rig.links(entity="customer", show="linked")}
    assert linked == {
        "Acme Ltd": "linked (matched)",
        "Zed Holdings": "linked (created)",
        "Home Only": "linked (created)",
    }


async def test_pull_current_contact_overwrites_the_hub_record_with_quickbooks_values(rig: QboApiRig):
    home, remote_id = await rig.linked_customer("Acme Ltd", WebAddr={"URI": "https://acme.example"})
    rig.edit_remote("Customer", remote_id, PrimaryEmailAddr={"Address": "new@acme.example"}, WebAddr=None)
    writes = len(rig.writes())

    pulled = answer(await rig.standard.post(f"{rig.at}/records/{home}/pull"))

    assert pulled["status"] == "success"
    assert {c["field"]: c["rule"] for c in item_of(pulled, home_id=home)["changes"]} == {
        "email": "mirror",
        "website": "mirror",
    }
    fields = (await rig.get_record(home))["fields"]
    assert (fields["email"], fields["website"]) == ("new@acme.example", None)
    assert len(rig.writes()) == writes


async def test_sync_current_contact_takes_the_side_changed_last(rig: QboApiRig):
    home, remote_id = await rig.linked_customer("Acme Ltd", Notes="agreed terms")
    rig.edit_remote("Customer", remote_id, Notes="changed in QuickBooks")
    await rig.edit(home, email="home@acme.example")

    answer(await rig.standard.post(f"{rig.at}/records/{home}/newest"))

    # The hub's side changed last: all of it goes to QuickBooks, the older note included.
    assert rig.remote("Customer", remote_id)["PrimaryEmailAddr"] == {"Address": "home@acme.example"}
    assert rig.remote("Customer", remote_id)["Notes"] == "agreed terms"

    rig.edit_remote("Customer", remote_id, Notes="QuickBooks again", PrimaryEmailAddr=None)
    answer(await rig.standard.post(f"{rig.at}/records/{home}/newest"))

    fields = (await rig.get_record(home))["fields"]
    assert (fields["notes"], fields["email"]) == ("QuickBooks again", None)


# --- seed 004: Synch, Send All, NC Only, proxies ------------------------------------------------------------------


async def test_a_sync_flushes_the_queue_then_brings_changes_in_then_records_transactions(sending_all: QboApiRig):
    rig = sending_all
    acme, acme_id = await rig.linked_customer("Acme Ltd")
    bolt, bolt_id = await rig.linked_customer("Bolt Inc")
    await rig.edit(acme, phone="0113 496 0001")
    rig.edit_remote("Customer", bolt_id, Notes="changed in QuickBooks")
    invoice = await rig.create("invoice", name="INV-1001", customer=acme, txn_date="2026-11-01", lines=[SALE])
    start = len(rig.transport.calls)

    result = await rig.sync_now()

    calls = rig.transport.calls[start:]
    flushed = next(n for n, c in enumerate(calls) if c.resource == "customer" and c.method == "POST")
    pulled = next(n for n, c in enumerate(calls) if c.resource == "cdc" and c.params["entities"] == "Customer")
    recorded = next(n for n, c in enumerate(calls) if c.resource == "invoice" and c.method == "POST")
    assert flushed < pulled < recorded, result
    assert rig.remote("Customer", acme_id)["PrimaryPhone"] == {"FreeFormNumber": "0113 496 0001"}
    assert (await rig.get_record(bolt))["fields"]["notes"] == "changed in QuickBooks"
    (sent,) = rig.remote_named("Invoice", "INV-1001", key="DocNumber")
    assert (sent["CustomerRef"]["value"], sent["TotalAmt"]) == (acme_id, 150.0)
    shown = await rig.get_record(invoice["id"])
    assert ([link["remote_id"] for link in shown["links"]], shown["pending"]) == ([sent["Id"]], False)


async def test_without_send_all_a_transaction_is_recorded_only_when_exported(rig: QboApiRig):
    acme, _ = await rig.linked_customer("Acme Ltd")
    invoice = await rig.create("invoice", name="INV-1002", customer=acme, lines=[SALE])

    assert invoice["queued"] == []
    await rig.sync_now()
    assert rig.sim.records("Invoice") == []

    exported = await rig.export_records("invoice", invoice["id"])

    assert exported["counts"]["created"] == 1
    assert [row["DocNumber"] for row in rig.sim.records("Invoice")] == ["INV-1002"]


async def test_nc_only_transactions_are_never_sent_by_send_all(sending_all: QboApiRig):
    rig = sending_all
    acme, _ = await rig.linked_customer("Acme Ltd")
    await rig.create("invoice", name="INV-NC", customer=acme, lines=[SALE], nc_only=True)
    await rig.create("bill", name="BILL-NC", lines=[{"account": "60", "amount": 12}], nc_only=True)

    await rig.sync_now()

    assert rig.sim.records("Invoice") == [] and rig.sim.records("Bill") == []


async def test_an_nc_only_transaction_exported_on_request_is_not_sent_and_says_why(rig: QboApiRig):
    acme, _ = await rig.linked_customer("Acme Ltd")
    nc_only = await rig.create("invoice", name="INV-NC", customer=acme, lines=[SALE], nc_only=True)

    exported = await rig.export_records("invoice", nc_only["id"])

    item = item_of(exported, home_id=nc_only["id"])
    assert (item["action"], item["reason"]) == ("skipped", "not sent: excluded: nc_only is True")
    assert rig.sim.records("Invoice") == []


async def test_a_proxied_customer_is_never_created_and_its_invoices_go_to_the_proxy(sending_all: QboApiRig):
    rig = sending_all
    web, web_id = await rig.linked_customer("Web Customer")
    jane = await rig.create("customer", name="Jane Shopper", proxy_id=web, email="jane@example.com", hidden=False)
    await rig.create("invoice", name="WEB-1", customer=jane["id"], lines=[SALE])

    await rig.sync_now()

    assert rig.remote_named("Customer", "Jane Shopper") == []
    assert (await rig.get_record(jane["id"]))["links"] == []
    (invoice,) = rig.sim.records("Invoice")
    assert invoice["CustomerRef"] == {"value": web_id, "name": "Web Customer"}


# --- seed 004: Selective Synch, conflicts, disconnected users -----------------------------------------------------


async def test_selective_sync_brings_in_only_the_chosen_lists(rig: QboApiRig):
    acme, acme_id = await rig.linked_customer("Acme Ltd")
    (bolt_id,) = rig.seed("Item", {"Name": "Bolt", "UnitPrice": 2.5})
    bolt = await rig.load("item", "Bolt", hidden=False)
    await rig.sync_now(entities=["item"])
    rig.edit_remote("Customer", acme_id, Notes="customer edit")
    rig.edit_remote("Item", bolt_id, UnitPrice=3.0)
    start = len(rig.transport.calls)

    result = await rig.sync_now(entities=["item"])

    assert (await rig.run(result["run_id"]))["entities"] == ["item"]
    assert (await rig.get_record(bolt.id))["fields"]["unit_price"] == 3.0
    assert (await rig.get_record(acme))["fields"].get("notes") is None
    assert {c.params.get("entities") for c in rig.transport.calls[start:] if c.resource == "cdc"} == {"Item"}


async def test_selective_sync_of_records_modified_since_a_date(rig: QboApiRig):
    now = rig.clock.now

    def customer_changed(days: int) -> str:
        stamp = (now - timedelta(days=days)).isoformat()
        return rig.seed(
            "Customer",
            {"DisplayName": f"Changed {days} days ago", "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp}},
        )[0]

    _old, month, week = customer_changed(60), customer_changed(25), customer_changed(5)

    beyond_cdc = await rig.sync_now(entities=["customer"], since=(now - timedelta(days=40)).date().isoformat())
    within_cdc = await rig.sync_now(entities=["customer"], since=(now - timedelta(days=10)).isoformat())

    assert {item["remote_id"] for item in beyond_cdc["items"]} == {month, week}
    assert {item["remote_id"] for item in within_cdc["items"]} == {week}
    assert (await rig.run(within_cdc["run_id"]))["scope"]["since"].startswith(
        (now - timedelta(days=10)).date().isoformat()
    )


async def test_a_stale_sync_token_in_the_middle_of_a_sync_is_reread_and_the_rules_applied_again(rig: QboApiRig):
    home, remote_id = await rig.linked_customer("Acme Ltd")
    await rig.edit(home, email="ap@acme.example")
    rig.transport.before_write = lambda _call: rig.edit_remote("Customer", remote_id, Notes="typed in QuickBooks")

    result = await rig.sync_now(entities=["customer"])

    assert result["status"] == "success", result["summary"]
    stored = rig.remote("Customer", remote_id)
    assert (stored["PrimaryEmailAddr"], stored["Notes"]) == ({"Address": "ap@acme.example"}, "typed in QuickBooks")
    assert (await rig.get_record(home))["fields"]["notes"] == "typed in QuickBooks"
    assert "re-read after a conflicting remote write" in item_of(result, home_id=home)["reason"]


async def test_edits_while_quickbooks_cannot_be_reached_are_queued_and_flushed_in_order_at_the_next_sync(
    rig: QboApiRig,
):
    acme, acme_id = await rig.linked_customer("Acme Ltd")
    bolt, bolt_id = await rig.linked_customer("Bolt Inc")
    rig.transport.offline = True
    await rig.edit(acme, email="ap@acme.example")
    await rig.edit(bolt, phone="0113 496 0002")
    queued = await rig.edit(acme, phone="0113 496 0003")

    assert queued["pending"] is True
    assert [(q["op"], q["fields"]) for q in queued["queued"]] == [("update", ["email"]), ("update", ["phone"])]
    cut_off = await rig.sync_now(entities=["customer"])
    assert cut_off["status"] == "interrupted"
    assert answer(await rig.standard.get(rig.at))["queued"] == 3

    rig.transport.offline = False
    start = len(rig.transport.calls)
    reconnected = await rig.sync_now(entities=["customer"])

    assert reconnected["status"] == "success", reconnected["summary"]
    writes = [c.json()["Id"] for c in rig.transport.calls[start:] if c.resource == "customer" and c.method == "POST"]
    assert writes == [acme_id, bolt_id]
    assert rig.remote("Customer", acme_id)["PrimaryEmailAddr"] == {"Address": "ap@acme.example"}
    assert rig.remote("Customer", acme_id)["PrimaryPhone"] == {"FreeFormNumber": "0113 496 0003"}
    assert rig.remote("Customer", bolt_id)["PrimaryPhone"] == {"FreeFormNumber": "0113 496 0002"}
    assert answer(await rig.standard.get(rig.at))["queued"] == 0
    assert (await rig.get_record(acme))["pending"] is False

"""Seed 003 and 004 rules that were tested only through the engine, now through the hub's API against the simulator.

Ship docs and work orders wait for their flag and go out as SD-/WO- Invoices, proxies reach QuickBooks' refs
(the customer's and each line's item), a pair matched by hand merges, and the connection's timer syncs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.plugin_api_fixtures import QboApiRig, answer, item_of, qbo_api_rig
from tests.quickbooks_fixtures import SALE
from tests.test_intuit_pm_api_more import scheduled, serving_until


@pytest.fixture
async def rig() -> AsyncIterator[QboApiRig]:
    async with qbo_api_rig() as opened:
        yield opened


@pytest.fixture
async def sending_all() -> AsyncIterator[QboApiRig]:
    async with qbo_api_rig(options={"send_all": True, "income_account": "Sales"}) as opened:
        yield opened


def item_refs(recorded: dict[str, Any]) -> list[str]:
    """The ItemRef of each of a recorded Invoice's sales lines, in order (None for a line naming no item)."""
    details = [line["SalesItemLineDetail"] for line in recorded["Line"] if line["DetailType"] == "SalesItemLineDetail"]
    return [detail.get("ItemRef", {}).get("value") for detail in details]


# --- 6. ship docs and work orders -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "flag", "prefix"), [("ship_doc", "shipped", "SD-"), ("work_order", "finished", "WO-")]
)
async def test_a_ship_doc_or_work_order_waits_for_its_flag_then_send_all_records_it_as_a_prefixed_invoice(
    sending_all: QboApiRig, entity: str, flag: str, prefix: str
):
    rig = sending_all
    acme, acme_id = await rig.linked_customer("Acme Ltd")
    created = await rig.create(entity, name="1001", customer=acme, txn_date="2026-11-01", lines=[SALE], **{flag: False})

    synced = await rig.sync_now()
    exported = await rig.export_records(entity, created["id"])

    assert rig.sim.records("Invoice") == [], synced["summary"]
    held = item_of(exported, home_id=created["id"])
    assert (held["action"], held["reason"]) == ("skipped", f"not sent: not available to send until {flag} is True")
    assert (await rig.get_record(created["id"]))["links"] == []

    await rig.edit(created["id"], **{flag: True})
    sent = await rig.sync_now()

    (recorded,) = rig.sim.records("Invoice")
    assert (recorded["DocNumber"], recorded["CustomerRef"]["value"], recorded["TotalAmt"]) == (
        f"{prefix}1001",
        acme_id,
        150.0,
    )
    assert item_of(sent, home_id=created["id"])["action"] == "created"
    shown = await rig.get_record(created["id"])
    assert [(link["remote_id"], link["remote_name"]) for link in shown["links"]] == [(recorded["Id"], "1001")]
    assert shown["fields"][flag] is True and shown["pending"] is False
    again = await rig.sync_now()
    assert again["counts"]["created"] == 0 and len(rig.sim.records("Invoice")) == 1


# --- 7. proxies -------------------------------------------------------------------------------------------------


async def test_an_invoice_for_a_proxied_customer_and_a_proxied_item_carries_both_proxies_refs(sending_all: QboApiRig):
    rig = sending_all
    rig.sim.seed({"Account": [{"Name": "Sales", "AccountType": "Income"}]})
    web, web_id = await rig.linked_customer("Web Customer")
    (tape_id,) = rig.seed("Item", {"Name": "Tape", "Type": "NonInventory"})
    tape = await rig.load("item", "Tape", hidden=False)
    await rig.sync_now(entities=["item"])
    jane = await rig.create("customer", name="Jane Shopper", proxy_id=web, email="jane@example.com", hidden=False)
    blue = await rig.create("item", name="Blue tape", proxy_id=tape.id, item_type="NonInventory", hidden=False)
    line = {"description": "Blue tape", "quantity": 4, "unit_price": 2.5, "amount": 10.0, "item": blue["id"]}
    invoice = await rig.create("invoice", name="WEB-2", customer=jane["id"], lines=[line, SALE])

    result = await rig.sync_now()

    assert result["counts"]["failed"] == 0, result["summary"]
    (recorded,) = rig.sim.records("Invoice")
    assert recorded["CustomerRef"] == {"value": web_id, "name": "Web Customer"}
    assert item_refs(recorded) == [tape_id, None]
    assert rig.remote_named("Customer", "Jane Shopper") == [] and rig.remote_named("Item", "Blue tape", "Name") == []
    assert (await rig.get_record(jane["id"]))["links"] == [] and (await rig.get_record(blue["id"]))["links"] == []
    shown = await rig.get_record(invoice["id"])
    assert [link["remote_id"] for link in shown["links"]] == [recorded["Id"]]
    assert shown["fields"]["lines"][0]["item"] == blue["id"]  # the hub still names its own item


# --- 8. matching a pair by hand ---------------------------------------------------------------------------------


async def test_a_pair_matched_by_hand_is_linked_manually_and_merged_under_the_first_sync_rules(rig: QboApiRig):
    remote_id = rig.customer("Acme Limited", PrimaryPhone={"FreeFormNumber": "0113 496 0000"},
                             PrimaryEmailAddr={"Address": "old@acme.example"})
    await rig.load("customer", "Bolt Inc", hidden=False)
    await rig.sync_now(entities=["customer"])
    # Typed into the hub after QuickBooks' record was last changed, so the hub's side is the newer.
    home = await rig.load("customer", "Acme Ltd", email="ap@acme.example", hidden=False)
    assert {row["state"] for row in await rig.links(entity="customer", show="unmatched", search="acme")} == {
        "unmatched home",
        "unmatched remote",
    }
    pair = {"entity": "customer", "home_id": home.id, "remote_id": remote_id}
    assert (await rig.standard.post(f"{rig.at}/links", json=pair)).status_code == 403

    linked = answer(await rig.admin.post(f"{rig.at}/links", json=pair), 201)

    assert (linked["link"]["how"], linked["link"]["remote_id"], linked["run"]["status"]) == (
        "manual",
        remote_id,
        "success",
    )
    # The hub's side changed last: its name and e-mail go to QuickBooks; the phone only QuickBooks has comes home.
    stored = rig.remote("Customer", remote_id)
    assert (stored["DisplayName"], stored["PrimaryEmailAddr"]) == ("Acme Ltd", {"Address": "ap@acme.example"})
    changes = item_of(linked["run"], remote_id=remote_id)["changes"]
    assert {(c["field"], c["direction"], c["rule"]) for c in changes} == {
        ("name", "to_remote", "newest"),
        ("email", "to_remote", "newest"),
        ("phone", "to_home", "newest"),
    }
    (row,) = await rig.links(entity="customer", show="linked", search="acme")
    assert (row["state"], row["home_id"], row["remote_id"]) == ("linked (manual)", home.id, remote_id)

    rig.edit_remote("Customer", remote_id, Notes="net 30")  # QuickBooks' side changes last now
    writes = len(rig.writes())
    later = await rig.sync_now(entities=["customer"])

    assert later["status"] == "success", later["summary"]
    fields = (await rig.get_record(home.id))["fields"]
    assert (fields["notes"], fields["email"], fields["phone"]) == ("net 30", "ap@acme.example", "0113 496 0000")
    assert rig.writes()[writes:] == []


# --- 9. the timer -----------------------------------------------------------------------------------------------


async def test_the_connections_timer_runs_a_quickbooks_sync_recorded_as_a_timer_sync(rig: QboApiRig):
    acme = await rig.load("customer", "Acme Ltd", hidden=False)
    acme_id = rig.customer("Acme Ltd", Notes="from QuickBooks")
    start = rig.clock.now

    with scheduled(rig.hub, rig.connection, "15m"):
        async with serving_until(rig.hub, rig.clock, start + timedelta(minutes=20)) as client:
            shown = answer(await client.get("/api/runs", params={"connection": rig.connection}))

    (run,) = shown
    assert (run["trigger"], run["actor"], run["status"]) == ("timer", "scheduler", "success")
    assert datetime.fromisoformat(run["started_at"]) >= start + timedelta(minutes=15)
    record = await rig.get_record(acme.id)
    assert [link["remote_id"] for link in record["links"]] == [acme_id]
    assert record["fields"]["notes"] == "from QuickBooks"

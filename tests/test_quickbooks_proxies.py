"""Seed 004's proxies for vendors and items: a record behind a proxy is never created in QuickBooks itself, and
its transactions (for an item, its transaction lines) are recorded there through the proxy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.contracts import CONTRACTS_DIR, load_contract
from hub.engine import Scope
from hub.line_references import References
from hub.store import HomeRecord, Link, Store
from tests.quickbooks_fixtures import CONNECTION, QboRig, qbo_rig

SUPPLIES = {"description": "Packing tape", "amount": 12.5, "account": "7"}


@pytest.fixture
async def rig() -> AsyncIterator[QboRig]:
    async with qbo_rig(options={"send_all": True, "income_account": "Sales"}) as opened:
        yield opened


async def proxied_vendor(rig: QboRig) -> tuple[str, HomeRecord]:
    """'Web Vendor' in both places and linked, and a vendor a hub user adds behind it; the proxy's Id and the vendor."""
    (web_id,) = rig.seed("Vendor", {"DisplayName": "Web Vendor"})
    web = await rig.load("vendor", "Web Vendor", hidden=False)
    await rig.sync(Scope(entities=("vendor",)))
    assert await rig.remote_id(web) == web_id
    jane = await rig.create_at_home("vendor", "Jane Supplies", proxy_id=web.id, email="jane@example.com", hidden=False)
    return web_id, jane


async def test_a_bill_for_a_proxied_vendor_is_recorded_against_the_proxy_which_alone_is_in_quickbooks(rig: QboRig):
    web_id, jane = await proxied_vendor(rig)
    bill = await rig.load("bill", "B-100", vendor=jane.id, lines=[SUPPLIES])

    await rig.sync()

    assert rig.remote_named("Vendor", "Jane Supplies") == []
    assert await rig.remote_id(jane) is None
    (recorded,) = rig.sim.records("Bill")
    assert (recorded["DocNumber"], recorded["VendorRef"]) == ("B-100", {"value": web_id, "name": "Web Vendor"})
    assert await rig.remote_id(bill) == recorded["Id"]


async def test_a_second_sync_sends_the_proxied_vendor_and_its_bill_nowhere(rig: QboRig):
    _web_id, jane = await proxied_vendor(rig)
    await rig.load("bill", "B-101", vendor=jane.id, lines=[SUPPLIES])
    await rig.sync()
    before = len(rig.writes())

    await rig.sync()

    assert rig.writes()[before:] == []
    assert [row["DisplayName"] for row in rig.sim.records("Vendor")] == ["Web Vendor"]


async def test_a_quickbooks_edit_to_a_proxied_vendors_bill_sends_nothing_back(rig: QboRig):
    _web_id, jane = await proxied_vendor(rig)
    bill = await rig.load("bill", "B-102", vendor=jane.id, lines=[SUPPLIES])
    await rig.sync()
    remote_id = await rig.remote_id(bill)
    assert remote_id is not None
    rig.edit_remote("Bill", remote_id, PrivateNote="checked by accounts")
    before = len(rig.writes())

    await rig.sync(Scope(entities=("bill",)))

    assert rig.writes()[before:] == []


async def proxied_item(rig: QboRig) -> tuple[str, HomeRecord]:
    """'Tape' in both places and linked, and an item a hub user adds behind it; the proxy's Item Id and the item."""
    rig.sim.seed({"Account": [{"Name": "Sales", "AccountType": "Income"}]})
    (tape_id,) = rig.seed("Item", {"Name": "Tape", "Type": "NonInventory"})
    tape = await rig.load("item", "Tape", hidden=False)
    await rig.sync(Scope(entities=("item",)))
    assert await rig.remote_id(tape) == tape_id
    blue = await rig.create_at_home("item", "Blue tape", proxy_id=tape.id, item_type="NonInventory", hidden=False)
    return tape_id, blue


async def linked_customer(rig: QboRig) -> HomeRecord:
    """'Acme Ltd' in both places, linked by name."""
    rig.customer("Acme Ltd")
    acme = await rig.load("customer", "Acme Ltd", hidden=False)
    await rig.sync(Scope(entities=("customer",)))
    return acme


def sold(item: HomeRecord, quantity: int = 4) -> dict[str, Any]:
    """A home invoice line selling some of a home item."""
    return {"description": item.name, "quantity": quantity, "unit_price": 2.5, "amount": 2.5 * quantity,
            "item": item.id}


def item_refs(recorded: dict[str, Any]) -> list[str]:
    """The Item Ids a recorded transaction's item lines name, in order."""
    return [line[line["DetailType"]]["ItemRef"]["value"] for line in recorded["Line"]
            if line["DetailType"] in ("SalesItemLineDetail", "ItemBasedExpenseLineDetail")]


async def test_an_item_behind_a_proxy_is_never_created_in_quickbooks_and_an_export_says_why(rig: QboRig):
    _tape_id, blue = await proxied_item(rig)
    tape = (await rig.home_named("item", "Tape"))[0]

    await rig.sync(Scope(entities=("item",)))
    exported = await rig.sync(Scope(entities=("item",), create_remote=True, record_ids=(blue.id,)))

    assert [row["Name"] for row in rig.sim.records("Item")] == ["Tape"]
    assert await rig.remote_id(blue) is None
    (held,) = await rig.items(exported, "item")
    assert (held["action"], held["reason"]) == (
        "skipped",
        f"not sent: recorded remotely through its proxy (proxy_id = {tape.id})",
    )


# --- item proxies reach transaction lines ------------------------------------------------------------------------


async def test_an_invoice_line_for_a_proxied_item_is_recorded_with_the_proxys_item(rig: QboRig):
    tape_id, blue = await proxied_item(rig)
    acme = await linked_customer(rig)
    invoice = await rig.load("invoice", "1001", customer=acme.id, lines=[sold(blue)])

    result = await rig.sync()

    assert result.counts["failed"] == 0, result
    (recorded,) = rig.sim.records("Invoice")
    assert item_refs(recorded) == [tape_id]
    assert await rig.remote_id(invoice) == recorded["Id"]
    assert (await rig.home(invoice)).fields["lines"] == [sold(blue)]
    assert [row["Name"] for row in rig.sim.records("Item")] == ["Tape"]


async def test_a_bill_line_for_a_proxied_item_is_an_item_line_for_the_proxy(rig: QboRig):
    tape_id, blue = await proxied_item(rig)
    (web_id,) = rig.seed("Vendor", {"DisplayName": "Web Vendor"})
    web = await rig.load("vendor", "Web Vendor", hidden=False)
    await rig.sync(Scope(entities=("vendor",)))
    await rig.load("bill", "B-200", vendor=web.id, lines=[sold(blue, 10), SUPPLIES])

    await rig.sync()

    (recorded,) = rig.sim.records("Bill")
    assert recorded["VendorRef"]["value"] == web_id
    assert item_refs(recorded) == [tape_id]
    assert [line["DetailType"] for line in recorded["Line"]] == [
        "ItemBasedExpenseLineDetail", "AccountBasedExpenseLineDetail"]


async def test_a_quickbooks_edit_to_an_invoice_for_a_proxied_item_sends_nothing_back(rig: QboRig):
    _tape_id, blue = await proxied_item(rig)
    acme = await linked_customer(rig)
    invoice = await rig.load("invoice", "1002", customer=acme.id, lines=[sold(blue)])
    await rig.sync()
    remote_id = await rig.remote_id(invoice)
    assert remote_id is not None
    rig.edit_remote("Invoice", remote_id, PrivateNote="checked by accounts")
    before = len(rig.writes())

    result = await rig.sync(Scope(entities=("invoice",)))
    await rig.sync()

    assert rig.writes()[before:] == []
    assert result.counts["failed"] == 0, result
    assert (await rig.home(invoice)).fields["lines"] == [sold(blue)]


async def test_a_line_naming_an_item_not_in_quickbooks_yet_fails_its_invoice_naming_the_line(rig: QboRig):
    _tape_id, blue = await proxied_item(rig)
    acme = await linked_customer(rig)
    pen = await rig.load("item", "Red pen", hidden=False)
    invoice = await rig.load("invoice", "1003", customer=acme.id, lines=[sold(blue), sold(pen, 2)])

    result = await rig.sync(Scope(entities=("invoice",)))

    assert rig.sim.records("Invoice") == []
    assert await rig.remote_id(invoice) is None
    (failed,) = await rig.items(result, "invoice")
    assert failed["action"] == "failed"
    assert failed["error"] == "invoice line 2: item 'Red pen' is not linked to QuickBooks Online yet"
    assert result.status == "completed with 1 error", result


async def moved_to_an_unknown_item(rig: QboRig, number: str) -> tuple[HomeRecord, str, str, HomeRecord]:
    """An invoice for a proxied item, recorded; then QuickBooks moves its line to "Glue", which the hub has not.
    Returns the invoice, its QuickBooks Id, Glue's Item Id and the proxied home item."""
    _tape_id, blue = await proxied_item(rig)
    acme = await linked_customer(rig)
    invoice = await rig.load("invoice", number, customer=acme.id, lines=[sold(blue)])
    await rig.sync()
    remote_id = await rig.remote_id(invoice)
    assert remote_id is not None
    (glue_id,) = rig.seed("Item", {"Name": "Glue", "Type": "NonInventory"})
    line = {"Amount": 10.0, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": glue_id}}}
    rig.edit_remote("Invoice", remote_id, Line=[line])
    return invoice, remote_id, glue_id, blue


async def test_a_line_quickbooks_moved_to_an_item_no_home_item_is_linked_to_fails_naming_the_item_id(rig: QboRig):
    invoice, remote_id, glue_id, blue = await moved_to_an_unknown_item(rig, "1004")
    before = len(rig.writes())

    result = await rig.sync(Scope(entities=("invoice",)))

    (failed,) = await rig.items(result, "invoice")
    assert (failed["action"], failed["home_id"], failed["remote_id"]) == ("failed", invoice.id, remote_id)
    assert failed["reason"] == (
        f"not pulled: invoice line 1: QuickBooks Online Item Id {glue_id!r} is not linked to a home item; "
        "import it or link it to one, then sync again"
    )
    assert rig.writes()[before:] == []
    assert (await rig.home(invoice)).fields["lines"] == [sold(blue)]


async def test_a_hub_edit_waits_while_quickbooks_names_an_unknown_item_and_goes_once_it_is_imported(rig: QboRig):
    invoice, remote_id, glue_id, _blue = await moved_to_an_unknown_item(rig, "1005")
    await rig.edit_at_home(invoice, memo="Thank you")

    waiting = await rig.sync(Scope(entities=("invoice",)))

    assert "CustomerMemo" not in rig.remote("Invoice", remote_id)
    reasons = [i["reason"] for i in await rig.items(waiting, "invoice")]
    assert reasons and all(f"QuickBooks Online Item Id {glue_id!r} is not linked" in r for r in reasons), reasons

    await rig.sync(Scope(entities=("item",), create_home=True, remote_ids=(glue_id,)))
    sent = await rig.sync(Scope(entities=("invoice",)))

    assert sent.counts["failed"] == 0, sent
    assert rig.remote("Invoice", remote_id)["CustomerMemo"] == {"value": "Thank you"}


async def test_an_invoice_keyed_in_quickbooks_for_an_item_the_hub_lacks_waits_on_the_unmatched_list(rig: QboRig):
    acme_id = rig.customer("Acme Ltd")
    rig.sim.seed({"Account": [{"Name": "Sales", "AccountType": "Income"}]})
    (glue_id,) = rig.seed("Item", {"Name": "Glue", "Type": "NonInventory"})
    line = {"Amount": 10.0, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": glue_id}}}
    rig.seed("Invoice", {"CustomerRef": {"value": acme_id}, "DocNumber": "7001", "Line": [line]})

    result = await rig.sync(Scope(entities=("invoice",)))

    assert result.counts["failed"] == 0, result
    unmatched = await rig.hub.store.unlinked_remote(CONNECTION, "invoice")
    assert [row["name"] for row in unmatched] == ["7001"]


# --- the resolution itself, over random lines ----------------------------------------------------------------------

HOME_ITEMS = {"bolt": "11", "nut": "12", "tape": "13"}
"""Home items linked to QuickBooks Items: home id -> Item Id."""
BEHIND = {"blue-tape": "tape", "red-tape": "tape", "brass-nut": "nut"}
"""Home items behind a proxy: home id -> the proxy's home id."""

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
invoice_lines = st.lists(
    st.fixed_dictionaries(
        {"amount": st.integers(0, 500)},
        optional={"item": st.sampled_from(sorted({*HOME_ITEMS, *BEHIND})), "description": st.text(max_size=8)},
    ),
    max_size=6,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(invoice_lines)
def test_lines_sent_out_and_read_back_name_the_home_items_they_named(home_lines: list[dict[str, Any]]):
    asyncio.run(_out_and_in(home_lines))


async def _out_and_in(home_lines: list[dict[str, Any]]) -> None:
    contract = load_contract(CONTRACTS_DIR / "quickbooks.json")
    mapping = contract.entity("invoice").field("lines")
    store = await Store.open(":memory:")
    try:
        async with store.transaction() as tx:
            for home_id, proxy in [*((h, None) for h in HOME_ITEMS), *BEHIND.items()]:
                fields = {"name": home_id, "proxy_id": proxy}
                await store.insert_record(tx, "item", fields, at=AT, record_id=home_id)
            for home_id, item_id in HOME_ITEMS.items():
                await store.insert_link(tx, Link(0, CONNECTION, "item", home_id, item_id, None, "created", None,
                                                 None, {}, {}, None, "2026-11-02T09:00:00Z", None))
        references = References(store, CONNECTION, contract)
        asked = [dict(line) for line in home_lines]

        sent = await references.lines_to_remote("invoice", mapping, home_lines)
        read = await references.lines_to_home("invoice", mapping, sent)

        assert [line.get("item") for line in sent] == [
            HOME_ITEMS.get(BEHIND.get(line.get("item"), line.get("item"))) for line in home_lines]
        assert await references.lines_as_home_reads_them(mapping, home_lines, read) == home_lines
        assert home_lines == asked  # resolving copies the lines: the home record's own are left as they were
    finally:
        await store.close()

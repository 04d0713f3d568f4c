"""Seed 004's proxies for vendors and items: a record behind a proxy is never created in QuickBooks itself."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hub.engine import Scope
from hub.store import HomeRecord
from tests.quickbooks_fixtures import QboRig, qbo_rig

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


async def test_an_item_behind_a_proxy_is_never_created_in_quickbooks_and_an_export_says_why(rig: QboRig):
    rig.sim.seed({"Account": [{"Name": "Sales", "AccountType": "Income"}]})
    (tape_id,) = rig.seed("Item", {"Name": "Tape", "Type": "NonInventory"})
    tape = await rig.load("item", "Tape", hidden=False)
    await rig.sync(Scope(entities=("item",)))
    assert await rig.remote_id(tape) == tape_id
    blue = await rig.create_at_home("item", "Blue tape", proxy_id=tape.id, item_type="NonInventory", hidden=False)

    await rig.sync(Scope(entities=("item",)))
    exported = await rig.sync(Scope(entities=("item",), create_remote=True, record_ids=(blue.id,)))

    assert [row["Name"] for row in rig.sim.records("Item")] == ["Tape"]
    assert await rig.remote_id(blue) is None
    (held,) = await rig.items(exported, "item")
    assert (held["action"], held["reason"]) == (
        "skipped",
        f"not sent: recorded remotely through its proxy (proxy_id = {tape.id})",
    )

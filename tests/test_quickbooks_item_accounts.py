"""Items the hub creates in QuickBooks carry the accounts the connection names, as QuickBooks requires."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hub.config import Connection
from hub.engine import Scope
from hub.errors import ConfigError
from plugins.quickbooks.system import QuickBooks
from tests.quickbooks_fixtures import CONNECTION, REALM, QboRig, qbo_rig


async def export(rig: QboRig, *names: str, **fields: Any) -> list[dict[str, Any]]:
    """Export home items with these names (as "Export Selected"); returns the run's items."""
    records = [await rig.load("item", name, hidden=False, **fields) for name in names]
    result = await rig.sync(Scope(entities=("item",), create_remote=True, record_ids=tuple(r.id for r in records)))
    return await rig.items(result, "item")


def accounts(rig: QboRig, *names: str) -> list[str]:
    """Accounts in the QuickBooks company; returns their Ids."""
    return rig.seed("Account", *({"Name": name, "AccountType": "Income"} for name in names))


async def test_without_an_income_account_no_item_is_sent_and_the_run_says_which_option_to_set():
    async with qbo_rig() as rig:
        (item,) = await export(rig, "Bolt", item_type="Service")

    assert item["action"] == "failed"
    assert "set connections.qbo.options.income_account to an Account Id or name" in item["reason"]
    assert rig.sim.records("Item") == []


async def test_an_income_account_named_by_name_is_looked_up_once_and_sent_with_every_item():
    async with qbo_rig(options={"income_account": "Sales"}) as rig:
        _other, sales_id = accounts(rig, "Services", "Sales")
        items = await export(rig, "Bolt", "Nut", item_type="Service")

    assert [item["action"] for item in items] == ["created", "created"]
    assert [row["IncomeAccountRef"] for row in rig.sim.records("Item")] == [{"value": sales_id, "name": "Sales"}] * 2
    lookups = [c for c in rig.calls("query") if b"FROM Account" in c.body]
    assert [c.body for c in lookups] == [b"SELECT * FROM Account WHERE Name = 'Sales'"]


async def test_an_income_account_named_by_id_is_sent_as_that_account():
    async with qbo_rig(options={"income_account": 2}) as rig:
        accounts(rig, "Services", "Sales")
        (item,) = await export(rig, "Bolt", item_type="NonInventory")

    assert item["action"] == "created"
    assert rig.sim.records("Item")[0]["IncomeAccountRef"] == {"value": "2", "name": "Sales"}


async def test_an_account_quickbooks_does_not_have_fails_the_item_with_the_option_named():
    async with qbo_rig(options={"income_account": "Sales"}) as rig:
        accounts(rig, "Services")
        (item,) = await export(rig, "Bolt", item_type="Service")

    assert item["action"] == "failed"
    assert "options.income_account: QuickBooks Online has no active Account with Name 'Sales'" in item["reason"]


async def test_an_inventory_item_gets_its_three_accounts_and_an_opening_quantity_of_zero():
    options = {"income_account": "Sales", "expense_account": "Cost of Goods Sold", "inventory_asset_account": "Stock"}
    async with qbo_rig(options=options) as rig:
        accounts(rig, "Sales", "Cost of Goods Sold", "Stock")
        (item,) = await export(rig, "Bolt", item_type="Inventory")

    assert item["action"] == "created"
    (row,) = rig.sim.records("Item")
    assert [row[ref]["name"] for ref in ("IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef")] == [
        "Sales",
        "Cost of Goods Sold",
        "Stock",
    ]
    assert (row["TrackQtyOnHand"], row["QtyOnHand"], row["InvStartDate"]) == (True, 0, "2026-11-02")


async def test_an_inventory_item_without_its_asset_account_names_the_missing_options():
    async with qbo_rig(options={"income_account": "Sales"}) as rig:
        accounts(rig, "Sales")
        (item,) = await export(rig, "Bolt", item_type="Inventory")

    assert item["action"] == "failed"
    assert "options.expense_account and connections.qbo.options.inventory_asset_account" in item["reason"]


@pytest.mark.parametrize("value", [True, "  ", 1.5])
async def test_an_account_option_that_names_nothing_is_a_configuration_error(value: Any):
    options = {"realm_id": REALM, "income_account": value}
    connection = Connection(CONNECTION, "quickbooks", options=options, secrets={"access_token": "token"})
    async with httpx.AsyncClient() as http:
        with pytest.raises(ConfigError, match=r"options\.income_account: give a QuickBooks Account Id or name"):
            QuickBooks(connection, http)


async def test_items_exported_together_go_in_one_batch_and_one_refused_before_sending_fails_alone():
    async with qbo_rig(options={"income_account": "Sales"}) as rig:
        accounts(rig, "Sales")
        bolt = await rig.load("item", "Bolt", hidden=False, item_type="Service")
        crate = await rig.load("item", "Crate", hidden=False, item_type="Inventory")  # no asset account named
        nut = await rig.load("item", "Nut", hidden=False, item_type="Service")
        result = await rig.sync(Scope(entities=("item",), create_remote=True, record_ids=(bolt.id, crate.id, nut.id)))
        items = await rig.items(result, "item")

    assert {item["name"]: item["action"] for item in items} == {"Bolt": "created", "Crate": "failed", "Nut": "created"}
    assert [call.resource for call in rig.writes()] == ["batch"]
    (batch,) = rig.writes()
    assert [sorted(request) for request in batch.json()["BatchItemRequest"]] == [["Item", "bId", "operation"]] * 2
    assert sorted(row["Name"] for row in rig.sim.records("Item")) == ["Bolt", "Nut"]

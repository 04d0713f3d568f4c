"""The accounts a new Item posts to, named by the connection's options and looked up once in QuickBooks.

QuickBooks refuses an Item without an account (fault 2020, "Required parameter ExpenseAccountRef or
IncomeAccountRef is missing in the request") and has no company default to fall back on, so the connection
names them: ``income_account`` for every Item, and for an Inventory Item ``expense_account`` (its cost of
goods sold) and ``inventory_asset_account`` as well. A value of digits is an Account Id, anything else an
Account's name; either way one query checks it names an active Account, and the answer is kept.
"""

from __future__ import annotations

from typing import Any

from hub.config import Connection
from hub.errors import ConfigError, RecordError
from plugins.quickbooks.client import QboClient
from plugins.quickbooks.queries import quoted

OPTIONS = {
    "IncomeAccountRef": "income_account",
    "ExpenseAccountRef": "expense_account",
    "AssetAccountRef": "inventory_asset_account",
}
"""The Item's account references and the connection option naming each."""

INVENTORY_NEEDS = ("IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef")
"""An Inventory Item needs all three accounts; the other types need the income account."""


class ItemAccounts:
    """The account references a new Item gets, resolved from the connection's options on first use."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection.name
        self.named: dict[str, str] = {}
        for ref, option in OPTIONS.items():
            value = connection.options.get(option)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
                raise ConfigError(
                    f"connections.{connection.name}.options.{option}: give a QuickBooks Account Id or name, "
                    f"not {value!r}"
                )
            self.named[ref] = str(value).strip()
        self._found: dict[str, dict[str, str]] = {}

    async def refs(self, client: QboClient, item_type: Any) -> dict[str, dict[str, str]]:
        """The references an Item of this type is created with, or a RecordError naming the missing option."""
        wanted = INVENTORY_NEEDS if item_type == "Inventory" else ("IncomeAccountRef",)
        missing = [OPTIONS[ref] for ref in wanted if ref not in self.named]
        if missing:
            kind = "an Inventory item" if item_type == "Inventory" else "an item"
            raise RecordError(
                f"QuickBooks Online needs accounts to create {kind}: set "
                + " and ".join(f"connections.{self.connection}.options.{option}" for option in missing)
                + " to an Account Id or name"
            )
        # An expense account, when one is named, goes on every Item: the hub sends its purchase cost too.
        sent = (*wanted, "ExpenseAccountRef") if "ExpenseAccountRef" in self.named else wanted
        return {ref: await self._resolve(client, ref) for ref in dict.fromkeys(sent)}

    async def _resolve(self, client: QboClient, ref: str) -> dict[str, str]:
        if ref not in self._found:
            value = self.named[ref]
            key = "Id" if value.isascii() and value.isdigit() else "Name"
            found = (await client.query(f"SELECT * FROM Account WHERE {key} = {quoted(value)}")).get("Account", [])
            where = f"connections.{self.connection}.options.{OPTIONS[ref]}"
            if not found:
                raise RecordError(f"{where}: QuickBooks Online has no active Account with {key} {value!r}")
            if len(found) > 1:
                ids = ", ".join(str(row.get("Id")) for row in found)
                raise RecordError(f"{where}: several Accounts are named {value!r} (Ids {ids}); give the Id instead")
            self._found[ref] = {"value": str(found[0]["Id"]), "name": str(found[0].get("Name", value))}
        return self._found[ref]

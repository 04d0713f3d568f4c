"""Transaction lines: the hub's plain line dicts turned into QuickBooks ``Line`` objects and back.

A home invoice line (``qbo_lines``) is ``{"description", "amount", "quantity", "unit_price", "item"}``, where
every key but ``amount`` may be left out (an amount missing next to a quantity and a unit price is worked out).
A home bill line (``qbo_bill_lines``) names either an ``item`` (with ``quantity`` and ``unit_price``) or an
``account`` (a QuickBooks Account Id). Lines QuickBooks adds itself (subtotals, discounts, groups) are not home
lines and are left out on the way in.

At home a line's ``item`` is a home item. The contract declares it (``"references": {"item": "item"}``), so the
engine hands these transforms lines whose ``item`` is already the QuickBooks Item Id it is linked to (the
proxy's, for an item behind one), and turns the Item Ids they give back into home items: here ``item`` is
always a QuickBooks Item Id.
"""

from __future__ import annotations

from typing import Any

from hub.errors import RecordError
from hub.types import UNSET


def _number(line: dict[str, Any], key: str, where: str) -> float | int | None:
    value = line.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"{where}: {key} must be a number, not {value!r}")
    return value


def _amount(line: dict[str, Any], where: str) -> float | int:
    amount = _number(line, "amount", where)
    quantity, price = _number(line, "quantity", where), _number(line, "unit_price", where)
    if amount is None and quantity is not None and price is not None:
        amount = round(quantity * price, 2)
    if amount is None:
        raise RecordError(f"{where} has no amount (and no quantity and unit price to work it out from)")
    return amount


def _lines(value: Any, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """The lines, each with the words that name it in an error ("invoice line 2")."""
    if not isinstance(value, list):
        raise RecordError(f"{kind} lines must be a list of lines, not {type(value).__name__}")
    numbered = [(f"{kind} line {number}", line) for number, line in enumerate(value, start=1)]
    for where, line in numbered:
        if not isinstance(line, dict):
            raise RecordError(f"{where} is not a line (a JSON object)")
    return numbered


def _quantities(line: dict[str, Any], where: str) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    if line.get("item") is not None:
        detail["ItemRef"] = {"value": str(line["item"])}
    if (quantity := _number(line, "quantity", where)) is not None:
        detail["Qty"] = quantity
    if (price := _number(line, "unit_price", where)) is not None:
        detail["UnitPrice"] = price
    return detail


def _home_line(line: dict[str, Any], detail: dict[str, Any]) -> dict[str, Any]:
    found = {
        "description": line.get("Description"),
        "amount": line.get("Amount"),
        "quantity": detail.get("Qty"),
        "unit_price": detail.get("UnitPrice"),
        "item": _reference(detail, "ItemRef"),
        "account": _reference(detail, "AccountRef"),
    }
    return {key: value for key, value in found.items() if value is not None}


def _reference(detail: dict[str, Any], key: str) -> Any:
    ref = detail.get(key)
    return ref.get("value") if isinstance(ref, dict) else None


def _detail(line: Any, kinds: tuple[str, ...]) -> dict[str, Any] | None:
    """The line's detail object, if the line is one of ``kinds`` (None for lines QuickBooks adds itself)."""
    if not isinstance(line, dict) or line.get("DetailType") not in kinds:
        return None
    detail = line.get(line["DetailType"])
    return detail if isinstance(detail, dict) else {}


class InvoiceLines:
    """``qbo_lines``: home invoice lines and QuickBooks ``SalesItemLineDetail`` lines."""

    def to_home(self, value: Any) -> Any:
        """QuickBooks lines as home lines (subtotals and other lines QuickBooks adds are left out)."""
        if not isinstance(value, list):
            return value if value is UNSET else None
        return [
            _home_line(line, detail)
            for line in value
            if (detail := _detail(line, ("SalesItemLineDetail",))) is not None
        ]

    def to_remote(self, value: Any) -> Any:
        """Home lines as QuickBooks sales lines; RecordError names a line that cannot be one."""
        if value is UNSET or value is None:
            return value
        return [
            _with_description(
                line,
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": _amount(line, where),
                    "SalesItemLineDetail": _quantities(line, where),
                },
            )
            for where, line in _lines(value, "invoice")
        ]


class BillLines:
    """``qbo_bill_lines``: home bill lines and QuickBooks item- or account-based expense lines."""

    def to_home(self, value: Any) -> Any:
        """QuickBooks expense lines as home lines."""
        if not isinstance(value, list):
            return value if value is UNSET else None
        kinds = ("ItemBasedExpenseLineDetail", "AccountBasedExpenseLineDetail")
        return [_home_line(line, detail) for line in value if (detail := _detail(line, kinds)) is not None]

    def to_remote(self, value: Any) -> Any:
        """Home lines as QuickBooks expense lines; RecordError names a line with neither item nor account."""
        if value is UNSET or value is None:
            return value
        lines = []
        for where, line in _lines(value, "bill"):
            if line.get("item") is not None:
                kind, detail = "ItemBasedExpenseLineDetail", _quantities(line, where)
            elif line.get("account") is not None:
                kind, detail = "AccountBasedExpenseLineDetail", {"AccountRef": {"value": str(line["account"])}}
            else:
                raise RecordError(f"{where} names neither an item nor an account")
            lines.append(_with_description(line, {"DetailType": kind, "Amount": _amount(line, where), kind: detail}))
        return lines


def _with_description(line: dict[str, Any], remote: dict[str, Any]) -> dict[str, Any]:
    if line.get("description"):
        remote["Description"] = str(line["description"])
    return remote


TRANSFORMS = {"qbo_lines": InvoiceLines(), "qbo_bill_lines": BillLines()}
"""The transforms the QuickBooks contract names, by name."""

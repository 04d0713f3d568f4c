"""The Enterprise package components transform: home snake_case components <-> the hub-defined wire names."""

from __future__ import annotations

from typing import Any

from hub.types import UNSET

COMPONENT_FIELDS = (
    ("replication_key", "BillableItemReplicationKey"),
    ("quantity", "Quantity"),
    ("min_quantity", "MinimumQuantity"),
    ("max_quantity", "MaximumQuantity"),
    ("service_fee_quantity", "ServiceFeeQuantity"),
    ("service_fee_min_quantity", "ServiceFeeMinQuantity"),
    ("service_fee_max_quantity", "ServiceFeeMaxQuantity"),
    ("price_override", "PriceOverride"),
    ("min_price", "MinPrice"),
    ("max_price", "MaxPrice"),
)
"""The billable item a component names, then seed 000's nine package component properties."""


class PackageComponents:
    """A package's component list, renamed field by field; properties a component lacks stay out."""

    def to_home(self, value: Any) -> Any:
        """Wire components into home components."""
        return _rename(value, {wire: home for home, wire in COMPONENT_FIELDS})

    def to_remote(self, value: Any) -> Any:
        """Home components into wire components."""
        return _rename(value, dict(COMPONENT_FIELDS))


def _rename(value: Any, names: dict[str, str]) -> Any:
    if value is UNSET or value is None or not isinstance(value, list):
        return value
    return [{names[key]: item[key] for key in names if isinstance(item, dict) and key in item} for item in value]

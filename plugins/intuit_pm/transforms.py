"""The ``karbon_address`` transform: the hub's address dict and a Karbon business card address, both ways."""

from __future__ import annotations

from typing import Any

from hub.types import UNSET, is_blank

HOME_TO_KARBON = (
    ("lines", "AddressLines"),
    ("city", "City"),
    ("region", "StateProvinceCounty"),
    ("postcode", "ZipCode"),
    ("country", "CountryCode"),
)
"""Home address part and the Karbon address field that holds it."""

NEW_ADDRESS_LABEL = "Physical"
"""The label a new Karbon address gets; an existing address keeps its own (the plugin's update sees to that)."""


class KarbonAddress:
    """Home ``{lines, city, region, postcode, country}`` <-> Karbon ``{AddressLines, City, ..., Label}``.

    Blank parts are left out on both sides, so an address compares equal however its blanks were spelled.
    ``lines`` is text; several street lines are joined with newlines (a list of lines is accepted too).
    """

    def to_home(self, value: Any) -> Any:
        """A Karbon address as the hub's address dict, or None when it has no part filled in."""
        if value is UNSET:
            return UNSET
        if not isinstance(value, dict):
            return None
        address = {home: _text(value.get(karbon)) for home, karbon in HOME_TO_KARBON}
        return {part: text for part, text in address.items() if text} or None

    def to_remote(self, value: Any) -> Any:
        """The hub's address dict (or a one-line text) as a Karbon address, or None when it is blank."""
        if value is UNSET:
            return UNSET
        if isinstance(value, str):
            value = {"lines": value}
        if not isinstance(value, dict):
            return None
        lines = value.get("lines")
        if isinstance(lines, list | tuple):
            value = {**value, "lines": "\n".join(str(line) for line in lines if not is_blank(line))}
        address = {karbon: _text(value.get(home)) for home, karbon in HOME_TO_KARBON}
        address = {name: text for name, text in address.items() if text}
        return {**address, "Label": NEW_ADDRESS_LABEL} if address else None


def _text(value: Any) -> str:
    """A part as trimmed text; blank parts become the empty string."""
    return "" if is_blank(value) else str(value).strip()


KARBON_ADDRESS = KarbonAddress()

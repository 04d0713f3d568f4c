"""The ``xpm_custom_fields`` transform: XPM's ``<CustomField>`` elements as the hub's mapping of name to value.

XPM returns a client's or a job's custom field values from a call of their own
(``client.api/get/{uuid}/customfield``, ``job.api/get/{number}/customfield``): one ``<CustomField>`` per field
that holds a value, with its ``UUID``, ``Name`` and one value element, the one its definition's
``ValueElement`` names. The plugin puts those elements, each as a dict of element name to text, in a list under
the record's ``CustomFields``; this transform turns the list into ``{"Year end": "March", "Fee": 1200.5}``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from hub.errors import RecordError
from hub.types import UNSET, is_blank

_TRUE, _FALSE = frozenset({"true", "yes"}), frozenset({"false", "no"})


def _text(name: str, element: str, value: Any) -> str:
    """Text as it is (dates too: XPM's own ``2026-03-31T00:00:00`` form is kept)."""
    return str(value)


def _parsed(name: str, element: str, value: Any, what: str) -> Decimal:
    """A number from XML text or a JSON number; RecordError says which field holds what instead."""
    try:
        number = None if isinstance(value, bool) else Decimal(str(value).strip())
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise RecordError(f"XPM custom field {name!r}: {element} {value!r} is not {what}")
    return number


def _number(name: str, element: str, value: Any) -> int:
    """A whole number."""
    number = _parsed(name, element, value, "a whole number")
    if number != number.to_integral_value():
        raise RecordError(f"XPM custom field {name!r}: {element} {value!r} is not a whole number")
    return int(number)


def _decimal(name: str, element: str, value: Any) -> float:
    """A decimal number."""
    return float(_parsed(name, element, value, "a number"))


def _boolean(name: str, element: str, value: Any) -> bool:
    """A yes/no value: XML ``true``/``false`` (or XPM's ``Yes``/``No``), or a JSON boolean."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().casefold()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise RecordError(f"XPM custom field {name!r}: {element} {value!r} is not true or false")


VALUE_ELEMENTS = {"Text": _text, "Date": _text, "Number": _number, "Decimal": _decimal, "Boolean": _boolean}
"""The elements a custom field's value may be written in (a definition's ``ValueElement``), and how each reads."""


def _value(position: int, field: Any) -> tuple[str, Any]:
    """One ``<CustomField>`` as (name, value); the value is ``None`` when its value element is empty."""
    if not isinstance(field, dict):
        raise RecordError(f"XPM custom field {position} is not a <CustomField> element (got {type(field).__name__})")
    name = field.get("Name")
    if is_blank(name) or not isinstance(name, str):
        raise RecordError(f"XPM custom field {position} has no Name")
    held = {element: field[element] for element in VALUE_ELEMENTS if not is_blank(field.get(element))}
    if len(held) > 1:
        raise RecordError(f"XPM custom field {name!r} holds values in {', '.join(held)}: a field has one")
    if not held:
        return name, None
    ((element, value),) = held.items()
    return name, VALUE_ELEMENTS[element](name, element, value)


class CustomFieldValues:
    """Remote ``[{"UUID", "Name", "Text" | "Decimal" | ...}, ...]`` -> home ``{name: value}``; it only comes in.

    A field whose value element is empty (XPM's way to clear one) is left out, and so is a list with no values.
    """

    def to_home(self, value: Any) -> Any:
        """The custom fields as a mapping of name to typed value, or None when none holds a value."""
        if value is UNSET or value is None:
            return value
        if not isinstance(value, list):
            raise RecordError(f"XPM CustomFields must be a list of <CustomField> elements, not {type(value).__name__}")
        read = [_value(position, field) for position, field in enumerate(value, start=1)]
        names = [name for name, _ in read]
        if twice := sorted({name for name in names if names.count(name) > 1}):
            raise RecordError(f"XPM returned the custom field {twice[0]!r} twice")
        return {name: field_value for name, field_value in read if field_value is not None} or None

    def to_remote(self, value: Any) -> Any:
        """Refused: XPM is the master of custom field values, and the hub never writes them."""
        if value is UNSET or value is None:
            return value
        raise RecordError("XPM custom field values only come in from XPM (the contract never sends them): writing "
                          "them would need each definition's ValueElement, which the hub does not send")


XPM_CUSTOM_FIELDS = CustomFieldValues()

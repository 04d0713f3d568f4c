"""Which home type a QuickBooks Invoice belongs to: invoices, ship docs and work orders share the entity.

The hub writes a ship doc's number into ``DocNumber`` as ``SD-<number>`` and a work order's as
``WO-<number>``; an invoice's number goes as it is. Reading, each home type keeps only the Invoices whose
number carries its own prefix (the home type without one takes every Invoice that carries none, so an
invoice a person keyed into QuickBooks belongs to exactly one type) and sees the number without it. A CDC
deletion marker has no DocNumber: every type sharing the entity gets it, and the one holding the link
applies it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PREFIXES: Mapping[str, str] = {"ship_doc": "SD-", "work_order": "WO-"}
"""The DocNumber prefix of each home type recorded as another type's QuickBooks entity."""


class DocNumbers:
    """The home types sharing each QuickBooks entity, and how a row's DocNumber says which one it belongs to."""

    def __init__(self, remote_types: Mapping[str, str]) -> None:
        """``remote_types`` maps each home type to its QuickBooks entity."""
        sharing: dict[str, list[str]] = {}
        for entity, remote_type in remote_types.items():
            sharing.setdefault(remote_type, []).append(entity)
        self._siblings: dict[str, list[str]] = {}
        for remote_type, entities in sharing.items():
            if len(entities) < 2:
                continue
            unmarked = [entity for entity in entities if entity not in PREFIXES]
            if len(unmarked) != 1:
                raise ValueError(
                    f"home types {', '.join(entities)} share the QuickBooks {remote_type}: exactly one of them "
                    f"may go without a DocNumber prefix, not {len(unmarked)} ({', '.join(unmarked) or 'none'})"
                )
            for entity in entities:
                self._siblings[entity] = entities

    def owns(self, entity: str, row: dict[str, Any]) -> bool:
        """Whether a row of the entity's QuickBooks type belongs to this home type."""
        siblings = self._siblings.get(entity)
        if siblings is None or row.get("status") == "Deleted":
            return True
        number = str(row.get("DocNumber") or "").upper()
        marked = next((other for other in siblings if other in PREFIXES and number.startswith(PREFIXES[other])), None)
        return marked == entity or (marked is None and entity not in PREFIXES)

    def to_home(self, entity: str, row: dict[str, Any]) -> dict[str, Any]:
        """The row as the home type sees it: its DocNumber without the type's prefix."""
        prefix = PREFIXES.get(entity) if entity in self._siblings else None
        number = row.get("DocNumber")
        if prefix is None or not isinstance(number, str) or not number.upper().startswith(prefix):
            return row
        return {**row, "DocNumber": number[len(prefix) :]}

    def to_remote(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        """A create or update body with the type's prefix on the DocNumber it sends."""
        prefix = PREFIXES.get(entity) if entity in self._siblings else None
        number = body.get("DocNumber")
        if prefix is None or not isinstance(number, str) or not number:
            return body
        return {**body, "DocNumber": prefix + number}

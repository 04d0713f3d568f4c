"""Business cards: the primary card, a card with only the synced paths changed, and the bodies Karbon takes.

Karbon's PUT of a card replaces the whole card, so a change is always applied to the card as just read and the
whole card is sent back: other emails, phones, addresses, websites and social links stay as they were.
"""

from __future__ import annotations

import copy
from typing import Any

from hub.errors import RecordError
from hub.paths import get_path, parse_path, set_path
from hub.types import is_blank

CARD = "BusinessCard"
"""Where the plugin puts a record's primary card in its data (the contract's paths start with it)."""

CARD_LISTS = ("WebSites", "EmailAddresses", "Addresses", "PhoneNumbers")
KEPT_ON_UPDATE = ("AddressKey", "PhoneNumberKey", "Label")
"""What an address or phone the hub rewrites keeps of the one it replaces: its identity and its label."""


def primary_card(cards: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The card marked primary, else the first card, else None."""
    return next((card for card in cards if card.get("IsPrimaryCard") is True), cards[0] if cards else None)


def card_path(path: str) -> str:
    """A contract path inside the card (``BusinessCard.WebSites[0]`` -> ``WebSites[0]``); RecordError otherwise."""
    inner = path.removeprefix(f"{CARD}.")
    if inner == path:
        raise RecordError(f"the plugin writes only business card fields to Karbon, not {path!r}")
    return inner


def changed_card(card: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``card`` with only the given ``{contract path: value}`` changed; a blank value removes it."""
    updated = copy.deepcopy(card)
    for path, value in changes.items():
        inner = card_path(path)
        if is_blank(value):
            _remove(updated, inner)
            continue
        old = get_path(updated, inner)
        if isinstance(old, dict) and isinstance(value, dict):
            value = {**value, **{name: old[name] for name in KEPT_ON_UPDATE if not is_blank(old.get(name))}}
        set_path(updated, inner, value)
    for name in CARD_LISTS:
        if isinstance(updated.get(name), list):
            updated[name] = [item for item in updated[name] if item is not None]
    return updated


def new_card(values: dict[str, Any]) -> dict[str, Any]:
    """The primary card a new record is created with, from ``{contract path: value}``."""
    return changed_card({"IsPrimaryCard": True}, values)


def card_body(card: dict[str, Any]) -> dict[str, Any]:
    """A card as a PUT body: everything read, keys and all, bar nulls and OData annotations."""
    return {name: value for name, value in card.items() if value is not None and not name.startswith("@odata.")}


def _remove(card: dict[str, Any], inner: str) -> None:
    """Clear a path: a blank list entry (or a phone with a blank number) leaves its list; a blank text is nulled."""
    steps = parse_path(inner)
    index = next((i for i, step in enumerate(steps) if isinstance(step, int)), None)
    if index is None:
        set_path(card, inner, None)
        return
    holder: Any = card
    for step in steps[:index]:
        holder = holder.get(step) if isinstance(holder, dict) else None
    position = steps[index]
    if isinstance(holder, list) and isinstance(position, int) and position < len(holder):
        del holder[position]

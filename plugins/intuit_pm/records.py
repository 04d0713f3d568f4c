"""Karbon Organizations and Contacts as the hub sees them: which endpoint, which key, and the record's data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.errors import RecordError
from hub.types import RemoteRecord, is_blank

from .cards import CARD, primary_card


@dataclass(frozen=True)
class Kind:
    """What differs between the hub's two entity types on Karbon's wire."""

    entity: str
    collection: str
    entity_type: str
    writable: tuple[str, ...]
    """The fields a full PUT of the record carries (everything Karbon lets a client set, bar its cards and team)."""

    @property
    def key_field(self) -> str:
        """The field that holds the record's key, e.g. ``OrganizationKey``."""
        return f"{self.entity_type}Key"


_SHARED = (
    "ClientOwner",
    "ClientManager",
    "ContactType",
    "UserDefinedIdentifier",
    "RestrictionLevel",
    "EntityDescription",
    "AccountingDetail",
)
ORGANIZATION = Kind("account", "Organizations", "Organization", ("FullName", *_SHARED))
CONTACT = Kind(
    "contact",
    "Contacts",
    "Contact",
    ("FirstName", "MiddleName", "LastName", "PreferredName", "Salutation", "Suffix", *_SHARED),
)
KINDS = {kind.entity: kind for kind in (ORGANIZATION, CONTACT)}


def kind_of(entity: str) -> Kind:
    """The Karbon side of a hub entity type; a RecordError for one this plugin does not sync."""
    try:
        return KINDS[entity]
    except KeyError:
        raise RecordError(
            f"Intuit Practice Management has no entity type {entity!r} (it has: account, contact)"
        ) from None


def listed_items(kind: Kind, listing: dict[str, Any], what: str) -> list[dict[str, Any]]:
    """The items of a list answer, each checked to carry its key."""
    items = listing.get("value")
    if not isinstance(items, list):
        raise RecordError(f"Karbon answered {what} without a 'value' list")
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not _is_text(item.get(kind.key_field)):
            raise RecordError(f"Karbon answered {what} with item {index} lacking a {kind.key_field}")
    return items


def checked_detail(kind: Kind, detail: dict[str, Any], what: str, key: str | None = None) -> list[dict[str, Any]]:
    """Check a single-record answer (its key, and its cards when expanded); return its business cards."""
    found = detail.get(kind.key_field)
    if not _is_text(found) or (key is not None and found != key):
        raise RecordError(f"Karbon answered {what} with {kind.key_field} {found!r}, expected {key or 'a key'!r}")
    cards = detail.get("BusinessCards", [])
    if not isinstance(cards, list) or not all(
        isinstance(card, dict) and _is_text(card.get("BusinessCardKey")) for card in cards
    ):
        raise RecordError(f"Karbon answered {what} with BusinessCards that are not a list of keyed cards")
    return cards


def remote_record(
    kind: Kind, detail: dict[str, Any], summary: dict[str, Any] | None = None, *, what: str
) -> RemoteRecord:
    """A record from its detail (and list item): the fields plus its primary card under ``BusinessCard``."""
    merged = {**(summary or {}), **detail}
    data = {name: value for name, value in merged.items() if not name.startswith("@odata.") and name != "BusinessCards"}
    if kind is CONTACT and is_blank(data.get("FullName")):
        # A Contact's detail has no FullName; Karbon's list shows first, middle and last names joined [G].
        data["FullName"] = " ".join(
            str(data[part]) for part in ("FirstName", "MiddleName", "LastName") if not is_blank(data.get(part))
        )
    data[CARD] = primary_card(detail.get("BusinessCards") or []) or {}
    key = str(data[kind.key_field])
    return RemoteRecord(key, data, last_modified(data, what))


def last_modified(item: dict[str, Any], what: str) -> datetime | None:
    """An item's ``LastModifiedDateTime`` (seven fractional digits, ``Z``), or None when it has none."""
    value = item.get("LastModifiedDateTime")
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise RecordError(f"Karbon answered {what} with LastModifiedDateTime {value!r}, not a date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def split_name(name: str) -> dict[str, str]:
    """A person's ``FirstName`` and ``LastName`` from the hub's one name: the last word is the last name.

    Karbon requires both, so a one-word name fills both with that word ("Cher" -> "Cher" / "Cher").
    """
    words = name.split()
    if not words:
        raise RecordError("Karbon needs a first and a last name to create a contact, and the name is blank")
    if len(words) == 1:
        return {"FirstName": words[0], "LastName": words[0]}
    return {"FirstName": " ".join(words[:-1]), "LastName": words[-1]}


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())

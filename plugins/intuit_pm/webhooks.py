"""Karbon's Contact webhook: ``{ResourcePermaKey, ResourceType, ActionType, TimeStamp?}`` as hub events.

Karbon sends Organization (and Client Group) changes as ``ResourceType: "Contact"`` too, and the payload does
not say which it is. So each delivery becomes two events with the same key, one per hub entity type: the pull
of the wrong type finds nothing (a 404, which changes nothing), the right one syncs the record. A receiver that
would rather spend its calls up front can ask ``IntuitPracticeManagement.resolve_event`` first.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from hub.errors import MalformedPayload
from hub.safeparse import parse_json
from hub.types import WebhookEvent

ACTIONS = {"Inserted": "created", "Updated": "updated", "Deleted": "deleted"}
"""Karbon's ActionType and the hub's word for it."""

SYNCED_TYPE = "Contact"
"""The only ResourceType this plugin syncs (it covers People and Organizations)."""

ENTITIES = ("account", "contact")


def parse_contact_webhook(body: bytes) -> list[WebhookEvent]:
    """The events of one delivery (none for a resource type the hub does not sync); MalformedPayload says why not."""
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise MalformedPayload(f"the body is a JSON {type(payload).__name__}, not an object")
    key = _text(payload, "ResourcePermaKey")
    resource_type = _text(payload, "ResourceType")
    action = _text(payload, "ActionType")
    if resource_type != SYNCED_TYPE:
        return []  # Work, Note, User... deliveries to the same address concern nothing this hub syncs
    if action not in ACTIONS:
        raise MalformedPayload(f"ActionType {action!r} is not one of {', '.join(ACTIONS)}")
    occurred = _timestamp(payload.get("TimeStamp"))
    # Karbon sends no event id. With its TimeStamp the body names one change, and a retry repeats it; without,
    # a later update of the same record reads the same, so the hub's body key (taken again once done) must do.
    event_id = hashlib.sha256(body).hexdigest() if occurred else None
    extra = {"resource_type": resource_type, "action_type": action}
    return [WebhookEvent(entity, key, ACTIONS[action], event_id, occurred, extra=dict(extra)) for entity in ENTITIES]


def _text(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if value is None:
        raise MalformedPayload(f"{name} is missing")
    if not isinstance(value, str) or not value.strip():
        raise MalformedPayload(f"{name} must be non-empty text, got {value!r}")
    return value


def _timestamp(value: Any) -> datetime | None:
    """``TimeStamp`` (added by Karbon in 2024, so it may be absent) as an aware time."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise MalformedPayload(f"TimeStamp {value!r} is not an ISO 8601 date-time")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

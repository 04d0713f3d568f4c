"""QuickBooks Online webhook bodies, in both of Intuit's formats, split into the hub's events.

The legacy format is an object, ``{"eventNotifications": [{"realmId", "dataChangeEvent": {"entities":
[{"name", "id", "operation", "lastUpdated"}]}}]}``, one notification per company. The CloudEvents format is
an array of events, each with ``type`` ``qbo.<entity>.<verb>.v1``, the company in ``intuitaccountid``, the
record in ``intuitentityid``, its own ``id`` and a ``time``. The core checks the ``intuit-signature`` first.

Events for other companies are dropped, and so are entities no home type synced is recorded as. A record of
an entity several home types share (an Invoice: invoice, ship doc, work order) gives one event per type, and
each type's targeted pull keeps only its own. Both formats give the same actions (``created``, ``updated``,
``deleted``, ``merged``, ``voided``, ...) and an ``event_id``: CloudEvents' own ``id``, or for the legacy format
a hash of what the event says, which is the same when Intuit delivers the event again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from hub.errors import MalformedPayload
from hub.safeparse import parse_json
from hub.types import WebhookEvent

_LEGACY_ACTIONS = {
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "merge": "merged",
    "void": "voided",
    "emailed": "emailed",
}
_CLOUDEVENT_TYPE = re.compile(r"qbo\.(?P<entity>[A-Za-z]+)\.(?P<verb>[A-Za-z]+)\.v\d+")


HomeEntities = Mapping[str, Sequence[str]]
"""Each lower-case QuickBooks entity name and the home types recorded as it."""


def parse_webhook(body: bytes, realm_id: str, home_entities: HomeEntities) -> list[WebhookEvent]:
    """The events in a verified webhook body for one company, one per home type each QuickBooks record is."""
    payload = parse_json(body)
    if isinstance(payload, list):
        events = [_cloudevent(event, f"[{index}]", home_entities) for index, event in enumerate(payload)]
    elif isinstance(payload, dict) and "eventNotifications" in payload:
        events = _legacy(payload["eventNotifications"], home_entities)
    else:
        raise MalformedPayload("expected a CloudEvents array or an object with eventNotifications")
    # Until here an event names the QuickBooks entity; now it names each home type recorded as it.
    return [
        replace(event, entity=home)
        for event in events
        if event is not None and event.account == realm_id
        for home in home_entities[event.entity]
    ]


def _legacy(notifications: Any, home_entities: HomeEntities) -> list[WebhookEvent | None]:
    events: list[WebhookEvent | None] = []
    for index, notification in enumerate(_list(notifications, "eventNotifications")):
        where = f"eventNotifications[{index}]"
        realm = _text(_object(notification, where), "realmId", where)
        change = _object(notification.get("dataChangeEvent"), f"{where}.dataChangeEvent")
        for number, entity in enumerate(_list(change.get("entities"), f"{where}.dataChangeEvent.entities")):
            events.append(_legacy_event(realm, entity, f"{where}.dataChangeEvent.entities[{number}]", home_entities))
    return events


def _legacy_event(realm: str, entity: Any, where: str, home_entities: HomeEntities) -> WebhookEvent | None:
    entity = _object(entity, where)
    name, remote_id = _text(entity, "name", where), _text(entity, "id", where)
    operation = _text(entity, "operation", where)
    updated = entity.get("lastUpdated")
    if name.lower() not in home_entities:
        return None
    fingerprint = "|".join((realm, name, remote_id, operation, str(updated)))
    extra = {"deleted_id": str(entity["deletedId"])} if entity.get("deletedId") is not None else {}
    return WebhookEvent(
        entity=name.lower(),
        remote_id=remote_id,
        action=_LEGACY_ACTIONS.get(operation.lower(), operation.lower()),
        event_id=hashlib.sha256(fingerprint.encode()).hexdigest(),
        occurred_at=_moment(updated, f"{where}.lastUpdated"),
        account=realm,
        extra=extra,
    )


def _cloudevent(event: Any, where: str, home_entities: HomeEntities) -> WebhookEvent | None:
    event = _object(event, where)
    kind = _text(event, "type", where)
    match = _CLOUDEVENT_TYPE.fullmatch(kind)
    if match is None:
        raise MalformedPayload(f"{where}.type {kind!r} is not qbo.<entity>.<verb>.v<n>")
    event_id, realm = _text(event, "id", where), _text(event, "intuitaccountid", where)
    remote_id = _text(event, "intuitentityid", where)
    name = match["entity"].lower()
    if name not in home_entities:
        return None
    return WebhookEvent(
        entity=name,
        remote_id=remote_id,
        action=match["verb"].lower(),
        event_id=event_id,
        occurred_at=_moment(event.get("time"), f"{where}.time"),
        account=realm,
    )


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedPayload(f"{where} must be an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise MalformedPayload(f"{where} must be an array")
    return value


def _text(holder: dict[str, Any], key: str, where: str) -> str:
    value = holder.get(key)
    # Intuit sends ids as strings; a number is accepted as the same id rather than refused.
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise MalformedPayload(f"{where}.{key} must be non-empty text")
    return value


def _moment(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedPayload(f"{where} must be a date-time as text")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise MalformedPayload(f"{where} {value!r} is not an ISO 8601 date-time") from None

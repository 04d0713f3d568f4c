"""Webhook notifications the simulator sends: Intuit's legacy and CloudEvents payloads, signed."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal

import httpx

from hub.verifiers import sign_intuit

WebhookFormat = Literal["legacy", "cloudevents"]

_VERBS = {"Create": "created", "Update": "updated", "Delete": "deleted", "Merge": "merged", "Void": "voided"}


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One change QuickBooks will announce: which record of which company, what happened, and when."""

    realm: str
    entity: str
    record_id: str
    operation: str
    """Create, Update, Delete, Merge or Void, as the legacy payload spells it."""
    at: float

    def as_dict(self, tz: tzinfo) -> dict[str, Any]:
        """The event as the control surface lists it."""
        return {
            "realmId": self.realm,
            "name": self.entity,
            "id": self.record_id,
            "operation": self.operation,
            "lastUpdated": _legacy_time(self.at, tz),
        }


def _legacy_time(epoch: float, tz: tzinfo) -> str:
    """The legacy payload's ``lastUpdated``: local time with an offset without a colon."""
    return datetime.fromtimestamp(epoch, tz).strftime("%Y-%m-%dT%H:%M:%S%z")


def legacy_payload(events: list[ChangeEvent], tz: tzinfo) -> dict[str, Any]:
    """``{"eventNotifications": [...]}`` with one notification per company."""
    by_realm: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        entity = {
            "name": event.entity,
            "id": event.record_id,
            "operation": event.operation,
            "lastUpdated": _legacy_time(event.at, tz),
        }
        by_realm.setdefault(event.realm, []).append(entity)
    return {
        "eventNotifications": [
            {"realmId": realm, "dataChangeEvent": {"entities": entities}} for realm, entities in by_realm.items()
        ]
    }


def cloudevents_payload(events: list[ChangeEvent]) -> list[dict[str, Any]]:
    """The CloudEvents array: one event per change, the company in ``intuitaccountid``."""
    return [
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "intuit.qbo-simulator",
            "type": f"qbo.{event.entity.lower()}.{_VERBS[event.operation]}.v1",
            "datacontenttype": "application/json",
            "time": datetime.fromtimestamp(event.at, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "intuitentityid": event.record_id,
            "intuitaccountid": event.realm,
            "data": {},
        }
        for event in events
    ]


def encode(events: list[ChangeEvent], fmt: WebhookFormat, tz: tzinfo) -> bytes:
    """The raw body of one delivery."""
    payload = legacy_payload(events, tz) if fmt == "legacy" else cloudevents_payload(events)
    return json.dumps(payload, separators=(",", ":")).encode()


async def deliver(url: str, body: bytes, verifier_token: str, transport: httpx.AsyncBaseTransport | None = None) -> int:
    """POST one signed delivery and return the receiver's status (Intuit waits 3 seconds for it)."""
    headers = {"content-type": "application/json", "intuit-signature": sign_intuit(body, verifier_token)}
    async with httpx.AsyncClient(transport=transport, timeout=3.0) as client:
        response = await client.post(url, content=body, headers=headers)
    return response.status_code

"""A Karbon API v3 simulator (Intuit Practice Management runs on Karbon): the JSON wire format, state in memory.

For the hub's tests and demo. The facts come from VENDORS.md section 4 and Karbon's `KarbonAPI.json`; where
Karbon documents nothing, the choice is marked [G] (a guess) in a comment. Tests and people drive it through
the `/_sim/` control surface (no auth) or the same methods on `KarbonSimulator` (`app.state.sim`).
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import random
import re
import string
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.verifiers import sign_karbon
from plugins.intuit_pm.sim_odata import FilterParser, KarbonError, karbon_error

KARBON_BASE_URL = "https://api.karbonhq.com"
MAX_TOP = 100
RETRY_AFTER_SECONDS = 10
MAX_DELIVERY_ATTEMPTS = 10
RATE_WINDOW = timedelta(minutes=1)
KEY_ALPHABET = string.ascii_letters + string.digits
WEBHOOK_TYPES = ("Contact", "CustomField", "Work", "Note", "User", "IntegrationTask", "Invoice", "EstimateSummary")
RESTRICTION_LEVELS = ("Public", "Private", "Hidden")
ORDERINGS = ("FullName", "LastModifiedDateTime")
QUERY_OPTIONS = ("$filter", "$orderby", "$top", "$skip", "$count")
SIGNING_KEY = re.compile(r"[A-Za-z0-9_-]{16,}")
LOCAL_HTTP_TARGET = re.compile(r"http://(127\.0\.0\.1|localhost)([:/]|$)")
DEFAULT_SIGNING_KEY = "demo-signing-key-0123456789"
"""The SigningKey `/_sim/webhooks/target` uses when given none: the demo's KARBON_SIGNING_KEY, so its exports match."""
CARD_TEXT_FIELDS = ("OrganizationKey", "RoleOrTitle", "FacebookLink", "LinkedInLink", "TwitterLink", "SkypeLink")
ADDRESS_FIELDS = ("AddressLines", "City", "StateProvinceCounty", "ZipCode", "CountryCode", "Label")
PHONE_FIELDS = ("Number", "CountryCode", "Label")

CONFLICT = {
    "error": {
        "code": "4020",
        "message": "The resource was modified by another request. Refetch the latest version and retry.",
    }
}
RATE_LIMITED = {"statusCode": "429", "message": f"Rate limit is exceeded. Try again in {RETRY_AFTER_SECONDS} seconds."}
PLAIN_NOT_FOUND = {"statusCode": "404", "message": "Resource not found"}
INTERNAL_ERROR = {"error": {"code": "5001", "message": "Internal Error."}}


def _missing_payload(name: str) -> KarbonError:
    return karbon_error(400, "4005", f"Required payload data is missing: {name}")


@dataclass(frozen=True)
class Kind:
    """What differs between Contacts and Organizations on the wire."""

    name: str
    collection: str
    fields: tuple[str, ...]
    required: tuple[str, ...]
    patchable: tuple[str, ...]
    filterable: tuple[str, ...]
    summary_nullable: frozenset[str]
    """Summary fields the spec types as nullable: sent as null when empty; the others are left out."""
    not_found: str

    @property
    def key_field(self) -> str:
        return f"{self.name}Key"

    @property
    def payload(self) -> str:
        """How Karbon's error text names this kind's missing payload."""
        return self.name.lower()


_SHARED_FIELDS = (
    "ClientOwner",
    "ClientManager",
    "ContactType",
    "UserDefinedIdentifier",
    "RestrictionLevel",
    "EntityDescription",
    "AccountingDetail",
)
CONTACT = Kind(
    name="Contact",
    collection="Contacts",
    fields=("FirstName", "MiddleName", "LastName", "PreferredName", "Salutation", "Suffix", *_SHARED_FIELDS),
    required=("FirstName", "LastName"),
    patchable=("FirstName", "MiddleName", "LastName", "PreferredName", "Salutation", "Suffix", "RestrictionLevel"),
    filterable=("FullName", "EmailAddress", "PhoneNumber", "ContactType"),
    summary_nullable=frozenset({"Address", "PhoneNumber"}),
    not_found="No Contact found for provided key",
)
ORGANIZATION = Kind(
    name="Organization",
    collection="Organizations",
    fields=("FullName", *_SHARED_FIELDS),
    required=("FullName",),
    patchable=("FullName", "RestrictionLevel"),
    filterable=("FullName", "EmailAddress", "ContactType"),
    summary_nullable=frozenset({"PhoneNumber", "UserDefinedIdentifier"}),
    not_found="No organization exists with a key of {key}.",
)
KINDS = {kind.collection: kind for kind in (CONTACT, ORGANIZATION)}


@dataclass
class Entity:
    """One Contact or Organization: its own fields, and the keys of its business cards."""

    kind: Kind
    key: str
    fields: dict[str, Any]
    modified: datetime
    card_keys: list[str] = field(default_factory=list)


@dataclass
class Subscription:
    """A webhook subscription of one type."""

    webhook_type: str
    target_url: str
    signing_key: str | None


@dataclass
class PendingWebhook:
    """A change waiting out the coalescing window; `attempts` counts failed deliveries."""

    key: str
    action: str
    changed_at: datetime
    attempts: int = 0


@dataclass
class Conflict:
    """Writes to one resource that will lose a race, and the rival edit applied when the first one does."""

    count: int
    edit: dict[str, Any] | None


def karbon_time(moment: datetime) -> str:
    """Format a moment as Karbon does: UTC, seven fractional digits (.NET ticks), `Z`."""
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}0Z"


def _drop_empty(values: dict[str, Any], keep_null: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Leave out None values, except those the spec types as nullable."""
    return {name: value for name, value in values.items() if value is not None or name in keep_null}


def _first(values: list[Any] | None) -> Any:
    return values[0] if values else None


def _one_line_address(address: dict[str, Any] | None) -> str | None:
    """The summary's `Address`: the address parts joined by commas [G: the spec shows "42 Galaxy Way, London"]."""
    if not address:
        return None
    parts = [address.get(name) for name in ADDRESS_FIELDS[:-1]]
    return ", ".join(part for part in parts if part) or None


class KarbonSimulator:
    """The simulated Karbon tenant: records, webhook subscriptions, injected faults and the call log."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        per_minute: int = 120,
        coalesce_seconds: float = 60.0,
        app_id: str = "sim-app-id",
        access_key: str = "sim-access-key",
        allow_http_localhost: bool = False,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
        random_seed: int = 0,
    ) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.per_minute = per_minute
        self.coalesce = timedelta(seconds=coalesce_seconds)
        self.app_id = app_id
        self.access_key = access_key
        self.allow_http_localhost = allow_http_localhost
        self.webhook_transport = webhook_transport
        self.random_seed = random_seed
        self.reset()

    def reset(self) -> None:
        """Forget every record, subscription, pending webhook, injected fault and logged call."""
        self._random = random.Random(self.random_seed)
        self.contacts: dict[str, Entity] = {}
        self.organizations: dict[str, Entity] = {}
        self.cards: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.pending: dict[str, PendingWebhook] = {}
        self.conflicts: dict[str, Conflict] = {}
        self.failures: deque[int] = deque()
        self.throttles = 0
        self.recent_requests: deque[datetime] = deque()
        self.calls: list[dict[str, Any]] = []

    # --- keys, lookups and views -------------------------------------------------------------------

    def _new_key(self) -> str:
        """A key shaped like Karbon's perma keys: 12 letters and digits."""
        while True:
            key = "".join(self._random.choices(KEY_ALPHABET, k=12))
            if key not in self.contacts and key not in self.organizations and key not in self.cards:
                return key

    def _new_guid(self) -> str:
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def records(self, kind: Kind) -> dict[str, Entity]:
        """The Contacts or the Organizations, by key."""
        return self.contacts if kind is CONTACT else self.organizations

    def find_by_identifier(self, kind: Kind, identifier: str) -> Entity | None:
        """The record with this UserDefinedIdentifier; Karbon's lookup ignores case."""
        wanted = identifier.casefold()
        for entity in self.records(kind).values():
            if wanted and str(entity.fields.get("UserDefinedIdentifier") or "").casefold() == wanted:
                return entity
        return None

    def _cards_of(self, entity: Entity) -> list[dict[str, Any]]:
        return [self.cards[key] for key in entity.card_keys]

    def _primary_card(self, entity: Entity) -> dict[str, Any]:
        cards = self._cards_of(entity)
        return next((card for card in cards if card["IsPrimaryCard"]), _first(cards) or {})

    @staticmethod
    def full_name(entity: Entity) -> str:
        """A contact's FullName is its first, middle and last names [G: as in the spec's examples]."""
        if entity.kind is ORGANIZATION:
            return entity.fields["FullName"]
        names = (entity.fields.get(name) for name in ("FirstName", "MiddleName", "LastName"))
        return " ".join(name for name in names if name)

    def summary(self, entity: Entity) -> dict[str, Any]:
        """The list item (ContactSummaryDTO / OrganizationSummaryDTO), derived from the primary card."""
        card = self._primary_card(entity)
        values = {
            "@odata.type": f"#KarbonService.{entity.kind.name}SummaryDTO",
            entity.kind.key_field: entity.key,
            "FullName": self.full_name(entity),
            "EmailAddress": _first(card.get("EmailAddresses")),
            "PhoneNumber": (_first(card.get("PhoneNumbers")) or {}).get("Number"),
            "ContactType": entity.fields.get("ContactType"),
            "UserDefinedIdentifier": entity.fields.get("UserDefinedIdentifier"),
            "LastModifiedDateTime": karbon_time(entity.modified),
        }
        if entity.kind is CONTACT:
            for name in ("PreferredName", "Salutation", "ClientOwner", "ClientManager"):
                values[name] = entity.fields.get(name)
            values["Address"] = _one_line_address(_first(card.get("Addresses")))
            values["RoleOrTitle"] = card.get("RoleOrTitle")
        else:
            values["Website"] = _first(card.get("WebSites"))
        return _drop_empty(values, entity.kind.summary_nullable)

    def card_view(self, card: dict[str, Any], *, nullable: bool = True) -> dict[str, Any]:
        """A business card; inside a Contact or Organization the spec lets OrganizationKey and RoleOrTitle be null."""
        keep_null = frozenset({"OrganizationKey", "RoleOrTitle"}) if nullable else frozenset()
        return _drop_empty(copy.deepcopy(card), keep_null)

    def detail(self, entity: Entity, *, base: str = KARBON_BASE_URL, cards: bool = True) -> dict[str, Any]:
        """The single-record view (ContactDTO / OrganizationDTO)."""
        kind = entity.kind
        values = {
            "@odata.context": f"{base}/v3/$metadata#{kind.collection}/KarbonService.{kind.name}DTO/$entity",
            "@odata.type": f"#KarbonService.{kind.name}DTO",
            kind.key_field: entity.key,
            **copy.deepcopy(entity.fields),
            # The spec requires a string here even when no identifier was given [G: an empty one].
            "UserDefinedIdentifier": entity.fields.get("UserDefinedIdentifier") or "",
            "RestrictionLevel": entity.fields.get("RestrictionLevel") or "Public",
            "LastModifiedDateTime": karbon_time(entity.modified),
        }
        if cards:
            values["BusinessCards"] = [self.card_view(card) for card in self._cards_of(entity)]
        return _drop_empty(values)

    def _webhook_fields(self, entity: Entity) -> tuple[Any, ...]:
        """The fields whose change fires a webhook (help.karbonhq.com, "Accessing Karbon webhooks through Zapier")."""
        card = self._primary_card(entity)
        address = _first(card.get("Addresses")) or {}
        shared = (
            entity.fields.get("ContactType"),
            (_first(card.get("PhoneNumbers")) or {}).get("Number"),
            tuple(address.get(name) for name in ADDRESS_FIELDS[:-1]),
        )
        if entity.kind is CONTACT:
            names = tuple(entity.fields.get(name) for name in ("FirstName", "MiddleName", "LastName"))
            return (*names, _first(card.get("EmailAddresses")), *shared)
        own = (entity.fields["FullName"], entity.fields.get("UserDefinedIdentifier"), _first(card.get("WebSites")))
        return (*own, *shared)

    def _snapshot(self, entity: Entity) -> tuple[Any, ...]:
        return copy.deepcopy((entity.fields, self._cards_of(entity))), self._webhook_fields(entity)

    # --- validation and card building -----------------------------------------------------------------

    def _valid_fields(self, kind: Kind, body: dict[str, Any], payload: str) -> dict[str, Any]:
        """The writable fields of a create or full update, or a 400 as Karbon answers it."""
        for name in kind.required:
            if not isinstance(body.get(name), str) or not body[name].strip():
                raise _missing_payload(payload)
        level = body.get("RestrictionLevel", "Public")
        if level not in RESTRICTION_LEVELS:
            # [G] Karbon says only that an unknown RestrictionLevel is a 400.
            raise karbon_error(400, "4002", f"RestrictionLevel must be one of {', '.join(RESTRICTION_LEVELS)}.")
        return {name: body[name] for name in kind.fields if body.get(name) is not None}

    def _check_unique_identifier(self, kind: Kind, fields: dict[str, Any], key: str | None) -> None:
        identifier = fields.get("UserDefinedIdentifier")
        holder = self.find_by_identifier(kind, identifier) if identifier else None
        if holder is not None and holder.key != key:
            raise karbon_error(500, "5001", "User defined identifier already in use")

    def _build_card(self, data: dict[str, Any], entity: Entity, key: str | None = None) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise _missing_payload("update")
        card: dict[str, Any] = {
            "BusinessCardKey": key or self._new_key(),
            "EntityType": entity.kind.name,
            "EntityKey": entity.key,
            "IsPrimaryCard": bool(data.get("IsPrimaryCard", False)),
            "WebSites": list(data.get("WebSites") or []),
            "EmailAddresses": list(data.get("EmailAddresses") or []),
            **{name: data.get(name) for name in CARD_TEXT_FIELDS},
            "Addresses": [self._part(item, "AddressKey", ADDRESS_FIELDS) for item in data.get("Addresses") or []],
            "PhoneNumbers": [
                self._part(item, "PhoneNumberKey", PHONE_FIELDS) for item in data.get("PhoneNumbers") or []
            ],
        }
        if entity.kind is ORGANIZATION:
            card["OrganizationKey"] = None  # always null on an Organization's own cards (KARBON_API.md)
        return card

    def _part(self, item: dict[str, Any], key_name: str, names: tuple[str, ...]) -> dict[str, Any]:
        """An address or phone number, with its GUID key."""
        return {key_name: item.get(key_name) or self._new_guid()} | {
            name: item[name] for name in names if item.get(name) is not None
        }

    def _settle_primary(self, entity: Entity, chosen: str | None = None) -> None:
        """Leave exactly one primary card [G]: the chosen one, else the first marked primary, else the first."""
        cards = self._cards_of(entity)
        marked = [card["BusinessCardKey"] for card in cards if card["IsPrimaryCard"]]
        keep = chosen if chosen in marked else _first(marked) or _first(entity.card_keys)
        for card in cards:
            card["IsPrimaryCard"] = card["BusinessCardKey"] == keep

    def _replace_cards(self, entity: Entity, cards: list[dict[str, Any]]) -> None:
        """Cards named by key are replaced, unnamed ones created, unlisted ones removed (the PUT note)."""
        if not isinstance(cards, list):
            raise _missing_payload("update")
        kept = []
        for data in cards:
            key = data.get("BusinessCardKey") if isinstance(data, dict) else None
            card = self._build_card(data, entity, key if key in entity.card_keys else None)
            self.cards[card["BusinessCardKey"]] = card
            kept.append(card["BusinessCardKey"])
        for key in set(entity.card_keys) - set(kept):
            del self.cards[key]
        entity.card_keys = kept
        self._settle_primary(entity)

    # --- changes ------------------------------------------------------------------------------------

    def _commit(self, entity: Entity, before: tuple[Any, ...]) -> None:
        """Stamp LastModifiedDateTime if anything changed; queue a webhook if a watched field did."""
        snapshot, watched = self._snapshot(entity)
        if snapshot != before[0]:
            entity.modified = self.clock()
        if watched != before[1]:
            self._queue(entity.key, "Updated")

    def _queue(self, key: str, action: str) -> None:
        """Queue a change for the Contact subscription, coalescing changes to one resource."""
        if "Contact" not in self.subscriptions:
            return  # Karbon only notifies subscriptions that exist when the change happens
        now = self.clock()
        pending = self.pending.get(key)
        if pending is None:
            self.pending[key] = PendingWebhook(key, action, now)
            return
        if action == "Deleted" or pending.action != "Inserted":
            pending.action = action
        pending.changed_at = now

    def _insert(self, kind: Kind, body: dict[str, Any], *, seeded: bool) -> Entity:
        if not isinstance(body, dict):
            raise _missing_payload(kind.payload)
        fields = self._valid_fields(kind, body, kind.payload)
        self._check_unique_identifier(kind, fields, None)
        key = (seeded and body.get(kind.key_field)) or self._new_key()
        modified = body.get("LastModifiedDateTime") if seeded else None
        moment = datetime.fromisoformat(modified) if modified else self.clock()
        entity = Entity(kind, key, fields, moment)
        self.records(kind)[key] = entity
        cards = body.get("BusinessCards") or []
        if not isinstance(cards, list):
            raise _missing_payload(kind.payload)
        for data in cards:
            card = self._build_card(data, entity, (seeded and data.get("BusinessCardKey")) or None)
            self.cards[card["BusinessCardKey"]] = card
            entity.card_keys.append(card["BusinessCardKey"])
        self._settle_primary(entity)
        if not seeded:
            self._queue(key, "Inserted")
        return entity

    def create(self, kind: Kind, body: Any) -> Entity:
        """POST: create a Contact or Organization with its business cards."""
        return self._insert(kind, body, seeded=False)

    def replace(self, kind: Kind, key: str, body: Any) -> Entity:
        """PUT: replace the record's fields; `BusinessCards`, when present, replaces its set of cards."""
        entity = self.records(kind).get(key)
        if entity is None and kind is CONTACT:
            raise KarbonError(404, PLAIN_NOT_FOUND)
        if entity is None:
            raise karbon_error(404, "4004", kind.not_found.format(key=key))
        if not isinstance(body, dict):
            raise _missing_payload("update")
        fields = self._valid_fields(kind, body, "update")
        self._check_unique_identifier(kind, fields, key)
        self._lose_race(key)
        before = self._snapshot(entity)
        entity.fields = fields
        if "BusinessCards" in body:
            self._replace_cards(entity, body["BusinessCards"])
        self._commit(entity, before)
        return entity

    def patch(self, kind: Kind, key: str, body: Any) -> Entity:
        """PATCH: change only the fields Karbon lets a PATCH change."""
        entity = self.records(kind).get(key)
        if entity is None:
            raise KarbonError(404, PLAIN_NOT_FOUND)
        if not isinstance(body, dict):
            raise _missing_payload("update")
        if any(name not in kind.patchable for name in body):
            allowed = ", ".join(kind.patchable[:-1]) + f" and {kind.patchable[-1]}"
            raise karbon_error(400, "4002", f"Invalid property to update. Only {allowed} can be patched.")
        merged = entity.fields | body
        self._valid_fields(kind, merged, "update")
        self._lose_race(key)
        before = self._snapshot(entity)
        entity.fields = {name: value for name, value in merged.items() if value is not None}
        self._commit(entity, before)
        return entity

    def replace_card(self, key: str, body: Any) -> dict[str, Any]:
        """PUT /v3/BusinessCards: the body replaces the whole card."""
        card = self.cards.get(key)
        if card is None:
            raise KarbonError(404, PLAIN_NOT_FOUND)
        entity = self._owner(card)
        new_card = self._build_card(body, entity, key)
        self._lose_race(key)
        before = self._snapshot(entity)
        self.cards[key] = new_card
        self._settle_primary(entity, key if new_card["IsPrimaryCard"] else None)
        self._commit(entity, before)
        return new_card

    def _owner(self, card: dict[str, Any]) -> Entity:
        kind = CONTACT if card["EntityType"] == "Contact" else ORGANIZATION
        return self.records(kind)[card["EntityKey"]]

    def _lose_race(self, key: str) -> None:
        """Answer 409 if a conflict is pending for this resource, applying the rival edit the first time."""
        conflict = self.conflicts.get(key)
        if conflict is None:
            return
        conflict.count -= 1
        if conflict.count <= 0:
            del self.conflicts[key]
        if conflict.edit is not None:
            self.edit(self.collection_of(key), key, conflict.edit)
            conflict.edit = None
        raise KarbonError(409, CONFLICT)

    # --- the control surface ----------------------------------------------------------------------

    def seed(self, data: dict[str, Any]) -> dict[str, list[str]]:
        """Load Organizations, then Contacts, each with inline BusinessCards; keys given are kept. No webhooks."""
        return {
            kind.collection: [self._insert(kind, body, seeded=True).key for body in data.get(kind.collection, [])]
            for kind in (ORGANIZATION, CONTACT)
        }

    def collection_of(self, key: str) -> str:
        """Which collection holds a key: Contacts, Organizations or BusinessCards (KeyError if none)."""
        if key in self.cards:
            return "BusinessCards"
        entity = self.contacts.get(key) or self.organizations.get(key)
        if entity is None:
            raise KeyError(key)
        return entity.kind.collection

    def _find(self, collection: str, key: str) -> tuple[Entity, dict[str, Any] | None]:
        """The record a key names in a collection, and the card when it is a card's key."""
        if self.collection_of(key) != collection:
            raise KeyError(key)
        if collection == "BusinessCards":
            return self._owner(self.cards[key]), self.cards[key]
        return self.records(KINDS[collection])[key], None

    def edit(self, collection: str, key: str, changes: dict[str, Any]) -> dict[str, Any]:
        """A Karbon user edits a Contact, Organization or business card: merge `changes`, stamp, notify."""
        entity, card = self._find(collection, key)
        before = self._snapshot(entity)
        if card is None:
            unknown = set(changes) - set(entity.kind.fields)
            if unknown:
                raise ValueError(f"not {entity.kind.name} fields: {sorted(unknown)}")
            entity.fields = {name: value for name, value in (entity.fields | changes).items() if value is not None}
        else:
            self.cards[key] = self._build_card(card | changes, entity, key)
            self._settle_primary(entity, key if self.cards[key]["IsPrimaryCard"] else None)
        self._commit(entity, before)
        return self.detail(entity)

    def delete(self, collection: str, key: str) -> None:
        """A Karbon user deletes a Contact or Organization (the API cannot): it and its cards go."""
        entity, card = self._find(collection, key)
        if card is not None:
            raise ValueError("business cards are deleted through their Contact or Organization")
        for card_key in entity.card_keys:
            del self.cards[card_key]
        del self.records(entity.kind)[key]
        self._queue(key, "Deleted")

    def fail_next(self, status: int = 503, count: int = 1) -> None:
        """The next `count` API calls answer `status`."""
        self.failures.extend([status] * count)

    def throttle_next(self, count: int = 1) -> None:
        """The next `count` API calls answer 429 whatever the rate."""
        self.throttles += count

    def conflict_next(self, key: str, count: int = 1, edit: dict[str, Any] | None = None) -> None:
        """The next `count` writes to the resource answer 409; `edit` is the rival write that won the race."""
        self.collection_of(key)
        self.conflicts[key] = Conflict(count, edit)

    def webhooks(self) -> dict[str, Any]:
        """The subscriptions, and the changes waiting to be delivered."""
        pending = [
            {"ResourcePermaKey": p.key, "ActionType": p.action, "ChangedAt": karbon_time(p.changed_at)}
            | {"Attempts": p.attempts}
            for p in self.pending.values()
        ]
        return {
            "subscriptions": [vars(subscription) for subscription in self.subscriptions.values()],
            "pending": pending,
        }

    async def flush_webhooks(self, *, everything: bool = False) -> dict[str, Any]:
        """Deliver the changes whose coalescing window has passed (or all of them) to the Contact subscription."""
        subscription = self.subscriptions.get("Contact")
        now = self.clock()
        due = [p for p in self.pending.values() if everything or now - p.changed_at >= self.coalesce]
        report = {"delivered": 0, "failed": 0, "cancelled": False}
        if subscription is None:
            return report | {"pending": len(self.pending)}
        client = httpx.AsyncClient(transport=self.webhook_transport, timeout=10.0)
        for pending in due:
            if await self._deliver(client, subscription, pending):
                del self.pending[pending.key]
                report["delivered"] += 1
                continue
            report["failed"] += 1
            pending.attempts += 1
            if pending.attempts >= MAX_DELIVERY_ATTEMPTS:
                # Karbon cancels the subscription after 10 failed tries; it must be created again.
                self.unsubscribe("Contact")
                report["cancelled"] = True
                break
        if self.webhook_transport is None:
            await client.aclose()  # a transport passed in stays its owner's to close
        return report | {"pending": len(self.pending)}

    async def _deliver(self, client: httpx.AsyncClient, subscription: Subscription, pending: PendingWebhook) -> bool:
        payload = {
            "ResourcePermaKey": pending.key,
            "ResourceType": "Contact",  # Organizations too: the spec's contact-webhook allows only "Contact"
            "ActionType": pending.action,
            "TimeStamp": f"{pending.changed_at.astimezone(UTC):%Y-%m-%dT%H:%M:%S}Z",
        }
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        if subscription.signing_key:
            headers["Signature"] = sign_karbon(body, subscription.signing_key)
        try:
            response = await client.post(subscription.target_url, content=body, headers=headers)
        except httpx.HTTPError:
            return False
        return response.is_success

    def subscribe(self, body: Any) -> Subscription:
        """POST /v3/WebhookSubscriptions, with Karbon's checks."""
        if not isinstance(body, dict):
            raise karbon_error(400, "4002", "WebhookSubscription model cannot be null.")
        webhook_type = body.get("WebhookType")
        if webhook_type not in WEBHOOK_TYPES:
            raise karbon_error(
                400,
                "4004",
                f"No Webhook Type found for the provided WebhookType input value : {webhook_type}. "
                "Valid WebhookTypes are Contact, Work, Note",
            )
        target = body.get("TargetUrl")
        local = self.allow_http_localhost and LOCAL_HTTP_TARGET.match(str(target))
        if not isinstance(target, str) or not (target.startswith("https://") or local):
            raise karbon_error(400, "4002", "Target URL must begin with https://")
        signing_key = body.get("SigningKey")
        if signing_key is not None and not (isinstance(signing_key, str) and SIGNING_KEY.fullmatch(signing_key)):
            # [G] the rule is documented, the error text is not.
            raise karbon_error(400, "4002", "SigningKey must be at least 16 letters, numbers, dashes or underscores.")
        if webhook_type in self.subscriptions:
            # [G] one subscription per type is documented; the error for a second one is not.
            raise karbon_error(400, "4002", f"A webhook subscription already exists for {webhook_type}.")
        self.subscriptions[webhook_type] = Subscription(webhook_type, target, signing_key)
        return self.subscriptions[webhook_type]

    def point_webhooks(self, order: dict[str, Any]) -> dict[str, Any]:
        """`/_sim/webhooks/target`: Contact webhooks to `order["url"]` (null ends them); a local http hub is let in."""
        if "url" not in order:
            raise ValueError('the body needs "url": the hub\'s webhook address, or null to stop')
        url, signing_key = order["url"], order.get("secret")
        if url is None:
            if "Contact" in self.subscriptions:
                self.unsubscribe("Contact")
            return {"url": None}
        # Karbon's own subscribe stays https-only; this is the simulator's way to reach a test hub on loopback.
        if not isinstance(url, str) or not (url.startswith("https://") or LOCAL_HTTP_TARGET.match(url)):
            raise ValueError(f"url {url!r} must begin with https://, or be http://127.0.0.1 or http://localhost")
        if signing_key is not None and not (isinstance(signing_key, str) and SIGNING_KEY.fullmatch(signing_key)):
            raise ValueError("secret must be a SigningKey: at least 16 letters, numbers, dashes or underscores")
        current = self.subscriptions.get("Contact")
        key = signing_key or (current and current.signing_key) or DEFAULT_SIGNING_KEY
        # Replacing the target keeps the changes waiting for it: they go to the new one.
        self.subscriptions["Contact"] = Subscription("Contact", url, key)
        return {"url": url}

    def subscription(self, webhook_type: str) -> Subscription:
        """The subscription of one type, or Karbon's 404."""
        if webhook_type not in WEBHOOK_TYPES:
            raise karbon_error(
                404,
                "4004",
                f"No Webhook Type found for the provided WebhookType input value : {webhook_type}. "
                "Valid WebhookTypes are Contact, Work, Note",
            )
        if webhook_type not in self.subscriptions:
            raise karbon_error(404, "4004", f"No existing webhook subscription for {webhook_type}")
        return self.subscriptions[webhook_type]

    def unsubscribe(self, webhook_type: str | None = None) -> None:
        """Delete one subscription (or, with None, all of them); their undelivered changes are dropped."""
        types = [self.subscription(webhook_type).webhook_type] if webhook_type else list(self.subscriptions)
        for name in types:
            del self.subscriptions[name]
        if "Contact" in types:
            self.pending.clear()

    # --- the gate every API call passes -----------------------------------------------------------

    def admit(self, headers: Mapping[str, str]) -> KarbonError | None:
        """Check auth, the rate limit and injected failures; None lets the call through."""
        if not headers.get("accesskey"):
            return KarbonError(401, {"error": {"statusCode": "401", "message": "JWT not present."}})
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token != self.app_id or headers["accesskey"] != self.access_key:
            # [G] the spec shows only "JWT not present."; this is ASP.NET's text for a refused caller.
            message = "Authorization has been denied for this request."
            return KarbonError(401, {"error": {"statusCode": "401", "message": message}})
        now = self.clock()
        while self.recent_requests and now - self.recent_requests[0] >= RATE_WINDOW:
            self.recent_requests.popleft()
        if self.throttles or len(self.recent_requests) >= self.per_minute:
            self.throttles = max(0, self.throttles - 1)
            return KarbonError(429, RATE_LIMITED)
        self.recent_requests.append(now)
        if self.failures:
            return KarbonError(self.failures.popleft(), INTERNAL_ERROR)
        return None


# --- HTTP -------------------------------------------------------------------------------------------

Handler = Callable[[KarbonSimulator, Request], Awaitable[Response]]


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


async def _json(request: Request) -> Any:
    """The request's JSON body, or None when it has none or it is not JSON (Karbon then sees no payload)."""
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        return None


def _api(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler in the gate, turn `KarbonError` into its answer, and log the call."""

    async def endpoint(request: Request) -> Response:
        sim: KarbonSimulator = request.app.state.sim
        refusal = sim.admit(request.headers)
        try:
            if refusal is not None:
                raise refusal
            response = await handler(sim, request)
        except KarbonError as error:
            headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if error.status == 429 else None
            response = JSONResponse(error.body, error.status, headers=headers)
        sim.calls.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "json": await _json(request),
                "status": response.status_code,
            }
        )
        return response

    return endpoint


def _integer_option(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise karbon_error(400, "4002", f"Invalid value '{raw}' for {name} query option.")
    return int(raw)


def _next_link(request: Request, skip: int) -> str:
    """The absolute URL of the next page: the same query with `$skip` moved on."""
    options = [(name, value) for name, value in request.query_params.multi_items() if name != "$skip"]
    options.append(("$skip", str(skip)))
    query = "&".join(f"{quote(name, safe='$')}={quote(value, safe='$,()')}" for name, value in options)
    return f"{_base(request)}{request.url.path}?{query}"


def _ordered(sim: KarbonSimulator, entities: list[Entity], orderby: str | None) -> list[Entity]:
    """Sort by `$orderby` (FullName or LastModifiedDateTime, asc or desc); by key when absent."""
    if orderby is None:
        return sorted(entities, key=lambda entity: entity.key)
    name, _, direction = orderby.strip().partition(" ")
    if name not in ORDERINGS or direction not in ("", "asc", "desc"):
        raise karbon_error(400, "4002", f"The property '{name}' cannot be used in the $orderby query option.")
    if name == "FullName":
        ordered = sorted(entities, key=lambda entity: (sim.full_name(entity).casefold(), entity.key))
    else:
        ordered = sorted(entities, key=lambda entity: (entity.modified, entity.key))
    return ordered[::-1] if direction == "desc" else ordered


def _collection_routes(kind: Kind) -> Iterator[Route]:
    """The list, create, read, full-update and partial-update routes of Contacts or Organizations."""
    udi_lookup = re.compile(rf"Get{kind.name}ByUserDefinedIdentifier\(UserDefinedIdentifier='(.*)'\)")

    async def list_records(sim: KarbonSimulator, request: Request) -> Response:
        for option in request.query_params:
            if option.startswith("$") and option not in QUERY_OPTIONS:
                raise karbon_error(
                    400,
                    "4002",
                    f"Query option '{option}' is not allowed. To allow it, set the 'AllowedQueryOptions' "
                    "property on EnableQueryAttribute or QueryValidationSettings.",
                )
        top, skip = _integer_option(request, "$top", MAX_TOP), _integer_option(request, "$skip", 0)
        if top > MAX_TOP:
            raise karbon_error(
                400,
                "4002",
                f"The limit of '{MAX_TOP}' for Top query has been exceeded. "
                f"The value from the incoming request is '{top}'.",
            )
        entities = list(sim.records(kind).values())
        if expression := request.query_params.get("$filter"):
            keep = FilterParser(expression, kind).parse()
            entities = [entity for entity in entities if keep(sim.summary(entity))]
        entities = _ordered(sim, entities, request.query_params.get("$orderby"))
        body: dict[str, Any] = {
            "@odata.context": f"{_base(request)}/v3/$metadata#{kind.collection}/KarbonService.{kind.name}SummaryDTO",
            "@odata.count": len(entities),
            "value": [sim.summary(entity) for entity in entities[skip : skip + top]],
        }
        if top and skip + top < len(entities):
            body["@odata.nextLink"] = _next_link(request, skip + top)
        return JSONResponse(body)

    async def create_record(sim: KarbonSimulator, request: Request) -> Response:
        entity = sim.create(kind, await _json(request))
        base = _base(request)
        location = f"{base}/v3/{kind.collection}('{entity.key}')/KarbonService.{kind.name}DTO"
        return JSONResponse(sim.detail(entity, base=base), 201, headers={"Location": location})

    async def read_record(sim: KarbonSimulator, request: Request) -> Response:
        key = request.path_params["key"]
        if lookup := udi_lookup.fullmatch(key):
            entity = sim.find_by_identifier(kind, lookup.group(1))
            if entity is None:
                raise karbon_error(404, "4004", f"No {kind.name} found for provided UserDefinedIdentifer")
        else:
            entity = sim.records(kind).get(key)
        if entity is None:
            raise karbon_error(404, "4004", kind.not_found.format(key=key))
        # ClientTeam, ClientAccess and Contacts expand to nothing here: the simulator keeps no teams.
        expand = {part.strip() for part in request.query_params.get("$expand", "").split(",")}
        return JSONResponse(sim.detail(entity, base=_base(request), cards="BusinessCards" in expand))

    async def replace_record(sim: KarbonSimulator, request: Request) -> Response:
        sim.replace(kind, request.path_params["key"], await _json(request))
        return Response(status_code=204)

    async def patch_record(sim: KarbonSimulator, request: Request) -> Response:
        entity = sim.patch(kind, request.path_params["key"], await _json(request))
        view = sim.detail(entity, base=_base(request), cards=False)
        view.pop("AccountingDetail", None)  # the PATCH answer's schema types it as a string or null
        return JSONResponse(view)

    yield Route(f"/v3/{kind.collection}", _api(list_records), methods=["GET"])
    yield Route(f"/v3/{kind.collection}", _api(create_record), methods=["POST"])
    yield Route(f"/v3/{kind.collection}/{{key}}", _api(read_record), methods=["GET"])
    yield Route(f"/v3/{kind.collection}/{{key}}", _api(replace_record), methods=["PUT"])
    yield Route(f"/v3/{kind.collection}/{{key}}", _api(patch_record), methods=["PATCH"])


async def _read_card(sim: KarbonSimulator, request: Request) -> Response:
    key = request.path_params["key"]
    if key not in sim.cards:
        raise karbon_error(404, "4004", f"Invalid businessCardPermaKey {key}")
    view = {"@odata.context": f"{_base(request)}/v3/$metadata#BusinessCards/$entity"}
    view |= {"@odata.type": "#KarbonService.BusinessCardDTO"} | sim.card_view(sim.cards[key], nullable=False)
    return JSONResponse(view)


async def _replace_card(sim: KarbonSimulator, request: Request) -> Response:
    sim.replace_card(request.path_params["key"], await _json(request))
    return Response(status_code=204)


def _subscription_view(request: Request, subscription: Subscription) -> dict[str, Any]:
    return {
        "@odata.context": f"{_base(request)}/v3/$metadata#WebhookSubscriptions/$entity",
        "TargetUrl": subscription.target_url,
        "WebhookType": subscription.webhook_type,
    }


async def _subscribe(sim: KarbonSimulator, request: Request) -> Response:
    subscription = sim.subscribe(await _json(request))
    location = f"{_base(request)}/v3/WebhookSubscriptions('{subscription.target_url}')"
    return JSONResponse(_subscription_view(request, subscription), 201, headers={"Location": location})


async def _read_subscription(sim: KarbonSimulator, request: Request) -> Response:
    return JSONResponse(_subscription_view(request, sim.subscription(request.path_params["type"])))


async def _unsubscribe(sim: KarbonSimulator, request: Request) -> Response:
    sim.unsubscribe(request.path_params.get("type"))
    return Response(status_code=204)


async def _no_such_resource(sim: KarbonSimulator, request: Request) -> Response:
    raise karbon_error(404, "4002", f"No HTTP resource was found that matches the request URI '{request.url}'")


# --- /_sim/ control routes ----------------------------------------------------------------------------

Control = Callable[[KarbonSimulator, dict[str, Any], dict[str, Any]], Any]


def _control(action: Control) -> Callable[[Request], Awaitable[Response]]:
    """A control route: JSON body and path in, JSON out, no auth; unknown keys are a 404."""

    async def endpoint(request: Request) -> Response:
        sim: KarbonSimulator = request.app.state.sim
        body = await _json(request) if request.method == "POST" else None
        try:
            result = action(sim, body if isinstance(body, dict) else {}, request.path_params)
            if inspect.isawaitable(result):
                result = await result
        except KeyError as error:
            return JSONResponse({"error": f"no record with key {error}"}, 404)
        except (ValueError, KarbonError) as error:
            return JSONResponse({"error": str(error)}, 400)
        return JSONResponse({"ok": True} if result is None else result)

    return endpoint


CONTROLS: list[tuple[str, str, Control]] = [
    ("POST", "/_sim/seed", lambda sim, body, path: sim.seed(body)),
    ("GET", "/_sim/contacts", lambda sim, body, path: [sim.detail(e) for e in sim.contacts.values()]),
    ("GET", "/_sim/organizations", lambda sim, body, path: [sim.detail(e) for e in sim.organizations.values()]),
    ("GET", "/_sim/businesscards", lambda sim, body, path: [sim.card_view(c) for c in sim.cards.values()]),
    ("POST", "/_sim/edit/{collection}/{key}", lambda sim, body, path: sim.edit(path["collection"], path["key"], body)),
    ("POST", "/_sim/delete/{collection}/{key}", lambda sim, body, path: sim.delete(path["collection"], path["key"])),
    (
        "POST",
        "/_sim/fail",
        lambda sim, body, path: sim.fail_next(int(body.get("status", 503)), int(body.get("count", 1))),
    ),
    ("POST", "/_sim/throttle", lambda sim, body, path: sim.throttle_next(int(body.get("count", 1)))),
    (
        "POST",
        "/_sim/conflict",
        lambda sim, body, path: sim.conflict_next(
            str(body.get("key", "")), int(body.get("count", 1)), body.get("edit")
        ),
    ),
    ("POST", "/_sim/webhooks/flush", lambda sim, body, path: sim.flush_webhooks(everything=bool(body.get("all")))),
    ("POST", "/_sim/webhooks/target", lambda sim, body, path: sim.point_webhooks(body)),
    ("GET", "/_sim/webhooks", lambda sim, body, path: sim.webhooks()),
    ("GET", "/_sim/calls", lambda sim, body, path: sim.calls),
    ("POST", "/_sim/reset", lambda sim, body, path: sim.reset()),
]
"""The control surface (method, path, action): each route is one call on the `KarbonSimulator`."""


def create_app(
    *,
    clock: Callable[[], datetime] | None = None,
    per_minute: int = 120,
    coalesce_seconds: float = 60.0,
    app_id: str = "sim-app-id",
    access_key: str = "sim-access-key",
    allow_http_localhost: bool = False,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """The simulator's ASGI app; `app.state.sim` is its `KarbonSimulator`."""
    # The catch-all comes last: it answers any other /v3/ path as Karbon does.
    api = [
        *_collection_routes(CONTACT),
        *_collection_routes(ORGANIZATION),
        Route("/v3/BusinessCards/{key}", _api(_read_card), methods=["GET"]),
        Route("/v3/BusinessCards/{key}", _api(_replace_card), methods=["PUT"]),
        Route("/v3/WebhookSubscriptions", _api(_subscribe), methods=["POST"]),
        Route("/v3/WebhookSubscriptions", _api(_unsubscribe), methods=["DELETE"]),
        Route("/v3/WebhookSubscriptions/{type}", _api(_read_subscription), methods=["GET"]),
        Route("/v3/WebhookSubscriptions/{type}", _api(_unsubscribe), methods=["DELETE"]),
        Route("/v3/{rest:path}", _api(_no_such_resource), methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]
    control = [Route(path, _control(action), methods=[method]) for method, path, action in CONTROLS]
    app = Starlette(routes=[*api, *control])
    app.state.sim = KarbonSimulator(
        clock=clock,
        per_minute=per_minute,
        coalesce_seconds=coalesce_seconds,
        app_id=app_id,
        access_key=access_key,
        allow_http_localhost=allow_http_localhost,
        webhook_transport=webhook_transport,
    )
    return app


def main(argv: list[str] | None = None) -> None:
    """Run the simulator under uvicorn: `python -m plugins.intuit_pm.simulator --port N`."""
    parser = argparse.ArgumentParser(description="Karbon API v3 simulator (Intuit Practice Management).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--per-minute", type=int, default=120)
    parser.add_argument("--coalesce-seconds", type=float, default=60.0)
    parser.add_argument("--app-id", default="sim-app-id")
    parser.add_argument("--access-key", default="sim-access-key")
    parser.add_argument("--allow-http-localhost", action="store_true", help="accept http://127.0.0.1 webhook targets")
    args = parser.parse_args(argv)
    app = create_app(
        per_minute=args.per_minute,
        coalesce_seconds=args.coalesce_seconds,
        app_id=args.app_id,
        access_key=args.access_key,
        allow_http_localhost=args.allow_http_localhost,
    )
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()

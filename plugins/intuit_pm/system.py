"""Intuit Practice Management (Karbon API v3): Organizations are the hub's accounts, Contacts its contacts.

Each record's data is Karbon's list or detail item plus its primary business card under ``BusinessCard``,
which holds every field the contract syncs. Cards come from the detail view (``$expand=BusinessCards``),
fetched only for the records of the page being returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import takewhile
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from hub.config import Connection
from hub.errors import RecordError, RetriableError
from hub.paths import nest
from hub.system import System
from hub.types import Page, PageRequest, RemoteRecord, WebhookEvent

from .cards import CARD, card_body, changed_card, new_card
from .client import KarbonApi, decode_object
from .records import CONTACT, Kind, checked_detail, kind_of, last_modified, listed_items, remote_record, split_name
from .webhooks import parse_contact_webhook

PAGE_SIZE = 100
"""Karbon's largest ``$top``."""

FULL_ORDER = "FullName"
"""The full listing's order: stable under the hub's own writes, which never touch a name (names do not sync)."""

RECENT_FIRST = "LastModifiedDateTime desc"
"""The incremental listing's order: Karbon has no modified-since filter, so read newest first and stop early."""


class IntuitPracticeManagement(System):
    """Karbon's Organizations and Contacts, with their primary business cards."""

    name = "intuit_pm"
    title = "Intuit Practice Management"
    contract_path: ClassVar[Path] = Path(__file__).resolve().parents[2] / "contracts" / "intuit_pm.json"
    plugin_options: ClassVar[dict[str, dict[str, Any]]] = {}
    """Karbon reads no options of its own: every option is in its contract, and hub refuses any other."""
    default_base_url = "https://api.karbonhq.com"
    absent_means_blank = True
    """Karbon leaves empty values out of its answers, so a missing card field is a blank one."""

    def __init__(self, connection: Connection, http: httpx.AsyncClient) -> None:
        super().__init__(connection, http)
        self.api = KarbonApi(http, self.base_url, connection)
        self._listing_counts: dict[str, Any] = {}
        self._fresh: dict[str, RemoteRecord] = {}
        """The records the last page (and any re-read since) returned: updating one of them needs no second GET."""

    # --- reading ----------------------------------------------------------------------------------------------

    async def list_page(self, request: PageRequest) -> Page:
        """A page of records: by key for ``ids``, newest first down to ``since``, else every record by name."""
        kind = kind_of(request.entity)
        self._fresh = {}
        if request.ids:
            return await self._targeted_page(kind, request)
        try:
            return await self._listed_page(kind, request)
        except RetriableError:
            raise
        except RecordError as exc:
            # A listing cannot skip a page: stop the run here, keep the cursor, and resume on the next run.
            raise RetriableError(f"{exc}; the listing resumes from this page on the next run") from exc

    async def read(self, entity: str, remote_id: str) -> RemoteRecord | None:
        """One Organization or Contact with its primary card, or None when Karbon has no such record."""
        kind = kind_of(entity)
        detail = await self._detail(kind, remote_id)
        if detail is None:
            return None
        return self._keep(remote_record(kind, detail, what=self._detail_what(kind, remote_id)))

    async def _listed_page(self, kind: Kind, request: PageRequest) -> Page:
        if request.token:
            url = self.api.follow(request.token)
        else:
            order = RECENT_FIRST if request.since else FULL_ORDER
            url = self.api.url(f"/v3/{kind.collection}", {"$top": str(PAGE_SIZE), "$orderby": order})
        what = f"GET /v3/{kind.collection}"
        listing = await self.api.get_json(url)
        items = listed_items(kind, listing, what)
        wanted = items
        if request.since is not None:
            since = request.since
            wanted = list(takewhile(lambda item: (last_modified(item, what) or since) >= since, items))
        next_link = listing.get("@odata.nextLink") if len(wanted) == len(items) else None
        if next_link is not None and not isinstance(next_link, str):
            raise RecordError(f"Karbon answered {what} with an @odata.nextLink that is not text")
        records = [await self._with_card(kind, item) for item in wanted]
        complete = request.since is None and self._count_held(request.token, next_link, listing.get("@odata.count"))
        return Page(records, next_link, complete)

    def _count_held(self, token: str | None, next_link: str | None, count: Any) -> bool:
        """Whether the listing's total stayed as its first page said, so no record can have slipped between pages.

        Karbon pages by ``$skip``: a record deleted while the hub pages would shift another one past it unseen.
        """
        expected = count if token is None else self._listing_counts.pop(token, None)
        if next_link:
            self._listing_counts[next_link] = expected
        # A listing resumed in a new run has no first page to compare with: it never proves what exists.
        return expected is not None and expected == count

    async def _targeted_page(self, kind: Kind, request: PageRequest) -> Page:
        start = int(request.token or 0)
        chunk = request.ids[start : start + PAGE_SIZE]
        records = []
        for key in chunk:
            detail = await self._detail(kind, key)
            # A key Karbon does not know was deleted there (or belongs to the other entity type of a webhook).
            records.append(
                RemoteRecord(key, {}, deleted=True)
                if detail is None
                else self._keep(remote_record(kind, detail, what=self._detail_what(kind, key)))
            )
        following = start + PAGE_SIZE
        return Page(records, str(following) if following < len(request.ids) else None)

    async def _with_card(self, kind: Kind, item: dict[str, Any]) -> RemoteRecord:
        key = item[kind.key_field]
        detail = await self._detail(kind, key)
        if detail is None:
            return RemoteRecord(key, {}, deleted=True)
        return self._keep(remote_record(kind, detail, item, what=self._detail_what(kind, key)))

    def _keep(self, record: RemoteRecord) -> RemoteRecord:
        self._fresh[record.id] = record
        return record

    async def _detail(self, kind: Kind, key: str) -> dict[str, Any] | None:
        """The detail view with business cards, or None on a 404."""
        url = self.api.url(self._record_path(kind, key), {"$expand": "BusinessCards"})
        response = await self.api.send("GET", url, absent_ok=True)
        if response is None:
            return None
        what = self._detail_what(kind, key)
        detail = decode_object(response, what)
        checked_detail(kind, detail, what, key)
        return detail

    # --- writing ----------------------------------------------------------------------------------------------

    async def create(self, entity: str, values: dict[str, Any]) -> RemoteRecord:
        """Create an Organization (FullName) or a Contact (the name split in two) with a primary card of ``values``."""
        kind = kind_of(entity)
        document = nest({path: value for path, value in values.items() if not path.startswith(f"{CARD}.")})
        name = str(document.pop("FullName", "") or "").strip()
        if document:
            raise RecordError(f"the plugin cannot create Karbon records with {sorted(document)}")
        if kind is CONTACT:
            names = split_name(name)
        elif name:
            names = {"FullName": name}
        else:
            raise RecordError("Karbon needs a FullName to create an organization, and the name is blank")
        card = new_card({path: value for path, value in values.items() if path.startswith(f"{CARD}.")})
        path = f"/v3/{kind.collection}"
        response = await self.api.send("POST", self.api.url(path), body={**names, "BusinessCards": [card]})
        detail = decode_object(response, f"POST {path}")
        checked_detail(kind, detail, f"POST {path}")
        if "BusinessCards" not in detail:
            detail = await self._detail(kind, detail[kind.key_field]) or detail
        return remote_record(kind, detail, what=f"POST {path}")

    async def update(self, entity: str, record: RemoteRecord, changes: dict[str, Any]) -> RemoteRecord:
        """Change only ``changes`` on the record's primary card: read it, change those paths, PUT the whole card.

        Karbon has no ETag. The card changed is the one read moments ago: the very record this system returned
        for the current page (or for the engine's re-read after a 409), else a fresh read (a push from the queue).
        """
        kind = kind_of(entity)
        current = self._fresh.pop(record.id, None)
        if current is not record:
            current = await self.read(entity, record.id)
        if current is None:
            raise RecordError(f"the Karbon {kind.entity_type} {record.id} no longer exists")
        card = current.data.get(CARD) or {}
        written = changed_card(card, changes) if card else new_card(changes)
        if card.get("BusinessCardKey"):
            path = f"/v3/BusinessCards/{quote(card['BusinessCardKey'], safe='')}"
            await self.api.send("PUT", self.api.url(path), body=card_body(written))
        else:
            # A record with no card at all gets its first one through a full PUT of the record.
            body = self._record_body(kind, current.data, written)
            await self.api.send("PUT", self.api.url(self._record_path(kind, record.id)), body=body)
        # Built from what was sent, not re-read: Karbon keeps a card as given. Its new modified time is unknown.
        return RemoteRecord(current.id, {**current.data, CARD: written})

    @staticmethod
    def _record_body(kind: Kind, data: dict[str, Any], card: dict[str, Any]) -> dict[str, Any]:
        """A full PUT of a record: every writable field echoed as read, and its (first) card."""
        fields = {name: data[name] for name in kind.writable if data.get(name) not in (None, "")}
        return {**fields, "BusinessCards": [card_body(card)]}

    # --- webhooks ---------------------------------------------------------------------------------------------

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[WebhookEvent]:
        """A Contact webhook as an ``account`` and a ``contact`` event for its key (Karbon does not say which)."""
        return parse_contact_webhook(body)

    async def resolve_event(self, event: WebhookEvent) -> list[WebhookEvent]:
        """``[event]`` if it may concern its entity type, ``[]`` if the key is the other type's (one or two GETs).

        A key neither endpoint knows was deleted: the event is kept, so the linked record is delinked.
        """
        kind = kind_of(event.entity)
        if await self._knows(kind, event.remote_id):
            return [event]
        other = next(k for k in (kind_of("account"), kind_of("contact")) if k is not kind)
        return [] if await self._knows(other, event.remote_id) else [event]

    async def _knows(self, kind: Kind, key: str) -> bool:
        return await self.api.send("GET", self.api.url(self._record_path(kind, key)), absent_ok=True) is not None

    async def subscribe(self, target_url: str, signing_key: str | None = None) -> dict[str, Any]:
        """Subscribe ``target_url`` to Contact webhooks, signed with ``signing_key`` (default: the connection's)."""
        key = signing_key if signing_key is not None else self.connection.secret("webhook_signing_key")
        body = {"WebhookType": "Contact", "TargetUrl": target_url, "SigningKey": key}
        response = await self.api.send("POST", self.api.url("/v3/WebhookSubscriptions"), body=body)
        return decode_object(response, "POST /v3/WebhookSubscriptions")

    # --- paths ------------------------------------------------------------------------------------------------

    @staticmethod
    def _record_path(kind: Kind, key: str) -> str:
        return f"/v3/{kind.collection}/{quote(key, safe='')}"

    def _detail_what(self, kind: Kind, key: str) -> str:
        return f"GET {self._record_path(kind, key)}"

    @classmethod
    def simulator(cls) -> Any:
        """The Karbon API v3 simulator's ASGI app."""
        from .simulator import create_app

        return create_app()

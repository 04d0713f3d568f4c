"""The QuickBooks Online system: list, read, create, update and deactivate a company's records, and split its webhooks.

Listing uses the query endpoint in Id order, 1,000 records a page. An incremental pull asks Change Data
Capture for what changed (deleted transactions included), and falls back to a query on
``MetaData.LastUpdatedTime`` when CDC cannot answer in full: the date is beyond its 30 days, or the answer
reached its 1,000-object cap. Updates are sparse and carry the SyncToken the engine merged against, so a
record changed in QuickBooks meanwhile is refused (StaleWrite) and re-read, never overwritten blindly.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from hub.config import Connection
from hub.contracts import Contract, load_contract
from hub.errors import ConfigError, FatalSyncError, RecordError, StaleWrite
from hub.oauth import TokenStore
from hub.paths import nest
from hub.ratelimit import Limiter, RateLimits
from hub.store import now_utc
from hub.system import System
from hub.types import Page, PageRequest, RemoteRecord, WebhookEvent
from plugins.quickbooks import webhooks
from plugins.quickbooks.accounts import OPTIONS as ACCOUNT_OPTIONS
from plugins.quickbooks.accounts import ItemAccounts
from plugins.quickbooks.client import OBJECT_NOT_FOUND, Fault, QboClient, batch_entities, entity_of
from plugins.quickbooks.credentials import check_secrets, connection_auth
from plugins.quickbooks.doc_numbers import DocNumbers
from plugins.quickbooks.queries import (
    CDC_LIMIT,
    IDS_PER_QUERY,
    NAMES_PER_QUERY,
    PAGE_SIZE,
    Cursor,
    after_cursor,
    cdc_rows,
    id_order,
    qbo_time,
    remote_record,
    rows_of,
    statement,
)

CDC_LOOKBACK = timedelta(days=30) - timedelta(minutes=5)
"""How far back Change Data Capture reaches, less a margin for the two clocks disagreeing."""


@cache
def _contract(path: Path) -> Contract:
    # Plugin transforms are checked when the registry loads the contract; here only its entities are needed.
    return load_contract(path)


BATCH_ITEMS = 30
"""The most items QuickBooks takes in one ``/batch`` request."""

BATCHES_PER_MINUTE = 40
"""The most ``/batch`` requests QuickBooks takes a minute per company."""


class QuickBooks(System):
    """QuickBooks Online Accounting API v3, one company (realm) per connection."""

    name = "quickbooks"
    title = "QuickBooks Online"
    contract_path = Path(__file__).resolve().parents[2] / "contracts" / "quickbooks.json"
    default_base_url = "https://quickbooks.api.intuit.com"
    absent_means_blank = True
    """QuickBooks leaves out every property without a value: absent means blank, not unknown."""
    create_batch_size = BATCH_ITEMS
    plugin_options: ClassVar[dict[str, dict[str, Any]]] = {
        "realm_id": {"default": None, "description": "the QuickBooks company (realm) Id; required"},
        **{option: {"default": None, "description": f"the Account (Id or name) new Items post to as {ref}"}
           for ref, option in ACCOUNT_OPTIONS.items()},
    }
    """The options this plugin reads itself, beside the contract's; ``hub`` refuses any other (hub.registry)."""

    def __init__(self, connection: Connection, http: httpx.AsyncClient) -> None:
        super().__init__(connection, http)
        realm = connection.options.get("realm_id")
        if isinstance(realm, bool) or not isinstance(realm, str | int) or not str(realm).strip():
            raise ConfigError(
                f"connections.{connection.name}.options.realm_id: missing; give the QuickBooks company (realm) Id"
            )
        check_secrets(connection)
        self.realm_id = str(realm).strip()
        self.contract = _contract(self.contract_path)
        self.item_accounts = ItemAccounts(connection)
        self.doc_numbers = DocNumbers({name: entity.remote_type for name, entity in self.contract.entities.items()})
        self.batches = Limiter(RateLimits(per_minute=BATCHES_PER_MINUTE), lambda: self.clock(), system=self.title)
        """QuickBooks takes at most 40 batch requests a minute per company, besides its 500 calls."""
        self.token_store: TokenStore | None = None
        """Where OAuth tokens are kept (`hub.credentials.StoredTokens`); the hub sets it before the first call."""
        self.clock = now_utc
        self._auth: httpx.Auth | None = None
        self.client = QboClient(http, self.base_url, self.realm_id, self._authentication)

    def remote_type(self, entity: str) -> str:
        """The QuickBooks entity a home entity type is recorded as (several share ``Invoice``)."""
        return self.contract.entity(entity).remote_type

    # --- listing -----------------------------------------------------------------------------------------------

    async def list_page(self, request: PageRequest) -> Page:
        """One page: the records asked for by id, the changes since a date, or everything in Id order."""
        remote_type = self.remote_type(request.entity)
        if request.ids:
            return await self._targeted(remote_type, request)
        if request.since is not None and request.token is None:
            changed = await self._changes_since(remote_type, request.since)
            if changed is not None:
                return Page(self._own(request.entity, changed))
        return await self._query_page(remote_type, request)

    def _own(self, entity: str, rows: list[dict[str, Any]]) -> list[RemoteRecord]:
        """The rows that belong to this home type (several share QuickBooks' Invoice), as it sees them."""
        return [remote_record(self.doc_numbers.to_home(entity, row)) for row in rows
                if self.doc_numbers.owns(entity, row)]

    async def _targeted(self, remote_type: str, request: PageRequest) -> Page:
        ids = sorted(set(request.ids), key=id_order)
        chunk = int(request.token) if (request.token or "").isdigit() else 0
        wanted = ids[chunk * IDS_PER_QUERY : (chunk + 1) * IDS_PER_QUERY]
        answer = await self._query(statement(remote_type, since=request.since, ids=wanted))
        rows = rows_of(answer, remote_type)
        found = self._own(request.entity, rows)
        if request.since is None:
            # The query names inactive records too, and QuickBooks never reuses an Id: one it does not
            # return was deleted (a webhook's "deleted" event is pulled this way). One it returns that belongs
            # to another home type was not.
            returned = {row["Id"] for row in rows}
            found += [
                RemoteRecord(remote_id, {"Id": remote_id, "status": "Deleted"}, deleted=True)
                for remote_id in wanted
                if remote_id not in returned
            ]
        more = (chunk + 1) * IDS_PER_QUERY < len(ids)
        return Page(found, str(chunk + 1) if more else None)

    async def _changes_since(self, remote_type: str, since: datetime) -> list[dict[str, Any]] | None:
        """What CDC says changed since ``since``, or None when CDC cannot give all of it."""
        if since < self.clock() - CDC_LOOKBACK:
            return None
        params = {"entities": remote_type, "changedSince": qbo_time(since)}
        try:
            answer = await self.client.get("cdc", params, listing=True)
        except Fault:
            # QuickBooks' own clock decides what "30 days" is; a refusal is answered by the query below.
            return None
        rows = cdc_rows(answer, remote_type)
        return rows if len(rows) < CDC_LIMIT else None

    async def _query_page(self, remote_type: str, request: PageRequest) -> Page:
        cursor = Cursor.parse(request.token)
        found = await self._query(statement(remote_type, start=cursor.position, since=request.since))
        rows = rows_of(found, remote_type)
        fresh, in_place = after_cursor(rows, cursor)
        following = Cursor(cursor.position + len(rows), rows[-1]["Id"]).token() if len(rows) == PAGE_SIZE else None
        return Page(self._own(request.entity, fresh), following, enumerates_all=request.since is None and in_place)

    async def _query(self, text: str) -> dict[str, Any]:
        try:
            return await self.client.query(text)
        except Fault as exc:
            # A refused listing is no single record's problem: retrying will not help, so the run stops.
            raise FatalSyncError(f"{exc} (query: {text})") from exc

    # --- one record --------------------------------------------------------------------------------------------

    async def read(self, entity: str, remote_id: str) -> RemoteRecord | None:
        """One record by Id, or None when QuickBooks has no live record of this home type with it."""
        remote_type = self.remote_type(entity)
        try:
            answer = await self.client.get(f"{remote_type.lower()}/{quote(remote_id, safe='')}")
        except Fault as exc:
            if exc.code == OBJECT_NOT_FOUND:
                return None
            raise
        found = self._own(entity, [entity_of(answer, remote_type)])
        return found[0] if found else None

    async def find_by_names(self, entity: str, names: list[str]) -> list[RemoteRecord]:
        """The records of this home type named so, inactive ones too: ``WHERE DisplayName IN ('a','b')`` (``Name``
        for items, ``DocNumber`` with the type's prefix for transactions), a few names a query."""
        remote_type, prop = self.remote_type(entity), self.contract.entity(entity).remote_name
        wanted = [self.doc_numbers.to_remote(entity, {prop: name})[prop] for name in dict.fromkeys(names)]
        found: list[RemoteRecord] = []
        for start in range(0, len(wanted), NAMES_PER_QUERY):
            answer = await self._query(statement(remote_type, named=(prop, wanted[start : start + NAMES_PER_QUERY])))
            found += self._own(entity, rows_of(answer, remote_type))
        return found

    async def create(self, entity: str, values: dict[str, Any]) -> RemoteRecord:
        """Create a record from ``{remote path: value}``."""
        remote_type = self.remote_type(entity)
        body = self.doc_numbers.to_remote(entity, nest(values))
        if remote_type == "Item":
            body = await self._new_item(body)
        answer = await self.client.post(remote_type.lower(), body)
        return remote_record(self.doc_numbers.to_home(entity, entity_of(answer, remote_type)))

    async def create_many(self, entity: str, values: list[dict[str, Any]]) -> list[RemoteRecord | RecordError]:
        """Create up to 30 records with one ``POST /batch`` (a single one with a plain create); each gets the record
        QuickBooks stored or the error of its own Fault. Batches keep to QuickBooks' 40 a minute."""
        if len(values) == 1:
            return await super().create_many(entity, values)
        remote_type = self.remote_type(entity)
        results: list[RemoteRecord | RecordError | None] = [None] * len(values)
        requests, positions = [], []
        for position, one in enumerate(values):
            try:
                body = self.doc_numbers.to_remote(entity, nest(one))
                if remote_type == "Item":
                    body = await self._new_item(body)
            except RecordError as exc:
                results[position] = exc
                continue
            requests.append({"bId": str(len(requests)), "operation": "create", remote_type: body})
            positions.append(position)
        if requests:
            async with self.batches.slot():
                answer = await self.client.post("batch", {"BatchItemRequest": requests})
            for position, entity_data in zip(positions, batch_entities(answer, remote_type, len(requests)),
                                             strict=True):
                results[position] = entity_data if isinstance(entity_data, RecordError) else remote_record(
                    self.doc_numbers.to_home(entity, entity_data))
        return [result for result in results if result is not None]

    async def _new_item(self, body: dict[str, Any]) -> dict[str, Any]:
        """An Item body with the accounts QuickBooks requires, and an Inventory Item's opening quantity."""
        body = {**body, **await self.item_accounts.refs(self.client, body.get("Type"))}
        if body.get("Type") == "Inventory":
            # QuickBooks needs quantity tracking and a start for it; the hub keeps no stock, so it starts at zero.
            today = self.clock().date().isoformat()
            body = {"TrackQtyOnHand": True, "QtyOnHand": 0, "InvStartDate": today, **body}
        return body

    async def update(self, entity: str, record: RemoteRecord, changes: dict[str, Any]) -> RemoteRecord:
        """A sparse update of the changed fields, under the SyncToken the engine last saw."""
        remote_type = self.remote_type(entity)
        if record.version is None:
            raise StaleWrite(f"no SyncToken is known for {remote_type} {record.id}: it must be read again")
        body = nest(changes)
        current = record.data
        if "Id" not in current and any(isinstance(value, dict) for value in body.values()):
            # A sparse update replaces a whole aggregate (BillAddr): the members not changed must be sent as well.
            fresh = await self.read(entity, record.id)
            if fresh is None:
                raise RecordError(f"{remote_type} {record.id} no longer exists in QuickBooks Online")
            if fresh.version != record.version:
                raise StaleWrite(f"{remote_type} {record.id} changed in QuickBooks Online since the hub last saw it")
            current = fresh.data
        for key, value in body.items():
            if isinstance(value, dict) and isinstance(current.get(key), dict):
                body[key] = _merged(current[key], value)
        body = self.doc_numbers.to_remote(entity, body)
        sparse = {**body, "Id": record.id, "SyncToken": record.version, "sparse": True}
        answer = await self.client.post(remote_type.lower(), sparse)
        return remote_record(self.doc_numbers.to_home(entity, entity_of(answer, remote_type)))

    async def deactivate(self, entity: str, record: RemoteRecord) -> RemoteRecord:
        """Make a customer, vendor or item inactive (QuickBooks never deletes them): a sparse update of ``Active``
        under the SyncToken the hub last saw, so a record changed meanwhile is refused (StaleWrite) and re-read."""
        remote_type = self.remote_type(entity)
        if record.version is None:
            raise StaleWrite(f"no SyncToken is known for {remote_type} {record.id}: it must be read again")
        sparse = {"Id": record.id, "SyncToken": record.version, "sparse": True, "Active": False}
        answer = await self.client.post(remote_type.lower(), sparse)
        return remote_record(self.doc_numbers.to_home(entity, entity_of(answer, remote_type)))

    # --- webhooks, credentials, simulator ----------------------------------------------------------------------

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[WebhookEvent]:
        """Events of this connection's company, one for each home type this connection syncs that the entity is.

        An Invoice event names ``invoice``, ``ship_doc`` and ``work_order``: the webhook does not say which the
        Invoice is, and each type's targeted pull keeps only the Invoices with its own DocNumber prefix.
        """
        home_entities: dict[str, list[str]] = {}
        for name, entity in self.contract.entities.items():
            if not self.connection.entities or name in self.connection.entities:
                home_entities.setdefault(entity.remote_type.lower(), []).append(name)
        return webhooks.parse_webhook(body, self.realm_id, home_entities)

    def _authentication(self) -> httpx.Auth:
        if self._auth is None:
            self._auth = connection_auth(self.connection, self.http, self.token_store, self.clock)
        return self._auth

    @classmethod
    def simulator(cls) -> Any:
        """The QuickBooks Online simulator app."""
        # Imported here: a production hub never needs the simulator's modules loaded.
        from plugins.quickbooks.simulator import create_app

        return create_app()


def _merged(current: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """An aggregate as it is, with the changed members laid over it (nested ones too)."""
    merged = copy.deepcopy(current)
    for key, value in change.items():
        merged[key] = (
            _merged(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged

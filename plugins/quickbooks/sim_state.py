"""The simulator's state: companies (realms) and their records, and what QuickBooks does on each call.

Records of one entity are kept in Id order (QuickBooks' own default order), each change is logged in
time order for CDC and time-ordered queries, and a query's full result is cached until the entity next
changes, so paging through 100,000 records slices a list instead of filtering and sorting again.
"""

from __future__ import annotations

import copy
import heapq
import math
from bisect import bisect_left
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import islice, repeat
from typing import Any

import httpx

from plugins.quickbooks.sim_entities import (
    BY_PATH,
    ENTITY_TYPES,
    ITEM_ACCOUNTS,
    SERVER_FIELDS,
    EntityType,
    check_new_item,
    prepare,
    writable,
)
from plugins.quickbooks.sim_query import Condition, Query, compile_where, named_ids, order_rows, parse_query
from plugins.quickbooks.sim_webhooks import ChangeEvent, WebhookFormat, deliver, encode
from plugins.quickbooks.sim_wire import (
    PACIFIC,
    QboFault,
    aware,
    batch_too_large,
    cdc_too_old,
    duplicate_name,
    invalid_reference,
    meta_time,
    object_not_found,
    parse_time,
    query_invalid,
    required_param,
    stale_object,
    unsupported_operation,
    unsupported_property,
)

BATCH_LIMIT = 30
CDC_LIMIT = 1000
CDC_LOOKBACK = timedelta(days=30)
_CACHED_QUERIES = 8
_REMEMBERED_REQUESTS = 20_000
_PRESERVED_ON_UPDATE = {"Customer": ("Balance",), "Vendor": ("Balance",)}
"""Read-only after create: a client's value in an update is ignored."""
_LAST_UPDATED = ("metadata", "lastupdatedtime")


@dataclass(slots=True)
class Stored:
    """One record as stored: its wire form, its MetaData times as epoch seconds, and its change number."""

    data: dict[str, Any]
    created: float
    updated: float
    seq: int
    deleted: bool = False


@dataclass(slots=True)
class _Result:
    """A query's rows for one version of the entity, and (when read lazily) the matches not read yet."""

    version: int
    rows: list[Stored]
    rest: Iterator[Stored] | None


class EntityTable:
    """One company's records of one entity type, in Id order, with a change log and a query cache."""

    def __init__(self, kind: EntityType) -> None:
        self.kind = kind
        self.records: dict[str, Stored] = {}
        self.version = 0
        self._log: list[tuple[float, int, str]] = []
        self._log_sorted = True
        self._cache: OrderedDict[Hashable, _Result] = OrderedDict()

    def put(self, stored: Stored) -> None:
        """Store a new version of a record and log the change."""
        record_id = stored.data["Id"]
        self.records[record_id] = stored
        self.version += 1
        entry = (stored.updated, stored.seq, record_id)
        if self._log and entry < self._log[-1]:
            self._log_sorted = False
        self._log.append(entry)

    def live(self, record_id: str) -> Stored | None:
        """The record with this Id unless it does not exist or was deleted."""
        stored = self.records.get(record_id)
        return stored if stored is not None and not stored.deleted else None

    def changes_since(self, since: float) -> Iterator[Stored]:
        """The current version of every record changed at or after ``since``, oldest change first."""
        if not self._log_sorted:
            self._log.sort()
            self._log_sorted = True
        for position in range(bisect_left(self._log, (since,)), len(self._log)):
            _updated, seq, record_id = self._log[position]
            stored = self.records[record_id]
            if stored.seq == seq:
                yield stored

    def select(self, query: Query, tz: tzinfo) -> list[Stored]:
        """The live records the query matches, in its order, at least as far as its page reaches.

        Results are cached until the entity changes, so paging slices a list instead of filtering again.
        """
        conditions = query.where
        if self.kind.is_list and not query.mentions_active():
            # QuickBooks leaves inactive list records out unless the query asks about Active.
            conditions = (*conditions, Condition(("Active",), "=", (True,)))
        key = (conditions, query.order)
        result = self._cache.get(key)
        if result is None or result.version != self.version:
            result = self._evaluate(conditions, query, tz)
            self._cache[key] = result
            if len(self._cache) > _CACHED_QUERIES:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        need = None if query.count else query.start - 1 + query.max_results
        if result.rest is not None and (need is None or len(result.rows) < need):
            wanted = None if need is None else need - len(result.rows)
            read = len(result.rows)
            result.rows.extend(islice(result.rest, wanted))
            if wanted is None or len(result.rows) - read < wanted:
                result.rest = None
        return result.rows

    def _evaluate(self, conditions: tuple[Condition, ...], query: Query, tz: tzinfo) -> _Result:
        test = compile_where(conditions, tz)
        ids = named_ids(conditions)
        if ids is not None:
            # A targeted read (``Id IN (...)``): look each Id up rather than test every record against every Id.
            found = [self.records.get(record_id) for record_id in ids]
            rows = sorted((s for s in found if s is not None and not s.deleted and test(s)), key=_id_order)
            return _Result(self.version, order_rows(rows, query.order) if query.order else rows, None)
        if _ordered_by_last_update(query):
            # The change log is in LastUpdatedTime order already: read it lazily from the query's lower bound,
            # only as far as the pages asked for so far.
            matches = (row for row in self.changes_since(_lower_bound(conditions, tz)) if not row.deleted and test(row))
            return _Result(self.version, [], matches)
        rows = [stored for stored in self.records.values() if not stored.deleted and test(stored)]
        return _Result(self.version, order_rows(rows, query.order) if query.order else rows, None)


def _id_order(stored: Stored) -> int:
    """Records in the order they are kept: by Id, a number (the simulator only ever assigns digit strings)."""
    return int(stored.data["Id"])


def _folded(path: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(step.lower() for step in path)


def _ordered_by_last_update(query: Query) -> bool:
    """Whether the query is ordered by LastUpdatedTime ascending only: the change log already is."""
    return len(query.order) == 1 and _folded(query.order[0][0]) == _LAST_UPDATED and not query.order[0][1]


def _lower_bound(conditions: tuple[Condition, ...], tz: tzinfo) -> float:
    """The earliest LastUpdatedTime a ``>``/``>=`` condition allows, to start reading the log there."""
    bound = -math.inf
    for condition in conditions:
        if (
            _folded(condition.path) == _LAST_UPDATED
            and condition.op in (">", ">=")
            and isinstance(condition.values[0], str)
        ):
            bound = max(bound, parse_time(condition.values[0], tz) or -math.inf)
    return bound


class Realm:
    """One QuickBooks company: its records, its name registry, Id sequences and traffic counters."""

    def __init__(self, realm_id: str) -> None:
        self.id = realm_id
        self.tables = {name: EntityTable(kind) for name, kind in ENTITY_TYPES.items()}
        self.next_id: Counter[str] = Counter()
        self.next_doc_number = 1001
        self.names: dict[tuple[str, str], tuple[str, str]] = {}
        self.window: deque[float] = deque()
        self.in_flight = 0
        self.responses: OrderedDict[str, tuple[int, bytes]] = OrderedDict()

    def allocate_id(self, id_space: str) -> str:
        """The next Id in a family of entities that share a sequence."""
        self.next_id[id_space] += 1
        return str(self.next_id[id_space])

    def remember(self, request_id: str, status: int, body: bytes) -> None:
        """Keep a response to replay when the same ``requestid`` comes again."""
        self.responses[request_id] = (status, body)
        if len(self.responses) > _REMEMBERED_REQUESTS:
            self.responses.popitem(last=False)


def _name_key(kind: EntityType, data: dict[str, Any]) -> tuple[str, str] | None:
    if kind.unique_field is None or not isinstance(data.get(kind.unique_field), str):
        return None
    return (kind.id_space, data[kind.unique_field].strip().casefold())


class QboSimulator:
    """The simulator's state and behaviour: every company it hosts, injected faults, counters and webhooks."""

    def __init__(
        self,
        *,
        realm_id: str = "9341453000000000",
        clock: Callable[[], datetime] | None = None,
        company_tz: tzinfo = PACIFIC,
        verifier_token: str = "sim-verifier-token",
        webhook_url: str | None = None,
        webhook_format: WebhookFormat = "cloudevents",
        webhook_transport: httpx.AsyncBaseTransport | None = None,
        per_minute: int = 500,
        in_flight: int = 10,
        retry_after_header: bool = False,
        latency: float = 0.0,
    ) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.tz = company_tz
        self.verifier_token = verifier_token
        self.webhook_url = webhook_url
        self.webhook_format: WebhookFormat = webhook_format
        self.webhook_transport = webhook_transport
        self.per_minute = per_minute
        self.max_in_flight = in_flight
        self.retry_after_header = retry_after_header
        self.latency = latency
        self.default_realm = realm_id
        self.realms: dict[str, Realm] = {realm_id: Realm(realm_id)}
        self.calls: Counter[str] = Counter()
        self.pending_events: list[ChangeEvent] = []
        self._failures: deque[int] = deque()
        self._seq = 0

    # --- Time and companies ---------------------------------------------------------------------

    def now(self) -> datetime:
        """The simulator's clock reading, with a time zone."""
        return aware(self.clock())

    def _stamp(self) -> float:
        """Now as whole epoch seconds: QuickBooks keeps MetaData times to the second."""
        return float(math.floor(self.now().timestamp()))

    def add_realm(self, realm_id: str) -> Realm:
        """Host another company (an empty one)."""
        return self.realms.setdefault(realm_id, Realm(realm_id))

    def realm(self, realm_id: str | None = None) -> Realm:
        """A hosted company, the default one when no Id is given; KeyError for an unknown one."""
        return self.realms[realm_id or self.default_realm]

    # --- API operations -------------------------------------------------------------------------

    def read(self, realm: Realm, kind: EntityType, record_id: str) -> dict[str, Any]:
        """``GET /{entity}/{id}``: the record, or fault 610."""
        stored = realm.tables[kind.name].live(record_id)
        if stored is None:
            raise object_not_found()
        return stored.data

    def write(self, realm: Realm, kind: EntityType, body: Any, operation: str | None) -> dict[str, Any]:
        """``POST /{entity}``: create, full or sparse update, or (``operation=delete``) delete."""
        if not isinstance(body, dict):
            raise unsupported_property("failed to parse json object; a property")
        chosen = (operation or "").lower()
        if chosen == "delete":
            return self.delete(realm, kind, body)
        if chosen not in ("", "create", "update"):
            raise unsupported_operation(f"Operation {operation} is not supported.")
        if body.get("Id") not in (None, "", 0, "0"):
            return self.update(realm, kind, body)
        return self.create(realm, kind, body)

    def create(
        self, realm: Realm, kind: EntityType, body: dict[str, Any], *, times: tuple[float, float] | None = None
    ) -> dict[str, Any]:
        """Create a record; ``times`` (created, updated) backdates it, for seeding, and sends no webhook."""
        fields = writable(kind, body)
        if kind.name == "Item" and times is None:
            # Seeded Items stand for ones a company already has; only the API's creates are checked.
            check_new_item(fields)
        self._shape(realm, kind, fields, None)
        if kind.name == "Invoice" and "DocNumber" not in fields:
            fields["DocNumber"] = str(realm.next_doc_number)
            realm.next_doc_number += 1
        now = self._stamp()
        created, updated = times or (now, now)
        data = self._finish(kind, fields, realm.allocate_id(kind.id_space), "0", created, updated)
        self._store(realm, kind, data, created, updated, notify=times is None, operation="Create")
        return data

    def update(self, realm: Realm, kind: EntityType, body: dict[str, Any]) -> dict[str, Any]:
        """A full update (omitted fields are cleared) or, with ``"sparse": true``, a sparse one."""
        record_id = str(body["Id"])
        current = realm.tables[kind.name].live(record_id)
        if current is None:
            raise object_not_found()
        self._check_sync_token(current, body)
        incoming = writable(kind, body)
        if body.get("sparse") in (True, "true"):
            fields = copy.deepcopy({key: value for key, value in current.data.items() if key not in SERVER_FIELDS})
            for key in body:
                if key in SERVER_FIELDS:
                    continue
                if key in incoming:
                    fields[key] = incoming[key]
                else:
                    # A field sent blank in a sparse update is cleared.
                    fields.pop(key, None)
        else:
            fields = incoming
        for key in _PRESERVED_ON_UPDATE.get(kind.name, ()):
            if key in current.data:
                fields[key] = current.data[key]
        self._shape(realm, kind, fields, record_id)
        updated = self._stamp()
        token = str(int(current.data["SyncToken"]) + 1)
        data = self._finish(kind, fields, record_id, token, current.created, updated)
        # [G] QuickBooks announces a list record made inactive as a Delete: the API cannot delete them.
        deactivated = kind.is_list and current.data.get("Active", True) and not data.get("Active", True)
        self._unregister_name(realm, kind, current.data)
        self._store(realm, kind, data, current.created, updated, operation="Delete" if deactivated else "Update")
        return data

    def delete(self, realm: Realm, kind: EntityType, body: dict[str, Any]) -> dict[str, Any]:
        """``operation=delete``: transactions only; the record becomes a ``Deleted`` marker for CDC."""
        if kind.is_list:
            raise unsupported_operation(f"Operation Delete is not supported for entity {kind.name}.")
        if body.get("Id") in (None, ""):
            raise required_param("Id")
        record_id = str(body["Id"])
        current = realm.tables[kind.name].live(record_id)
        if current is None:
            raise object_not_found()
        self._check_sync_token(current, body)
        updated = self._stamp()
        marker = {
            "domain": "QBO",
            "status": "Deleted",
            "Id": record_id,
            "MetaData": {"LastUpdatedTime": meta_time(updated, self.tz)},
        }
        self._seq += 1
        realm.tables[kind.name].put(Stored(marker, current.created, updated, self._seq, deleted=True))
        self._announce(realm, kind, record_id, "Delete", updated)
        return {"status": "Deleted", "domain": "QBO", "Id": record_id}

    def query(self, realm: Realm, text: str) -> dict[str, Any]:
        """``/query``: the ``QueryResponse`` object for one SELECT statement."""
        query = parse_query(text)
        kind = ENTITY_TYPES.get(query.entity)
        if kind is None:
            # [G] the detail; the entity name is case-sensitive and must be one QuickBooks knows.
            raise query_invalid(f"Invalid context declaration : {query.entity}")
        for path in [condition.path for condition in query.where] + [path for path, _ in query.order]:
            if not kind.knows(path[0]):
                raise query_invalid(f"Property {path[0]} not found for Entity {kind.name}")
        rows = realm.tables[kind.name].select(query, self.tz)
        if query.count:
            return {"totalCount": len(rows)}
        page = rows[query.start - 1 : query.start - 1 + query.max_results]
        if not page:
            return {}
        return {kind.name: [stored.data for stored in page], "startPosition": query.start, "maxResults": len(page)}

    def cdc(self, realm: Realm, entities: str, changed_since: str) -> list[dict[str, Any]]:
        """``/cdc``: the ``CDCResponse`` list, oldest changes first, at most 1,000 objects in all."""
        names = [name.strip() for name in entities.split(",") if name.strip()]
        if not names:
            raise required_param("entities")
        kinds = []
        for name in names:
            if name.lower() not in BY_PATH:
                raise unsupported_operation(f"Operation cdc is not supported for entity {name}.")
            kinds.append(BY_PATH[name.lower()])
        if not changed_since:
            raise required_param("changedSince")
        since = parse_time(changed_since, self.tz)
        if since is None:
            raise unsupported_property(f"changedSince={changed_since}")
        if since < (self.now() - CDC_LOOKBACK).timestamp():
            raise cdc_too_old(changed_since)
        # Each entity's changes come oldest first: merge the streams and keep the oldest 1,000 in all.
        streams = [zip(realm.tables[kind.name].changes_since(since), repeat(kind.name)) for kind in kinds]
        merged = heapq.merge(*streams, key=lambda change: (change[0].updated, change[0].seq))
        kept: dict[str, list[dict[str, Any]]] = {kind.name: [] for kind in kinds}
        for stored, name in islice(merged, CDC_LIMIT):
            kept[name].append(stored.data)
        responses = [
            {name: rows, "startPosition": 1, "maxResults": len(rows)} if rows else {} for name, rows in kept.items()
        ]
        return [{"QueryResponse": responses}]

    def batch(self, realm: Realm, body: Any) -> list[dict[str, Any]]:
        """``/batch``: up to 30 independent items, each answered with its entity, its query or its Fault."""
        items = body.get("BatchItemRequest") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise required_param("BatchItemRequest")
        if len(items) > BATCH_LIMIT:
            raise batch_too_large(BATCH_LIMIT)
        answers = []
        for item in items:
            bid = item.get("bId") if isinstance(item, dict) else None
            try:
                answers.append({"bId": bid, **self._batch_item(realm, item)})
            except QboFault as fault:
                answers.append({"bId": bid, "Fault": fault.fault()})
        return answers

    def _batch_item(self, realm: Realm, item: Any) -> dict[str, Any]:
        if not isinstance(item, dict):
            raise unsupported_property("failed to parse json object; a property")
        if "Query" in item:
            return {"QueryResponse": self.query(realm, str(item["Query"]))}
        named = [key for key in item if key in ENTITY_TYPES]
        if len(named) != 1 or not isinstance(item[named[0]], dict) or "optionsData" in item:
            raise unsupported_operation("Operation is not supported in a batch item.")
        kind, body = ENTITY_TYPES[named[0]], item[named[0]]
        operation = item.get("operation", "create")
        if operation == "create":
            return {kind.name: self.create(realm, kind, body)}
        if operation == "update":
            if body.get("Id") in (None, ""):
                raise required_param("Id")
            return {kind.name: self.update(realm, kind, body)}
        if operation == "delete":
            return {kind.name: self.delete(realm, kind, body)}
        raise unsupported_operation(f"Operation {operation} is not supported.")

    # --- How a write is shaped, checked and stored ----------------------------------------------

    @staticmethod
    def _check_sync_token(current: Stored, body: dict[str, Any]) -> None:
        if body.get("SyncToken") in (None, ""):
            raise required_param("SyncToken")
        if str(body["SyncToken"]) != current.data["SyncToken"]:
            raise stale_object()

    def _shape(self, realm: Realm, kind: EntityType, fields: dict[str, Any], record_id: str | None) -> None:
        """Validate fields, resolve references, derive the full name, and check the name is free."""
        prepare(kind, fields, self.now().astimezone(self.tz).date().isoformat())
        if kind.party_ref is not None:
            ref_field, target = kind.party_ref
            party = self._referenced(realm, target, fields[ref_field], ref_field)
            fields[ref_field] = {"value": party.data["Id"], "name": party.data["DisplayName"]}
        if kind.name == "Item":
            for ref_field in ITEM_ACCOUNTS:
                if ref_field in fields:
                    account = self._referenced(realm, "Account", fields[ref_field], ref_field)
                    fields[ref_field] = {"value": account.data["Id"], "name": account.data["Name"]}
        if kind.unique_field is None:
            return
        own_name = fields["DisplayName"] if kind.id_space == "name" else fields["Name"]
        parent_ref = fields.get("ParentRef")
        if parent_ref is not None and kind.name in ("Customer", "Item"):
            parent = self._referenced(realm, kind.name, parent_ref, "ParentRef")
            if parent.data["Id"] == record_id:
                raise invalid_reference("ParentRef")
            fields["ParentRef"] = {"value": parent.data["Id"]}
            fields["FullyQualifiedName"] = f"{parent.data['FullyQualifiedName']}:{own_name}"
            fields["Level"] = parent.data.get("Level", 0) + 1
            fields["Job" if kind.name == "Customer" else "SubItem"] = True
        else:
            fields["FullyQualifiedName"] = own_name
            if kind.name == "Customer":
                fields["Job"] = False
                fields["Level"] = 0
        key = _name_key(kind, fields)
        holder = realm.names.get(key) if key else None
        if holder is not None and holder != (kind.name, record_id):
            raise duplicate_name(holder[1])

    @staticmethod
    def _referenced(realm: Realm, entity: str, ref: Any, field: str) -> Stored:
        """The active record a reference names, or fault 2500."""
        value = ref.get("value") if isinstance(ref, dict) else None
        stored = realm.tables[entity].live(str(value)) if value is not None else None
        if stored is None or not stored.data.get("Active", True):
            raise invalid_reference(field)
        return stored

    def _finish(
        self, kind: EntityType, fields: dict[str, Any], record_id: str, token: str, created: float, updated: float
    ) -> dict[str, Any]:
        """The record's wire form: its fields plus what QuickBooks sets itself."""
        return {
            **fields,
            "domain": "QBO",
            "sparse": False,
            "Id": record_id,
            "SyncToken": token,
            "MetaData": {"CreateTime": meta_time(created, self.tz), "LastUpdatedTime": meta_time(updated, self.tz)},
        }

    def _store(
        self,
        realm: Realm,
        kind: EntityType,
        data: dict[str, Any],
        created: float,
        updated: float,
        *,
        operation: str,
        notify: bool = True,
    ) -> None:
        self._seq += 1
        realm.tables[kind.name].put(Stored(data, created, updated, self._seq))
        key = _name_key(kind, data)
        if key is not None:
            realm.names[key] = (kind.name, data["Id"])
        if notify:
            self._announce(realm, kind, data["Id"], operation, updated)

    @staticmethod
    def _unregister_name(realm: Realm, kind: EntityType, data: dict[str, Any]) -> None:
        key = _name_key(kind, data)
        if key is not None and realm.names.get(key) == (kind.name, data["Id"]):
            del realm.names[key]

    def _announce(self, realm: Realm, kind: EntityType, record_id: str, operation: str, at: float) -> None:
        self.pending_events.append(ChangeEvent(realm.id, kind.name, record_id, operation, at))

    # --- Traffic: injected failures, rate limits, call counts -----------------------------------

    def count_call(self, kind: str) -> None:
        """Count one API call of a kind (read, write, query, cdc, batch, other)."""
        self.calls[kind] += 1
        self.calls["total"] += 1

    def count_refusal(self) -> None:
        """Count a call refused for the realm's rate or concurrency limit."""
        self.calls["throttled"] += 1

    def take_failure(self) -> int | None:
        """The status the next call must fail with, if one was injected."""
        return self._failures.popleft() if self._failures else None

    def admit(self, realm: Realm) -> int | None:
        """Let a call in (None) or refuse it, giving the seconds until a retry could pass."""
        now = self.now().timestamp()
        window = realm.window
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= self.per_minute:
            return max(1, math.ceil(window[0] + 60 - now))
        if realm.in_flight >= self.max_in_flight:
            return 1
        window.append(now)
        realm.in_flight += 1
        return None

    def release(self, realm: Realm) -> None:
        """A call admitted by ``admit`` has finished."""
        realm.in_flight -= 1

    # --- Control surface ------------------------------------------------------------------------

    def seed(self, data: dict[str, list[dict[str, Any]]], realm_id: str | None = None) -> dict[str, list[str]]:
        """Create records as they already exist in QuickBooks (no webhooks); ``MetaData`` times are kept."""
        realm = self.realm(realm_id)
        created_ids: dict[str, list[str]] = {}
        for entity, records in data.items():
            kind = ENTITY_TYPES.get(entity)
            if kind is None:
                raise KeyError(f"unknown entity {entity!r}; known: {', '.join(ENTITY_TYPES)}")
            ids = created_ids.setdefault(entity, [])
            for record in records:
                ids.append(self.create(realm, kind, record, times=self._seed_times(record))["Id"])
        return created_ids

    def _seed_times(self, record: dict[str, Any]) -> tuple[float, float]:
        meta = record.get("MetaData") or {}
        now = self._stamp()
        updated = parse_time(meta["LastUpdatedTime"], self.tz) if "LastUpdatedTime" in meta else now
        created = parse_time(meta["CreateTime"], self.tz) if "CreateTime" in meta else updated
        if updated is None or created is None:
            raise ValueError(f"MetaData times must be ISO date-times: {meta}")
        return float(math.floor(created)), float(math.floor(updated))

    def records(self, entity: str, realm_id: str | None = None) -> list[dict[str, Any]]:
        """Every record of an entity, inactive ones and deletion markers included."""
        return [stored.data for stored in self.realm(realm_id).tables[self._kind(entity).name].records.values()]

    def edit(self, entity: str, record_id: str, changes: dict[str, Any], realm_id: str | None = None) -> dict[str, Any]:
        """Change fields as a QuickBooks user would: SyncToken and LastUpdatedTime move, a webhook is queued."""
        realm, kind = self.realm(realm_id), self._kind(entity)
        current = realm.tables[kind.name].live(record_id)
        if current is None:
            raise KeyError(f"no live {kind.name} {record_id}")
        return self.update(
            realm, kind, {**changes, "Id": record_id, "SyncToken": current.data["SyncToken"], "sparse": True}
        )

    def remove(self, entity: str, record_id: str, realm_id: str | None = None) -> dict[str, Any]:
        """Delete as a QuickBooks user would: transactions are deleted, list records made inactive."""
        realm, kind = self.realm(realm_id), self._kind(entity)
        if kind.is_list:
            return self.edit(entity, record_id, {"Active": False}, realm_id)
        current = realm.tables[kind.name].live(record_id)
        if current is None:
            raise KeyError(f"no live {kind.name} {record_id}")
        return self.delete(realm, kind, {"Id": record_id, "SyncToken": current.data["SyncToken"]})

    @staticmethod
    def _kind(entity: str) -> EntityType:
        kind = ENTITY_TYPES.get(entity) or BY_PATH.get(entity.lower())
        if kind is None:
            raise KeyError(f"unknown entity {entity!r}; known: {', '.join(ENTITY_TYPES)}")
        return kind

    def fail_next(self, status: int, count: int = 1) -> None:
        """Make the next ``count`` API calls fail with ``status``."""
        self._failures.extend([status] * count)

    def throttle_next(self, count: int = 1) -> None:
        """Make the next ``count`` API calls answer 429 ThrottleExceeded."""
        self.fail_next(429, count)

    def reset(self) -> None:
        """Forget every record, event, counter and injected failure; keep the configuration."""
        self.realms = {realm_id: Realm(realm_id) for realm_id in self.realms}
        self.calls.clear()
        self.pending_events.clear()
        self._failures.clear()

    async def flush_webhooks(self, fmt: WebhookFormat | None = None) -> dict[str, Any]:
        """Deliver every pending event in one signed POST; events stay pending unless it is acknowledged."""
        if self.webhook_url is None:
            raise LookupError("the simulator has no webhook_url")
        events = list(self.pending_events)
        if not events:
            return {"delivered": 0, "status": None}
        body = encode(events, fmt or self.webhook_format, self.tz)
        try:
            status = await deliver(self.webhook_url, body, self.verifier_token, self.webhook_transport)
        except httpx.HTTPError as error:
            return {"delivered": 0, "status": None, "error": str(error)}
        if 200 <= status < 300:
            del self.pending_events[: len(events)]
            return {"delivered": len(events), "status": status}
        return {"delivered": 0, "status": status}

"""A test plugin: a system whose records live in memory, with knobs to make it fail, race and page."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from hub import hookimpl
from hub.config import Connection
from hub.contracts import Contract, load_contract
from hub.errors import MalformedPayload, RecordError, RetriableError, StaleWrite
from hub.paths import set_path
from hub.safeparse import parse_json
from hub.system import System
from hub.types import Page, PageRequest, RemoteRecord, WebhookEvent

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 60) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass
class MemoryRemote:
    """The remote system's state: records by type and id, plus fault injection."""

    clock: Clock
    page_size: int = 2
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    down: bool = False
    fail_writes: dict[str, str] = field(default_factory=dict)
    races: dict[str, int] = field(default_factory=dict)
    next_id: int = 1

    def add(self, entity: str, data: dict[str, Any], *, modified: datetime | None = None) -> str:
        """Seed a record as if a user made it in the remote system."""
        record_id = f"R{self.next_id}"
        self.next_id += 1
        self.records.setdefault(entity, {})[record_id] = {
            "Id": record_id,
            **copy.deepcopy(data),
            "Version": 0,
            "Modified": modified or self.clock(),
        }
        return record_id

    def edit(self, entity: str, record_id: str, changes: dict[str, Any]) -> None:
        """Change a record as a remote user would."""
        row = self.records[entity][record_id]
        for path, value in changes.items():
            set_path(row, path, value)
        row["Version"] += 1
        row["Modified"] = self.clock()

    def get(self, entity: str, record_id: str) -> dict[str, Any]:
        return self.records[entity][record_id]

    def by_name(self, entity: str, name: str) -> dict[str, Any]:
        return next(r for r in self.records.get(entity, {}).values() if r.get("Name") == name)

    def remote(self, entity: str, row: dict[str, Any]) -> RemoteRecord:
        data = {k: v for k, v in row.items() if k != "Modified"}
        return RemoteRecord(
            row["Id"], copy.deepcopy(data), row["Modified"], str(row["Version"]), deleted=row.get("Deleted", False)
        )


class MemorySystem(System):
    """The test plugin's system."""

    name = "memory"
    title = "Memory"
    contract_path = Path(__file__).parent / "contracts" / "memory.json"
    remote_store: MemoryRemote | None = None

    def __init__(self, connection: Connection, http: httpx.AsyncClient, remote: MemoryRemote | None = None) -> None:
        super().__init__(connection, http)
        self.remote = remote or type(self).remote_store

    def _check(self, what: str, key: str) -> None:
        self.remote.calls.append((what, key))
        if self.remote.down:
            raise RetriableError("memory: cannot reach the system")

    async def list_page(self, request: PageRequest) -> Page:
        self._check("list", request.token or "")
        rows = sorted(self.remote.records.get(request.entity, {}).values(), key=lambda r: int(r["Id"][1:]))
        if request.since:
            rows = [r for r in rows if r["Modified"] >= request.since]
        if request.ids:
            rows = [r for r in rows if r["Id"] in request.ids]
        start = int(request.token or 0)
        chunk = rows[start : start + self.remote.page_size]
        following = start + self.remote.page_size
        return Page(
            [self.remote.remote(request.entity, r) for r in chunk],
            str(following) if following < len(rows) else None,
            enumerates_all=request.since is None and not request.ids,
        )

    async def read(self, entity: str, remote_id: str) -> RemoteRecord | None:
        self._check("read", remote_id)
        row = self.remote.records.get(entity, {}).get(remote_id)
        return self.remote.remote(entity, row) if row else None

    async def create(self, entity: str, values: dict[str, Any]) -> RemoteRecord:
        self._check("create", str(values))
        name = values.get("Name")
        if name in self.remote.fail_writes:
            raise RecordError(self.remote.fail_writes[name])
        data: dict[str, Any] = {}
        for path, value in values.items():
            set_path(data, path, value)
        record_id = self.remote.add(entity, data)
        return self.remote.remote(entity, self.remote.get(entity, record_id))

    async def update(self, entity: str, record: RemoteRecord, changes: dict[str, Any]) -> RemoteRecord:
        self._check("update", record.id)
        row = self.remote.records[entity][record.id]
        if row.get("Name") in self.remote.fail_writes:
            raise RecordError(self.remote.fail_writes[row["Name"]])
        if self.remote.races.get(record.id):
            self.remote.races[record.id] -= 1
            self.remote.edit(entity, record.id, {"Note": f"concurrent edit {self.remote.races[record.id]}"})
            raise StaleWrite(f"memory: record {record.id} changed since it was read")
        if record.version is not None and record.version != str(row["Version"]):
            raise StaleWrite(f"memory: record {record.id} is at version {row['Version']}, not {record.version}")
        self.remote.edit(entity, record.id, changes)
        return self.remote.remote(entity, row)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[WebhookEvent]:
        """One event per delivery, Standard Webhooks style: {"type": "contact.updated", "data": {"id": "R1"}}."""
        payload = parse_json(body)
        if not isinstance(payload, dict):
            raise MalformedPayload(f"the body is a JSON {type(payload).__name__}, not an object")
        kind = payload.get("type")
        if not isinstance(kind, str) or kind.count(".") != 1:
            raise MalformedPayload(f"'type' must be text like 'contact.updated', got {kind!r}")
        entity, action = kind.split(".")
        data = payload.get("data")
        remote_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(remote_id, str) or not remote_id:
            raise MalformedPayload("'data.id' must name the changed record")
        return [WebhookEvent(entity, remote_id, action, event_id=headers.get("webhook-id"))]


def contract_file(tmp_path: Path, entities: dict[str, Any], **top: Any) -> Path:
    """Write a memory-system contract with the given entity types and return its path."""
    document = {
        "contract_version": 1,
        "plugin": "memory",
        "system": "Memory",
        "api": "hub-defined",
        "entities": entities,
        **top,
    }
    path = tmp_path / "memory.json"
    path.write_text(json.dumps(document, indent=2))
    return path


def contact_entity(fields: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """An entity type named contact with the memory system's shape."""
    return {
        "remote_type": "Contact",
        "remote_id": "Id",
        "remote_modified": "Modified",
        "remote_version": "Version",
        "name": {"remote": "Name"},
        "match": [{"type": "exact_name", "case_insensitive": True}],
        "create": {"to_home": "auto", "to_remote": "auto"},
        "fields": fields,
        **extra,
    }


def field_rule(home: str, remote: str, first: tuple[str, str], later: tuple[str, str], **extra: Any) -> dict[str, Any]:
    """One field mapping: (to_home, to_remote) for the first sync and for later ones."""
    return {
        "home": home,
        "remote": remote,
        "first_sync": {"to_home": first[0], "to_remote": first[1]},
        "later_sync": {"to_home": later[0], "to_remote": later[1]},
        **extra,
    }


def load(path: Path) -> Contract:
    return load_contract(path, transforms={}, verifiers={})


class MemoryPlugin:
    """Registers the memory system like a pip-installed plugin would."""

    __name__ = "memory"

    @hookimpl
    def register_systems(self, register):
        register(MemorySystem)

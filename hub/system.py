"""The base class a plugin subclasses to connect the hub to one external system.

A system declares what is particular to its API — list a page, read one record, create one, update one,
split a webhook into events — and the core does the rest: paging loops, rate limits, retries,
checkpoints, matching and merging.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx

from hub.config import Connection
from hub.errors import MalformedPayload, RecordError
from hub.oauth import TokenStore
from hub.store import now_utc
from hub.types import Page, PageRequest, RemoteRecord, WebhookEvent


class System:
    """One external system: a plugin sets the class attributes and overrides the async methods."""

    name: ClassVar[str]
    """The plugin name connections refer to, e.g. ``quickbooks``."""
    title: ClassVar[str] = ""
    """The system as its users call it."""
    contract_path: ClassVar[Path]
    """The plugin's JSON contract."""
    default_base_url: ClassVar[str] = ""
    """The vendor's production base URL."""
    limit_header_reader: ClassVar[Any] = None
    """Optional ``(response, now) -> datetime | None`` for vendor-specific rate-limit headers."""
    contract_only: ClassVar[bool] = False
    """True while a plugin ships its contract ahead of its client: listed, but no connection can use it."""
    absent_means_blank: ClassVar[bool] = False
    """True when the system leaves blank fields out of its records (QuickBooks), so absent reads as blank."""
    plugin_options: ClassVar[dict[str, dict[str, Any]] | None] = None
    """Connection options the plugin reads itself, beside its contract's (``{name: {"default", "description"}}``).
    Declared, the hub refuses any other option name; left None, only a near miss of a known name."""
    create_batch_size: ClassVar[int] = 1
    """How many new records ``create_many`` is given at a time: the size of the system's batch, 1 without one."""

    def __init__(self, connection: Connection, http: httpx.AsyncClient) -> None:
        self.connection = connection
        self.http = http
        self.clock: Callable[[], datetime] = now_utc
        """The hub's clock (tests move it by hand)."""
        self.token_store: TokenStore | None = None
        """Where OAuth2 tokens are kept, encrypted; set by the hub for a connection with a refresh_token secret."""

    @property
    def base_url(self) -> str:
        """The base URL the connection uses: its own, or the vendor's default."""
        return (self.connection.base_url or self.default_base_url).rstrip("/")

    async def list_page(self, request: PageRequest) -> Page:
        """One page of remote records of ``request.entity``, changed since ``request.since`` if given."""
        raise NotImplementedError(f"{self.name} cannot list {request.entity} records")

    async def read(self, entity: str, remote_id: str) -> RemoteRecord | None:
        """One remote record by id, or ``None`` when the system has no such record."""
        raise NotImplementedError(f"{self.name} cannot read {entity} records")

    async def create(self, entity: str, values: dict[str, Any]) -> RemoteRecord:
        """Create a remote record from ``{remote path: value}`` and return it as stored."""
        raise NotImplementedError(f"{self.name} cannot create {entity} records")

    async def create_many(self, entity: str, values: list[dict[str, Any]]) -> list[RemoteRecord | RecordError]:
        """Create several remote records; for each, in order, the record as stored or the RecordError that refused
        it. By default one ``create`` after another; a system with a batch endpoint sends them together."""
        results: list[RemoteRecord | RecordError] = []
        for one in values:
            try:
                results.append(await self.create(entity, one))
            except RecordError as exc:
                results.append(exc)
        return results

    async def find_by_names(self, entity: str, names: list[str]) -> list[RemoteRecord] | None:
        """The remote records (inactive ones too) whose name is one of ``names``; None when the system cannot look
        records up by name, the default. The hub compares the names itself, as the contract says."""
        return None

    async def update(self, entity: str, record: RemoteRecord, changes: dict[str, Any]) -> RemoteRecord:
        """Change some fields (``{remote path: value}``) of a remote record, leaving the rest as they are."""
        raise NotImplementedError(f"{self.name} cannot update {entity} records")

    async def deactivate(self, entity: str, record: RemoteRecord) -> RemoteRecord:
        """Make a remote record inactive (its home record was deleted, and the contract's ``on_home_delete`` says
        ``deactivate``) and return it as stored; ``record`` carries the id and the version the hub last saw.
        Unsupported by default: the entry stays queued with this error."""
        raise RecordError(f"{self.title or self.name} cannot deactivate {entity} records (the plugin does not "
                          "implement System.deactivate)")

    def webhook_secrets(self) -> list[str]:
        """The secrets that sign this connection's webhooks (several during a key rotation)."""
        return [value for key, value in sorted(self.connection.secrets.items()) if key.startswith("webhook")]

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[WebhookEvent]:
        """Split a verified webhook body into events; MalformedPayload names what is wrong."""
        raise MalformedPayload(f"{self.name} does not take webhooks")

    @classmethod
    def simulator(cls) -> Any | None:
        """An ASGI app that speaks this system's wire format, for tests and the demo (None if there is none)."""
        return None

"""The hub's shared vocabulary: records, pages, events and the sentinel for "unset"."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Phase = Literal["first", "later"]
"""First sync of a link, or any later sync."""

Direction = Literal["to_home", "to_remote"]
"""Which way a value travels: from the external system into the hub, or out of it."""

Rule = Literal["never", "fill_blank", "overwrite", "newest", "mirror"]
"""An overwrite rule, per field, per direction and per phase."""

CreateRule = Literal["auto", "on_request", "never"]
"""When a record that exists on one side only is created on the other."""

LinkHow = Literal["matched", "manual", "created"]
"""How a home record came to be linked to a remote one."""

Fields = dict[str, Any]
"""A home record's field values, by home field name."""


class Unset:
    """The type of `UNSET`: a value that is absent, as opposed to present and blank."""

    _instance: Unset | None = None

    def __new__(cls) -> Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET = Unset()
"""An absent field: not sent by the system, not to be written. `None` and `""` are blanks."""


def is_blank(value: Any) -> bool:
    """Tell whether a field value counts as blank (absent, None, empty or whitespace-only text, empty list)."""
    if value is UNSET or value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, list | dict | tuple):
        return len(value) == 0
    return False


@dataclass(frozen=True, slots=True)
class RemoteRecord:
    """One record as an external system sent it: its id, its raw data and what the hub needs to track it."""

    id: str
    data: dict[str, Any]
    modified_at: datetime | None = None
    version: str | None = None
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class PageRequest:
    """What the engine asks a system for: one page of one entity type."""

    entity: str
    since: datetime | None = None
    token: str | None = None
    ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Page:
    """One page of remote records, the token of the next page, and whether the listing is complete."""

    records: list[RemoteRecord]
    next_token: str | None = None
    enumerates_all: bool = False
    """True when the listing (all its pages) returns every live record, so an absent one was deleted."""


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One change a webhook announced: which record, what happened, and the vendor's id for dedupe."""

    entity: str
    remote_id: str
    action: str
    event_id: str | None = None
    occurred_at: datetime | None = None
    account: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

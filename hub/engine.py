"""The sync engine: pull remote pages, link or match, merge field by field under the contract, apply, push.

One ``Engine`` serves one connection. A run walks each entity type in its scope through three steps:
flush the sync queue (local changes, in order), pull what changed remotely, then push what changed at
home and create what the contract says to create. Every decision becomes a run item that says why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from hub.config import Connection
from hub.contracts import Contract
from hub.entity_sync import EntitySync
from hub.errors import (
    FatalSyncError,
    RateLimited,
    ReauthorisationRequired,
    RetriableError,
    SyncError,
)
from hub.plans import summary_of
from hub.runs import Run, finish_run, start_run
from hub.store import Store, iso, now_utc, parse_iso
from hub.system import System
from hub.transforms import Transform, build_transform

Mode = Literal["contract", "pull", "newest"]


@dataclass(frozen=True)
class Scope:
    """What a run covers and how: entity types, records, fields, a modified-since date, and the mode."""

    entities: tuple[str, ...] = ()
    record_ids: tuple[str, ...] = ()
    remote_ids: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    since: datetime | None = None
    mode: Mode = "contract"
    create_home: bool = False
    create_remote: bool = False
    allow_empty_home: bool = False
    full: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The scope as stored on the run."""
        data = asdict(self)
        data["since"] = iso(self.since)
        return {key: value for key, value in data.items() if value not in ((), None, False, "contract")}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scope:
        """A scope as stored on a run, read back (to run it again)."""
        values = {key: tuple(value) if isinstance(value, list) else value for key, value in data.items()}
        if values.get("since"):
            values["since"] = parse_iso(values["since"])
        return cls(**values)


@dataclass
class RunResult:
    """How a run ended: its id, status, summary line, counts, and (for a dry run) the plan."""

    run_id: int | None
    connection: str
    status: str
    summary: str
    counts: dict[str, int]
    plan: list[dict[str, Any]] = field(default_factory=list)


class Engine:
    """Syncs one connection's records with the home store under its plugin's contract."""

    def __init__(self, store: Store, system: System, contract: Contract, connection: Connection, *,
                 transforms: Mapping[str, Transform] | None = None, clock: Callable[[], datetime] = now_utc) -> None:
        self.store = store
        self.system = system
        self.contract = contract
        self.connection = connection
        self.clock = clock
        self.options = {**contract.default_options(), **connection.options}
        registered = transforms or {}
        self.transforms = {
            (entity.name, mapping.home): build_transform(mapping.transform, registered)
            for entity in contract.entities.values() for mapping in entity.synced_fields
        }

    @property
    def name(self) -> str:
        """The connection's name."""
        return self.connection.name

    def entities_in(self, scope: Scope) -> list[str]:
        """The entity types a scope covers, in contract order; those the options switch off are left out."""
        if scope.entities:
            for name in scope.entities:
                if not self.contract.entity(name).enabled(self.options):
                    entity = self.contract.entity(name)
                    raise RefusedRun(f"{self.name}: {name} does not sync while option {entity.sync_when_option} "
                                     f"is not {entity.sync_when_equals!r}")
            return list(scope.entities)
        names = list(self.connection.entities or self.contract.entities)
        return [name for name in names if self.contract.entity(name).enabled(self.options)]

    async def sync(self, scope: Scope = Scope(), *, trigger: str = "manual", actor: str = "system",
                   dry_run: bool = False, on_progress: Callable[[Run], None] | None = None,
                   on_start: Callable[[Run], None] | None = None) -> RunResult:
        """Run one sync; the result says how it ended (errors of single records never stop it).

        ``on_start`` is told the run as soon as it is stored (its id known), before any record is synced.
        """
        entities = self.entities_in(scope)
        now = self.clock()
        selected = scope.record_ids if scope.create_remote else scope.remote_ids if scope.create_home else ()
        run = await start_run(self.store, connection=self.name, entities=entities, trigger=trigger, actor=actor,
                              scope=scope.as_dict(), dry_run=dry_run, now=now, total=len(selected) or None)
        run.on_progress = on_progress
        if on_start is not None:
            on_start(run)
        status, summary = "running", ""
        try:
            run.keep_alive(self.store, self.clock)  # the lock holds through a long page; finish_run stops it
            await self._refuse_unsafe_first_sync(scope, entities)
            await self._refuse_while_paused()
            # Seed 004's order: the sync queue is flushed, the system's changes come in, then transactions are
            # recorded. A pull (the system's values overwrite the hub's) leaves the queue as it is.
            parts = [EntitySync(self, self.contract.entity(entity), run, scope) for entity in entities]
            if scope.mode != "pull":  # a dry run plans the flush too, writing nothing
                for part in parts:
                    await part.flush_queue()
            complete = [await part.pull() for part in parts]
            for part, listed_all in zip(parts, complete, strict=True):
                await part.send(listed_all)
            status = run.status()
            summary = summary_of(run)
            if not dry_run and (await self.store.connection_state(self.name))["reauth_required"]:
                await self.store.set_connection_state(self.name, reauth_required=None)
        except StillPaused as exc:
            status, summary = f"paused until {iso(exc.until)}", str(exc)
        except RateLimited as exc:
            await self.pause(exc.until, str(exc), actor=actor)
            status, summary = f"paused until {iso(exc.until)}", f"{exc}; {summary_of(run)}"
        except ReauthorisationRequired as exc:
            status, summary = "re-authorisation required", str(exc)
            if not dry_run:
                await self.store.set_connection_state(self.name, reauth_required=str(exc))
                await self.store.log(actor, "re-authorisation required", f"{self.name}: {exc}",
                                     connection=self.name, at=self.clock())
        except (FatalSyncError, RetriableError) as exc:
            status, summary = "failed" if isinstance(exc, FatalSyncError) else "interrupted", f"{exc}"
        except RefusedRun as exc:
            status, summary = "refused", str(exc)
        except asyncio.CancelledError:
            status, summary = "interrupted", "the hub stopped while it ran"  # its checkpoints let the next run go on
            raise
        except Exception as exc:  # a bug (ours or a plugin's): the run says what it was, and the caller hears it
            status, summary = "failed", f"the run stopped on an unexpected error: {type(exc).__name__}: {exc}"
            raise
        finally:
            if status == "running":
                status, summary = "failed", "the run stopped on an unexpected error"
            await finish_run(self.store, run, status=status, summary=summary, now=self.clock())
        return RunResult(run.id, self.name, status, summary, run.progress(), [item.as_dict() for item in run.plan])

    async def pause(self, until: datetime, reason: str, *, actor: str = "system") -> None:
        """Pause the connection until ``until`` and say so in the activity log."""
        await self.store.set_connection_state(self.name, paused_until=iso(until), pause_reason=reason)
        await self.store.log(actor, "paused", f"{self.name}: sync paused until {iso(until)} ({reason})",
                             connection=self.name, at=self.clock())

    async def _refuse_while_paused(self) -> None:
        state = await self.store.connection_state(self.name)
        until = parse_iso(state["paused_until"])
        if until and until > self.clock():
            raise StillPaused(f"{self.name} is paused: {state['pause_reason']}", until)

    async def _refuse_unsafe_first_sync(self, scope: Scope, entities: list[str]) -> None:
        if scope.allow_empty_home or scope.create_home or not self.options.get("refuse_first_sync_into_empty_home"):
            return
        if await self.store.list_links(self.name) or await self.store.fetchone(
                "SELECT 1 FROM runs WHERE connection = ? AND dry_run = 0 AND (status = 'success' "
                "OR status LIKE 'completed%') LIMIT 1", (self.name,)):
            return  # not a first sync: its records were matched before (a deleted one is never matched again)
        if await self.store.fetchone(
                "SELECT 1 FROM runs WHERE connection = ? AND dry_run = 0 "
                "AND json_extract(scope, '$.allow_empty_home') = 1 LIMIT 1", (self.name,)):
            return  # the first sync was allowed and started (then paused or stopped): going on with it is allowed too
        if any([await self.store.count_records(entity) for entity in entities]):
            return
        raise RefusedRun(
            f"refusing the first sync of {self.name}: the hub has no {' or '.join(entities)} records yet, so "
            "nothing can be matched and the records loaded later would become duplicates. Load the firm's own "
            "records first, or run again with --allow-empty-home."
        )


class RefusedRun(SyncError):
    """A run the hub will not start, with the reason and what to do."""


class StillPaused(RateLimited):
    """A run asked for while an earlier limit's pause lasts: the pause and its reason stand as they are."""



__all__ = ["Engine", "RefusedRun", "RunResult", "Scope"]

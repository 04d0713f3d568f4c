"""One entity type's part of a sync run: flush its queue; then pull and merge, push, create, apply deletes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import uuid
from collections.abc import Container
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from hub import outbox
from hub.contracts import EntityContract, FieldMapping
from hub.errors import DuplicateName, FatalSyncError, RecordError, RetriableError, StaleWrite, SyncError
from hub.line_references import References
from hub.linking import remember_found
from hub.merge import Decision, Side, decide, same
from hub.paths import get_path
from hub.plans import (
    Match,
    Plan,
    Writes,
    change_entry,
    content_hash,
    creation_changes,
    describe_predicate,
    describe_rule,
    holds,
    latest,
)
from hub.runs import Item, Run, save_items
from hub.store import HomeRecord, Link, dumps, iso, name_key, parse_iso
from hub.types import UNSET, Page, PageRequest, Phase, RemoteRecord, Rule, is_blank

if TYPE_CHECKING:
    from hub.engine import Engine, Scope

OVERLAP = timedelta(seconds=5)
"""Incremental pulls start this far before the watermark, so a change stamped at the boundary is not missed."""

STALE_RETRIES = 2
"""How many times a write that lost a race is re-read and re-applied before the record is reported failed."""

YIELD_EVERY = 100
"""Records merged between two yields to the event loop: a page of 1,000 must not hold up webhook intake."""


class EntitySync:
    """One entity type's part of a run."""

    def __init__(self, engine: Engine, contract: EntityContract, run: Run, scope: Scope) -> None:
        self.engine = engine
        self.store = engine.store
        self.system = engine.system
        self.contract = contract
        self.run = run
        self.scope = scope
        self.connection = engine.name
        self.entity = contract.name
        self.handled: set[str] = set()
        self.seen_remote: set[str] = set()
        self.contested: set[str] = set()
        self.absent_is_blank = engine.system.absent_means_blank
        self.listed = False
        """Whether this run's pull listed the type's records (all, or all changed since the watermark)."""
        self.flushed: set[str] = set()
        """The records whose queued changes the first pass took (before the pull)."""
        self.pushed_from_queue: dict[str, Item] = {}
        """How each record's first queued change went this run: its later queued changes share that outcome."""
        self.queued_here: set[str] = set()
        """Of the page's home records, those with changes still in this connection's queue (Pending Sync here)."""
        self.unqueued: set[str] = set()
        """Records whose queued changes this run took off the queue (or, in a dry run, would have)."""
        self.looked_up = False
        """Whether this run looked the chosen records' names up in the system (an export of a type never listed)."""
        self.absent: set[str] = set()
        """Remote ids this run asked for that the system answered were deleted, with no link to apply it to."""
        self.references = References(self.store, self.connection, engine.contract)
        synced = [m.home for m in contract.synced_fields]
        self.left_out = frozenset(f for f in synced if f not in scope.fields) if scope.fields else frozenset()
        """The synced fields a run over some fields leaves for a later run (none in a run over all of them)."""
        sent = set() if contract.pull_only else {
            m.home for m in contract.synced_fields if {m.first_sync.to_remote, m.later_sync.to_remote} != {"never"}}
        self.left_unsent = self.left_out & sent
        """Of those, the ones this connection sends: a queued change to them waits for a run that covers them."""

    # --- the three steps ---------------------------------------------------------------------------------------

    async def send(self, complete: bool) -> None:
        """After every type's pull: create the queued new records, push, create the rest the contract sends (Send
        All's transactions); then apply the deletes a complete listing proved."""
        if self.scope.mode != "pull":
            await self._look_up_chosen()
            await self.flush_queue(creates=True)
        await self.push_home_changes()
        await self.create_remote_records()
        if complete:
            await self.apply_enumerated_deletes()

    async def flush_queue(self, *, creates: bool = False) -> None:
        """Push queued local changes in order: those of linked records, or (``creates``, after the pull) the queued
        new records, matched by name to what the pull listed or created; stop, keeping the rest, if the system is
        unreachable. A new record waits while the connection has never listed its type (it could duplicate one)."""
        for entry in await self._queue():
            if entry.op == "deactivate":
                if not creates:  # in order with the changes of linked records, before the pull
                    await self._flush_deactivation(entry)
                continue
            record = await self.store.record(entry.home_id)
            link = None if record is None else (
                await self.store.links_by_home(self.connection, self.entity, [record.id])).get(record.id)
            if record is None or record.deleted_at or (link is None and entry.op != "create"):
                # Gone; or an edit of a record not on this connection, whose create rules decide if it ever is.
                await self._unqueue(entry, None if record is None else record.id)
                continue
            if record.id in self.flushed if creates else link is None:
                continue  # the other pass's: a new record (or one the pull just linked) goes after the pull
            if not creates:
                self.flushed.add(record.id)
            if link is None and not self._creates_from_queue(record):
                # Not this connection's to create now (on request only, NC Only, not yet available, proxied):
                # the record waits for a request or for the sync that finds it available.
                await self._unqueue(entry, record.id)
                continue
            if link is None and not await self._listed():
                self.handled.add(record.id)
                self.run.add(Item(self.entity, "skipped", f"waits in the queue: {self.engine.contract.system}'s "
                                  f"{self.entity} records were never listed, so it could duplicate one",
                                  record.id, None, record.name))
                continue
            if link is not None and entry.fields and self.left_unsent.issuperset(entry.fields):
                continue  # a run over other fields: the change waits, queued, for a run that covers it
            if (earlier := self.pushed_from_queue.get(record.id)) is not None:
                # The push of its earlier queued change sent the whole record: this one went (or failed) with it.
                await self._settle(entry, record, earlier, created=False)
                continue
            try:
                if link is None:
                    item = await self._create_remote(record, queued=True)
                else:
                    item = await self._push_linked(record, link, ignore_pending=True)
            except RecordError as exc:
                item = Item(self.entity, "failed", f"queued change not pushed: {exc}", record.id,
                            link.remote_id if link else None, record.name, error=str(exc))
                await self._commit_item(item)
            except SyncError as exc:
                # The system is down, or refused for its limit or the credentials: the change stays queued, and says
                # it was tried and why, as a refused one does.
                if not self.run.dry_run:
                    async with self.store.transaction() as tx:
                        await outbox.failed(tx, entry.id, str(exc))
                raise
            self.pushed_from_queue[record.id] = item
            await self._settle(entry, record, item, created=link is None)
            self.handled.add(record.id)

    async def _settle(self, entry: outbox.Entry, record: HomeRecord, item: Item, *, created: bool) -> None:
        """Leave a queued change as its push went: failed (kept, with the error), sent (off the queue, or narrowed to
        the fields a run over some fields did not send), or skipped (kept as it is)."""
        rest = self._queued_rest(entry.fields, created=created)
        if item.action == "failed" or rest:
            if not self.run.dry_run:
                async with self.store.transaction() as tx:
                    await (outbox.failed(tx, entry.id, item.error or item.reason) if item.action == "failed"
                           else outbox.narrow(tx, entry.id, rest))
        elif item.action != "skipped":
            await self._unqueue(entry, record.id)

    async def _queue(self) -> list[outbox.Entry]:
        """The queued changes this run flushes: every one of the type in a sync of the whole type (seed 004's order);
        only the chosen records' in a run narrowed to some (the others keep their places); none in an import."""
        if self.scope.create_home:
            return []
        if not (self.scope.record_ids or self.scope.remote_ids):
            return await outbox.entries(self.store, self.connection, self.entity)
        chosen = set(self.scope.record_ids)
        if self.scope.remote_ids:
            links = await self.store.links_by_remote(self.connection, self.entity, list(self.scope.remote_ids))
            chosen.update(link.home_id for link in links.values())
        return await outbox.entries(self.store, self.connection, self.entity, home_ids=chosen)

    async def _unqueue(self, entry: outbox.Entry, record_id: str | None) -> None:
        """Take a queued change off the queue (a dry run only notes that it would, for the pull that follows)."""
        if record_id is not None:
            self.unqueued.add(record_id)
        if not self.run.dry_run:
            async with self.store.transaction() as tx:
                await outbox.done(tx, [entry.id])

    def _queued_rest(self, fields: list[str], *, created: bool) -> list[str]:
        """The queued fields a run over some fields did not send (a record it created got all, if the contract
        says so), which stay queued for a later run."""
        if created and self.contract.create_with_all_fields:
            return []
        return sorted(self.left_unsent.intersection(fields))

    async def _listed(self) -> bool:
        """Whether this run or an earlier one listed this type's remote records on the connection (or this run looked
        the chosen records' names up, which is as good for them)."""
        if self.listed or self.looked_up:
            return True
        row = await self.store.fetchone("SELECT listed_at FROM cursors WHERE connection = ? AND entity = ?",
                                        (self.connection, self.entity))
        return bool(row and row[0])

    def _creates_from_queue(self, record: HomeRecord) -> bool:
        """Whether a queued local record is created remotely when the queue is flushed."""
        rule = self.contract.create_rule_to_remote(self.engine.options)
        return not self.contract.pull_only and rule == "auto" and self._held_back(record) is None

    async def _flush_deactivation(self, entry: outbox.Entry) -> None:
        """Make inactive the remote record of a home record deleted in the hub (``on_home_delete: deactivate``). A
        failure leaves the entry queued with its error; the system down stops the run, as for any queued change."""
        system = self.engine.contract.system
        record = await self.store.record(entry.home_id)
        name = record.name if record else ""
        remote_id = entry.remote_id or ""
        relinked = await self.store.links_by_remote(self.connection, self.entity, [remote_id])
        if record is None or record.deleted_at is None or relinked:
            # The delete stopped half-way (deleting again queues it afresh), or a person linked the remote record
            # again since: it stays active.
            why = "linked again since" if relinked else "the home record was not deleted"
            await self._commit_item(Item(self.entity, "unchanged", f"not deactivated in {system}: {why}",
                                         entry.home_id, remote_id, name, noted=True))
            await self._unqueue(entry, None)
            return
        item = Item(self.entity, "updated", f"deactivated in {system}: deleted in the hub", entry.home_id, remote_id,
                    name)
        if self.run.dry_run:
            self.run.add(item)
            return
        try:
            written = await self._deactivate(RemoteRecord(remote_id, {}, None, entry.remote_version))
        except RecordError as exc:
            async with self.store.transaction() as tx:
                await outbox.failed(tx, entry.id, str(exc))
            await self._commit_item(Item(self.entity, "failed", f"not deactivated in {system}: {exc}",
                                         entry.home_id, remote_id, name, error=str(exc)))
            return
        except SyncError as exc:
            async with self.store.transaction() as tx:
                await outbox.failed(tx, entry.id, str(exc))
            raise
        if written is None:
            item = Item(self.entity, "unchanged", f"not deactivated: {system} no longer has it", entry.home_id,
                        remote_id, name, noted=True)
        self.run.add(item)
        async with self.store.transaction() as tx:
            await outbox.done(tx, [entry.id])
            if written is not None:  # the unmatched list shows it inactive at once, not only after the next pull
                await tx.execute(
                    "UPDATE unlinked_remote SET data = ?, remote_modified = ? "
                    "WHERE connection = ? AND entity = ? AND remote_id = ?",
                    (dumps(written.data), iso(written.modified_at), self.connection, self.entity, remote_id))
            await save_items(tx, self.run, self.engine.clock())

    async def _deactivate(self, remote: RemoteRecord) -> RemoteRecord | None:
        """``System.deactivate``, re-reading the record when the write loses a race (its version moved); None when
        the system no longer has the record."""
        attempt = 0
        while True:
            try:
                return await self._call_remote(self.system.deactivate(self.entity, remote))
            except StaleWrite as exc:
                attempt += 1
                if attempt > STALE_RETRIES:
                    raise RecordError(f"{exc} (still changing after {STALE_RETRIES} re-reads)") from exc
                fresh = await self._call_remote(self.system.read(self.entity, remote.id))
                if fresh is None:
                    return None
                remote = fresh

    async def pull(self) -> bool:
        """Bring in remote pages, checkpointing after each; True when the listing proved what exists."""
        if self.scope.record_ids and not self.scope.remote_ids:
            links = await self.store.links_by_home(self.connection, self.entity, self.scope.record_ids)
            if not links:
                return False
            self.scope = replace(self.scope, remote_ids=tuple(link.remote_id for link in links.values()))
        cursor = await self._cursor()
        resumed = cursor["page_token"] is not None and cursor["entities_run"] != self.run.id
        since = self.scope.since
        if since is None and not self.scope.full and not self.scope.remote_ids and cursor["watermark"]:
            since = parse_iso(cursor["watermark"]) - OVERLAP
        token = cursor["page_token"] if resumed and not self.scope.remote_ids else None
        newest: datetime | None = None
        complete = since is None and not resumed and not self.scope.remote_ids
        ids = self.scope.remote_ids
        page = await self._list_page(PageRequest(self.entity, since=since, token=token, ids=ids))
        ahead: asyncio.Task[Page] | None = None
        try:
            while True:
                # The next page is fetched while this one is merged and written, so the vendor's time and the
                # hub's overlap instead of adding up.
                if page.next_token:
                    ahead = asyncio.ensure_future(self._list_page(
                        PageRequest(self.entity, since=since, token=page.next_token, ids=ids)))
                complete = complete and page.enumerates_all
                newest = latest(newest, *(r.modified_at for r in page.records))
                await self._pull_page(page, next_token=page.next_token)
                if ahead is None:
                    break
                page, ahead = await ahead, None
        finally:
            if ahead is not None:  # the run stopped on this page: the page fetched ahead is not wanted
                ahead.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await ahead
        self.listed = not self.scope.remote_ids
        if not self.run.dry_run:
            await self._save_cursor(watermark=self._next_watermark(cursor["watermark"], newest), token=None)
        if self.scope.create_home:
            await self._report_missing()
        return complete and self.run.counts["failed"] == 0

    async def _report_missing(self) -> None:
        """An import of ids the system does not have (or no longer has): a failed item for each, saying so."""
        system = self.engine.contract.system
        for remote_id in dict.fromkeys(self.scope.remote_ids):
            if remote_id in self.seen_remote and remote_id not in self.absent:
                continue
            error = f"{system} has no {self.entity} {remote_id}"
            await self._commit_item(Item(self.entity, "failed", f"not imported: {error}", None, remote_id, "",
                                         error=error))

    async def _list_page(self, request: PageRequest) -> Page:
        """One page from the plugin; anything it raises that is not a hub error stops the run, naming the plugin."""
        try:
            return await self.system.list_page(request)
        except SyncError:
            raise
        except Exception as exc:
            raise FatalSyncError(f"{self.engine.contract.plugin} raised {type(exc).__name__} listing "
                                 f"{self.entity} records: {exc}") from exc

    def _next_watermark(self, current: str | None, newest: datetime | None) -> str | None:
        """Move the watermark only for a run that saw every change since it: not a webhook's targeted pull, not
        a run over some fields, not one that started later than the watermark; never past the run's start."""
        mark = parse_iso(current)
        since = self.scope.since
        covers = not self.scope.remote_ids and not self.scope.fields and (since is None or (mark and since <= mark))
        if not covers or newest is None:
            return current
        moved = min(newest, self.run.started_at)
        return iso(max(moved, mark)) if mark else iso(moved)

    async def push_home_changes(self) -> None:
        """Push linked home records edited at home since their last sync (and not handled this run)."""
        if self.contract.pull_only or (self.scope.remote_ids and not self.scope.record_ids):
            return
        wanted = set(self.scope.record_ids)
        for record, link in await self.store.home_changed_since_sync(self.connection, self.entity):
            if record.id in self.handled or (wanted and record.id not in wanted):
                continue
            try:
                await self._push_linked(record, link)
            except RecordError as exc:
                await self._commit_item(Item(self.entity, "failed", f"not pushed: {exc}", record.id, link.remote_id,
                                             record.name, error=str(exc)))
            self.handled.add(record.id)

    async def create_remote_records(self) -> None:
        """Create home-only records remotely: those a person asked for; every available one where an option says
        send all; otherwise only records new to the hub since the connection's first sync, because records that
        were already there and found no match wait for a person (the seeds' manual linking and Contact Match)."""
        rule = self.contract.create_rule_to_remote(self.engine.options)
        if self.contract.pull_only or rule == "never":
            return
        explicit = self.scope.create_remote and bool(self.scope.record_ids)
        if explicit:
            records = [r for r in (await self.store.records(self.scope.record_ids)).values()
                       if r.entity == self.entity and r.deleted_at is None]
            linked = await self.store.links_by_home(self.connection, self.entity, [r.id for r in records])
            records = [r for r in records if r.id not in linked]
        elif rule == "auto" and not (self.scope.remote_ids or self.scope.create_home or self.scope.mode != "contract"):
            records = await self.store.unlinked_home(self.connection, self.entity)
            if self.scope.record_ids:
                records = [r for r in records if r.id in set(self.scope.record_ids)]
            option = self.contract.create_option
            if not (option and self.engine.options.get(option)):
                first = await self._first_sync_started()
                records = [r for r in records if r.created_at > first]
            delinked = await self.store.delinked_homes(self.connection, self.entity)
            records = [r for r in records if r.id not in delinked]
        else:
            return
        in_review = {home_id for row in await self.store.unlinked_remote(self.connection, self.entity,
                                                                         review_only=True)
                     for home_id in row["candidates"]}
        batch: list[HomeRecord] = []
        for record in records:
            if record.id in self.handled:
                continue
            held = self._held_back(record)
            if held or record.id in in_review:
                if explicit:
                    reason = held or "waits in the review queue: a remote record claims it too"
                    self.run.add(Item(self.entity, "skipped", f"not sent: {reason}", record.id, None, record.name))
                continue
            try:
                linked = await self._link_same_name(record)
            except RecordError as exc:
                await self._commit_item(self._not_created(record, exc))
                continue
            if linked is None:
                batch.append(record)
            if len(batch) >= self.system.create_batch_size:
                await self._create_new(batch, queued=False)
                batch = []
        if batch:
            await self._create_new(batch, queued=False)

    async def _look_up_chosen(self) -> None:
        """An export of chosen records of a type the connection never listed: look their names up in the system
        first, so that each links to a record of its exact name there and only the rest are created."""
        if not (self.scope.create_remote and self.scope.record_ids) or self.contract.pull_only or await self._listed():
            return
        records = [r for r in (await self.store.records(self.scope.record_ids)).values()
                   if r.entity == self.entity and r.deleted_at is None]
        linked = await self.store.links_by_home(self.connection, self.entity, [r.id for r in records])
        names = sorted({r.name for r in records if r.id not in linked and name_key(r.name)})
        if names and await self._find_named(names) is not None:
            self.looked_up = True

    async def _find_named(self, names: list[str]) -> int | None:
        """Look records up in the system by name and keep those not linked as unmatched ones (how many); None when
        the system cannot look records up by name."""
        plugin = self.engine.contract.plugin
        try:
            found = await self.system.find_by_names(self.entity, names)
        except (FatalSyncError, RetriableError):
            raise
        except Exception as exc:  # a refused look-up is no one record's problem, as a refused listing is not
            raise FatalSyncError(f"{plugin} raised {type(exc).__name__} looking up {self.entity} records by name: "
                                 f"{exc}") from exc
        if found is None:
            return None
        if self.run.dry_run:
            return len(found)
        return await remember_found(self.store, self.connection, self.contract, found,
                                    system=self.engine.contract.system, at=self.engine.clock())

    async def _first_sync_started(self) -> str:
        """When this connection's first sync began (this run's start, if it is the first)."""
        row = await self.store.fetchone(
            "SELECT min(started_at) FROM runs WHERE connection = ? AND status != 'refused'", (self.connection,))
        first = row[0] if row and row[0] else None
        return min(filter(None, (first, iso(self.run.started_at))))

    async def apply_enumerated_deletes(self) -> None:
        """A complete listing without a linked record proves it was deleted remotely: apply the contract's rule."""
        if self.contract.remote_deletes == "ignore" or self.scope.fields or self.scope.record_ids:
            return
        for link in await self.store.list_links(self.connection, self.entity):
            if link.remote_id not in self.seen_remote:
                await self._apply_remote_delete(link, "absent from a complete listing")

    # --- pulling one page --------------------------------------------------------------------------------------

    async def _pull_page(self, page: Page, *, next_token: str | None) -> None:
        records = [r for r in page.records if not self.scope.remote_ids or r.id in self.scope.remote_ids]
        self.seen_remote.update(r.id for r in records)
        links = await self.store.links_by_remote(self.connection, self.entity, [r.id for r in records])
        live = [r for r in records if not r.deleted]
        for record in records:
            if record.deleted:
                await self._remote_deleted(record, links.get(record.id))
        matches = await self._match([r for r in live if r.id not in links])
        homes = await self.store.records(
            [link.home_id for link in links.values()] + [m.homes[0].id for m in matches.values() if m.homes]
        )
        queued = await outbox.queued(self.store, self.connection, [h.id for h in homes.values() if h.pending])
        self.queued_here = queued - self.unqueued if self.run.dry_run else queued
        claimed: set[str] = set()
        single = [m.homes[0].id for m in matches.values() if len(m.homes) == 1 and not m.taken]
        # A home record two remote records claim is contested for the whole run, whichever page the second is on.
        self.contested.update(home_id for home_id in single if single.count(home_id) > 1)
        contested = self.contested
        plans: list[Plan] = []
        for number, record in enumerate(live, start=1):
            link = links.get(record.id)
            try:
                if link is not None:
                    plan = await self._plan_linked(record, link, homes.get(link.home_id))
                else:
                    plan = await self._plan_unlinked(record, matches[record.id], homes, claimed, contested)
            except RecordError as exc:  # a line naming a remote record no home record is linked to
                plan = self._not_pulled(record, link, exc)
            plans.append(plan)
            if number % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        rest: list[Plan] = []
        for plan in plans:
            if await self._send(plan):
                # Recorded at once, not with the page: a run stopping later in the page (a 429, the system down, a
                # kill) must not lose the link, snapshot and item of a write the system has made. One small
                # transaction for each record written, beside that write's own round trip to the system.
                await self._apply([plan], next_token=None, checkpoint=False)
            else:
                rest.append(plan)
        await self._apply(rest, next_token=next_token)

    def _not_pulled(self, record: RemoteRecord, link: Link | None, error: RecordError) -> Plan:
        """A remote record whose values cannot be read as the home side's: failed, and not pushed this run."""
        if link is not None:
            self.handled.add(link.home_id)
        return Plan(Item(self.entity, "failed", f"not pulled: {error}", link.home_id if link else None, record.id,
                         self._remote_name(record), error=str(error)))

    async def _match(self, records: list[RemoteRecord]) -> dict[str, Match]:
        """For each unlinked remote record, the first match rule with free candidates, and those candidates; or,
        where a rule found only home records already linked to other remote records, those (taken)."""
        result: dict[str, Match] = {r.id: Match("", []) for r in records}
        pending = list(records)
        for rule in self.contract.match:
            if not pending:
                break
            keyed = {r.id: self._match_value(rule, r) for r in pending}
            keys = {v for v in keyed.values() if not is_blank(v)}
            found = await self._candidates(rule, keys)
            apart = await self.store.delinked_pairs(self.connection, self.entity, [r.id for r in pending])
            linked = await self.store.links_by_home(
                self.connection, self.entity, [h.id for homes in found.values() for h in homes]
            )
            still: list[RemoteRecord] = []
            for record in pending:
                value = keyed[record.id]
                every = [] if is_blank(value) else [h for h in found.get(value, []) if (h.id, record.id) not in apart]
                homes = [h for h in every if h.id not in linked]
                if homes:
                    result[record.id] = Match(describe_rule(rule, value), homes)
                    continue
                if every and not result[record.id].homes:
                    result[record.id] = Match(describe_rule(rule, value), every, taken=True)
                still.append(record)
            pending = still
        pairs = await self.store.delinked_pairs(self.connection, self.entity, [r.id for r in pending])
        apart = {remote_id for _home, remote_id in pairs}
        deleted: set[str] = set()
        if pairs and self.contract.on_home_delete == "deactivate":
            homes = await self.store.records(home_id for home_id, _remote in pairs)
            live = {remote_id for home_id, remote_id in pairs if home_id not in homes or not homes[home_id].deleted_at}
            deleted = apart - live
        for record in pending:
            if record.id in apart and not result[record.id].homes:
                result[record.id] = Match("", [], delinked=True, home_deleted=record.id in deleted)
        return result

    def _match_value(self, rule: dict[str, Any], record: RemoteRecord) -> str:
        if rule["type"] == "link_key":
            value = get_path(record.data, self.contract.link_key_remote or "")
            return "" if is_blank(value) else str(value)
        if rule["type"] == "exact_name":
            name = get_path(record.data, self.contract.remote_name)
            return name_key(name) if rule.get("case_insensitive", True) else str(name if name is not UNSET else "")
        value = get_path(record.data, rule["remote"])
        if is_blank(value):
            return ""
        return str(value).casefold() if rule.get("case_insensitive", True) else str(value)

    async def _candidates(self, rule: dict[str, Any], keys: set[str]) -> dict[str, list[HomeRecord]]:
        if not keys:
            return {}
        if rule["type"] == "link_key":
            return await self.store.by_field(self.entity, self.contract.link_key_home or "", keys,
                                             case_insensitive=False)
        if rule["type"] == "exact_name":
            if rule.get("case_insensitive", True):
                return await self.store.by_name(self.entity, keys)
            found = await self.store.by_name(self.entity, {k.casefold() for k in keys})
            return {h.name: [x for x in homes if x.name == h.name] for homes in found.values() for h in homes}
        return await self.store.by_field(self.entity, rule["home"], keys,
                                         case_insensitive=rule.get("case_insensitive", True))

    async def _plan_linked(self, record: RemoteRecord, link: Link, home: HomeRecord | None) -> Plan:
        name = self._remote_name(record)
        if home is None or home.deleted_at:
            return Plan(Item(self.entity, "skipped", "linked home record was deleted; delink to sync it again",
                              link.home_id, record.id, name))
        values = await self._remote_values(record, home)
        phase: Phase = "first" if link.last_synced_at is None else "later"
        echo = self._unchanged_remote(record, link, values)
        if home.id in self.queued_here and not (echo and home.id in self.handled):
            self.handled.add(home.id)  # reported once: the push step does not say it again
            return Plan(Item(self.entity, "skipped",
                              "pending local changes wait to be pushed: the pull did not overwrite them",
                              home.id, record.id, home.name))
        home_edited = link.last_synced_at is None or home.modified_at > link.last_synced_at
        if echo and (not home_edited or home.id in self.handled):
            # A record this run already pushed, read back, is not counted twice.
            return Plan(Item(self.entity, "unchanged", "no change on either side", home.id, record.id, home.name),
                         home=home, link=link, remote=record, values=values, quiet=True,
                         ignored=home.id in self.handled)
        self.handled.add(home.id)
        decisions = self._merge(home, values, self._remote_changed(record, link, values), phase, record)
        return self._plan_from(decisions, home, link, record, values, phase, new_link=False)

    async def _plan_unlinked(self, record: RemoteRecord, match: Match,
                             homes: dict[str, HomeRecord], claimed: set[str], contested: set[str]) -> Plan:
        try:
            values, unread = await self._remote_values(record), None
        except RecordError as exc:  # matters only if the record is linked or created: the lists keep its data
            values, unread = {}, exc
        name = self._remote_name(record)
        how, candidates = match.how, match.homes
        if match.taken:
            names = ", ".join(repr(h.name) for h in candidates)
            return Plan(Item(self.entity, "skipped",
                              f"matches ({how}) home record {names}, already linked to another remote record: "
                              "left in the review queue", None, record.id, name),
                         remote=record, values=values, unlinked=("taken", [h.id for h in candidates]))
        if len(candidates) == 1 and candidates[0].id in contested:
            return Plan(Item(self.entity, "skipped",
                              f"several remote records match home record {candidates[0].name!r} ({how}): "
                              "left in the review queue", None, record.id, name),
                         remote=record, values=values, unlinked=("ambiguous", [candidates[0].id]))
        candidates = [h for h in candidates if h.id not in claimed]
        system = self.engine.contract.system
        if len(candidates) > 1:
            return Plan(Item(self.entity, "skipped",
                              f"{len(candidates)} home records match ({how}): left in the review queue",
                              None, record.id, name),
                         remote=record, values=values, unlinked=("ambiguous", [h.id for h in candidates]))
        if candidates and unread:
            raise unread
        if candidates:
            home = homes.get(candidates[0].id, candidates[0])
            await self._read_through_proxies(home, values)
            claimed.add(home.id)
            self.handled.add(home.id)
            link = self._new_link(home, record, "matched")
            decisions = self._merge(home, values, self._remote_changed(record, None, values), "first", record)
            plan = self._plan_from(decisions, home, link, record, values, "first", new_link=True)
            plan.item.reason = f"linked: {how}; " + plan.item.reason
            plan.item.action = "updated" if plan.item.action == "unchanged" else plan.item.action
            return plan
        rule = self.contract.create_to_home
        if match.home_deleted and values.get("hidden") is True and not self.scope.create_home:
            # The hub deactivated it when its home record was deleted (on_home_delete): news to nobody.
            return Plan(Item(self.entity, "unchanged", f"its home record was deleted in the hub, and it is inactive in "
                             f"{system}: link it by hand or import it", None, record.id, name),
                        remote=record, values=values, unlinked=("unmatched", []))
        if match.delinked and not self.scope.create_home:
            return Plan(Item(self.entity, "skipped", "delinked by a person: link it by hand or import it", None,
                              record.id, name), remote=record, values=values, unlinked=("unmatched", []))
        if rule == "never" and not self.contract.match:
            # Records only the hub creates (transactions it sends): a remote one it did not send is not its business.
            return Plan(Item(self.entity, "unchanged", "not the hub's record", None, record.id, name), quiet=True,
                         ignored=True)
        wanted = rule == "auto" or (rule == "on_request" and self.scope.create_home)
        if not wanted:
            reason = (f"unmatched: no link and {self._no_match(record, name)}; "
                      + ("create it at home on request" if rule == "on_request" else "the contract never creates it"))
            return Plan(Item(self.entity, "skipped", reason, None, record.id, name), remote=record, values=values,
                         unlinked=("unmatched", []))
        if unread:
            raise unread
        fields = {f: v for f, v in values.items() if not is_blank(v)}
        fields["name"] = name
        if self.contract.link_key_home:
            key = get_path(record.data, self.contract.link_key_remote or "")
            if not is_blank(key):
                fields[self.contract.link_key_home] = key
        home = HomeRecord(id=uuid.uuid4().hex, entity=self.entity, fields=fields)
        link = self._new_link(home, record, "created")
        reason = f"created at home: no link and {self._no_match(record, name)} in the hub; created from {system}"
        item = Item(self.entity, "created", reason, home.id, record.id, name,
                    changes=creation_changes(fields, "to_home"))
        return Plan(item, home=home, link=link, remote=record, values=values, new_home=True, new_link=True,
                     home_changes=fields)

    def _no_match(self, record: RemoteRecord, name: str) -> str:
        """What the contract's match rules looked for and did not find, in their order."""
        wanted = []
        for rule in self.contract.match:
            if rule["type"] == "exact_name":
                wanted.append(f"named {name!r}")
            elif rule["type"] == "link_key":
                key = get_path(record.data, self.contract.link_key_remote or "")
                wanted.append(f"with link key {None if is_blank(key) else key!r}")
            else:
                value = get_path(record.data, rule["remote"])
                wanted.append(f"with {rule['home']} {None if value is UNSET or is_blank(value) else value!r}")
        return f"no home record {' or '.join(wanted)}" if wanted else "no match rule (the contract links by hand)"

    def _plan_from(self, decisions: list[Decision], home: HomeRecord, link: Link, record: RemoteRecord,
                   values: dict[str, Any], phase: Phase, *, new_link: bool) -> Plan:
        home_changes = {d.field: d.after for d in decisions if d.direction == "to_home"}
        remote_changes = {d.field: d.after for d in decisions if d.direction == "to_remote"}
        changes = [change_entry(d.field, d.direction, d.rule, d.before, d.after) for d in decisions if d.direction]
        if changes:
            reasons = sorted({d.reason for d in decisions if d.direction})
            item = Item(self.entity, "updated", "; ".join(reasons), home.id, record.id, home.name, changes=changes)
        elif kept := sorted(f"{d.field}: {d.reason}" for d in decisions if d.reason.startswith("kept")):
            # The sides differ, and the rules keep them so: a decision worth its line in the run.
            item = Item(self.entity, "unchanged", "; ".join(kept), home.id, record.id, home.name, noted=True)
        else:
            item = Item(self.entity, "unchanged", f"{phase} sync: nothing to change", home.id, record.id, home.name)
        return Plan(item, home=home, link=link, remote=record, values=values, home_changes=home_changes,
                     remote_changes=remote_changes, new_link=new_link)

    # --- merging -----------------------------------------------------------------------------------------------

    def _merge(self, home: HomeRecord, values: dict[str, Any], remote_changed: dict[str, datetime | None],
               phase: Phase, record: RemoteRecord | None) -> list[Decision]:
        mappings = [m for m in self.contract.synced_fields if not self.scope.fields or m.home in self.scope.fields]
        rules = self._rules(mappings, phase, home, remote_changed, record)
        if self._excluded(home):  # NC Only: nothing of it goes to the system, later edits included
            rules = {field: (to_home, "never") for field, (to_home, _to_remote) in rules.items()}
        return [
            decide(m.home, phase, *rules[m.home], Side(home.fields.get(m.home), home.changed_at(m.home)),
                   Side(values.get(m.home, UNSET), remote_changed.get(m.home)))
            for m in mappings
        ]

    def _rules(self, mappings: list[FieldMapping], phase: Phase, home: HomeRecord,
               remote_changed: dict[str, datetime | None], record: RemoteRecord | None
               ) -> dict[str, tuple[Rule, Rule]]:
        mode = self.scope.mode
        if mode == "pull":
            return {m.home: ("mirror", "never") for m in mappings}
        if mode == "newest":
            home_time = latest(None, *(home.changed_at(m.home) for m in mappings))
            remote_time = latest(record.modified_at if record else None,
                                  *(remote_changed.get(m.home) for m in mappings))
            remote_wins = remote_time is not None and (home_time is None or remote_time > home_time)
            pair: tuple[Rule, Rule] = ("mirror", "never") if remote_wins else ("never", "mirror")
            return {m.home: pair for m in mappings}
        return {m.home: (m.rules(phase).to_home, m.rules(phase).to_remote) for m in mappings}

    def _remote_changed(self, record: RemoteRecord, link: Link | None, values: dict[str, Any]
                        ) -> dict[str, datetime | None]:
        """When each remote value changed: now-ish if it differs from what the hub last saw, else as remembered.

        A value that differs changed after the link's last sync, whatever the system's clock says: QuickBooks
        stamps whole seconds, so an edit made in the same second as that sync would otherwise read as older than
        the values the sync wrote at home, and a 'newest' rule would send them back over it.
        """
        observed = record.modified_at or self.run.started_at
        if link is None:
            return dict.fromkeys(values, observed)
        last_synced = parse_iso(link.last_synced_at)
        changed = observed if last_synced is None else max(observed, last_synced + timedelta(microseconds=1))
        return {
            f: (parse_iso(link.remote_changed.get(f)) or observed)
            if f in link.remote_snapshot and same(link.remote_snapshot[f], v) else changed
            for f, v in values.items()
        }

    def _unchanged_remote(self, record: RemoteRecord, link: Link, values: dict[str, Any]) -> bool:
        """Whether the remote record is as the hub last saw or wrote it (so a webhook echo changes nothing)."""
        if record.version is not None and link.remote_version is not None:
            return record.version == link.remote_version
        return content_hash(values) == link.remote_hash

    async def _remote_values(self, record: RemoteRecord, home: HomeRecord | None = None, *,
                             only: Container[str] | None = None) -> dict[str, Any]:
        """The record's mapped fields (or ``only`` these), each converted into the home side's form (as ``home``
        records them, when given: a reference to a proxy the home record's own reference stands behind reads as
        that reference). RecordError when a line names a remote record no home record is linked to."""
        values: dict[str, Any] = {}
        for mapping in self.contract.synced_fields:
            if only is not None and mapping.home not in only:
                continue
            raw = get_path(record.data, mapping.remote)
            if raw is UNSET and self.absent_is_blank:
                raw = None
            transform = self.engine.transforms[(self.entity, mapping.home)]
            if transform is None:
                values[mapping.home] = await self.references.home_id((mapping.transform or {})["entity"], raw)
            elif mapping.references:  # the plugin makes home lines naming remote ids; the links name home ones
                values[mapping.home] = await self.references.lines_to_home(self.entity, mapping, transform.to_home(raw))
            else:
                values[mapping.home] = transform.to_home(raw)
        if home is not None:
            await self._read_through_proxies(home, values)
        return values

    async def _read_through_proxies(self, home: HomeRecord, values: dict[str, Any]) -> None:
        """Seed 004: a bill for a vendor behind a proxy is recorded against the proxy. Read back, that reference is
        the home record's own (not a change to take in or send out again)."""
        for mapping in self.contract.synced_fields:
            if mapping.home not in values:
                continue
            ours, theirs = home.fields.get(mapping.home), values[mapping.home]
            if mapping.references:
                values[mapping.home] = await self.references.lines_as_home_reads_them(mapping, ours, theirs)
            elif self.engine.transforms[(self.entity, mapping.home)] is None:
                target = (mapping.transform or {})["entity"]
                if await self.references.stands_behind(target, ours, theirs):
                    values[mapping.home] = ours

    def _remote_name(self, record: RemoteRecord) -> str:
        name = get_path(record.data, self.contract.remote_name)
        return "" if is_blank(name) else str(name)

    # --- pushing -----------------------------------------------------------------------------------------------

    async def _push_linked(self, record: HomeRecord, link: Link, *, ignore_pending: bool = False) -> Item:
        """Merge a home record against what the hub last saw remotely and write what the rules send out."""
        if not ignore_pending and record.pending and await outbox.queued(self.store, self.connection, [record.id]):
            item = Item(self.entity, "skipped", "pending local changes wait in the sync queue", record.id,
                        link.remote_id, record.name)
            await self._commit_item(item)
            return item
        phase: Phase = "first" if link.last_synced_at is None else "later"
        values = dict(link.remote_snapshot)
        remote = RemoteRecord(link.remote_id, {}, parse_iso(link.remote_modified), link.remote_version)
        changed = {f: parse_iso(t) for f, t in link.remote_changed.items()}
        # The snapshot is what the hub already merged; only the home side's news can travel from it.
        decisions = [d if d.direction != "to_home" else replace(d, direction=None, reason="pull decides this")
                     for d in self._merge(record, values, changed, phase, remote)]
        plan = self._plan_from(decisions, record, link, remote, values, phase, new_link=False)
        await self._send(plan)
        await self._apply([plan], next_token=None, checkpoint=False)
        return plan.item

    async def _create_remote(self, record: HomeRecord, *, queued: bool) -> Item:
        """Create a home-only record remotely, unless an unlinked remote record has its exact name: then link."""
        linked = await self._link_same_name(record)
        if linked is not None:
            return linked
        (item,) = await self._create_new([record], queued=queued)
        return item

    async def _link_same_name(self, record: HomeRecord) -> Item | None:
        """Link a home-only record to the one unlinked remote record with its exact name, if the contract matches by
        name and there is one (several: skipped, for a person); None when there is none."""
        rule = next((rule for rule in self.contract.match if rule["type"] == "exact_name"), None)
        same_name = await self.store.unlinked_remote(self.connection, self.entity, named=record.name) if (
            rule and name_key(record.name)) else []
        if rule and not rule.get("case_insensitive", True):  # the contract compares names as written
            same_name = [row for row in same_name if row["name"] == record.name]
        if not same_name:
            return None
        if len(same_name) > 1:
            item = Item(self.entity, "skipped", f"{len(same_name)} remote records are named {record.name!r}: "
                        "link one by hand", record.id, None, record.name)
            await self._commit_item(item)
            return item
        row = same_name[0]
        remote = RemoteRecord(row["remote_id"], row["data"], parse_iso(row["remote_modified"]),
                              get_path(row["data"], self.contract.remote_version or "") or None
                              if self.contract.remote_version else None)
        values = await self._remote_values(remote, record)
        link = self._new_link(record, remote, "matched")
        decisions = self._merge(record, values, self._remote_changed(remote, None, values), "first", remote)
        plan = self._plan_from(decisions, record, link, remote, values, "first", new_link=True)
        plan.item.reason = f"linked: exact name {record.name!r}; " + plan.item.reason
        plan.item.action = "updated" if plan.item.action == "unchanged" else plan.item.action
        await self._send(plan)
        await self._apply([plan], next_token=None, checkpoint=False)
        return plan.item

    async def _create_new(self, records: list[HomeRecord], *, queued: bool) -> list[Item]:
        """Create records remotely in one call of the plugin's ``create_many`` (a batch where the system has one),
        then link each, or report it failed with the reason the system gave for it; one item per record."""
        system = self.engine.contract.system
        how = "queued local record" if queued else "no link and no remote record with its name"
        plans: list[Plan] = []
        wanted: list[tuple[Plan, dict[str, Any]]] = []
        duplicates: list[tuple[Plan, HomeRecord, DuplicateName]] = []
        for record in records:
            try:
                values = await self._create_values(record)
            except RecordError as exc:
                plans.append(Plan(self._not_created(record, exc)))
                continue
            item = Item(self.entity, "created", f"created in {system}: {how}", record.id, None, record.name,
                        changes=creation_changes(values, "to_remote"))
            plans.append(Plan(item, home=record))
            wanted.append((plans[-1], values))
        if wanted and not self.run.dry_run:
            try:
                answers = await self._call_remote(self.system.create_many(self.entity, [v for _plan, v in wanted]))
                if len(answers) != len(wanted):
                    raise RecordError(f"{self.engine.contract.plugin} answered {len(answers)} results for "
                                      f"{len(wanted)} records to create")
            except RecordError as exc:  # the whole call failed: each record in it did
                answers = [exc] * len(wanted)
            for (plan, values), created in zip(wanted, answers, strict=True):
                if isinstance(created, DuplicateName) and plan.home is not None:
                    duplicates.append((plan, plan.home, created))
                    plan.ignored = True  # reported below: linked to the record of its name, or failed
                await self._created(plan, values, created)
        await self._apply(plans, next_token=None, checkpoint=False)
        for plan, record, error in duplicates:
            plan.item = await self._link_existing(record, error)
        return [plan.item for plan in plans]

    async def _link_existing(self, record: HomeRecord, error: DuplicateName) -> Item:
        """A create refused because the system has a record of that name (made there since the hub last listed the
        type): find it by name and link to it; failed, with the system's reason, when that finds none to link."""
        if await self._find_named([record.name]):
            linked = await self._link_same_name(record)
            if linked is not None:
                return linked
        item = self._not_created(record, error)
        await self._commit_item(item)
        return item

    async def _created(self, plan: Plan, values: dict[str, Any], created: RemoteRecord | RecordError) -> None:
        """Fill a creation's plan with the record the system made (linked), or mark it failed with its reason."""
        record = plan.home
        assert record is not None
        if isinstance(created, RecordError):
            plan.item, plan.home = self._not_created(record, created), None
            return
        plan.item.remote_id = created.id
        plan.remote, plan.link, plan.new_link = created, self._new_link(record, created, "created"), True
        plan.values = await self._remote_values(created, record)
        if self.contract.link_key_home and not record.fields.get(self.contract.link_key_home):
            key = values.get(self.contract.link_key_remote or "")
            if key:
                plan.home_changes[self.contract.link_key_home] = key

    def _not_created(self, record: HomeRecord, error: RecordError) -> Item:
        return Item(self.entity, "failed", f"not created in {self.engine.contract.system}: {error}", record.id, None,
                    record.name, error=str(error))

    async def _create_values(self, record: HomeRecord) -> dict[str, Any]:
        """Every mapped field a new remote record gets (all of them, even in a selective run), by remote path."""
        values: dict[str, Any] = {self.contract.remote_name: record.name}
        for mapping in self.contract.fields:
            if mapping.first_sync.to_remote == "never" and mapping.later_sync.to_remote == "never":
                continue
            if self.scope.fields and not self.contract.create_with_all_fields and mapping.home not in self.scope.fields:
                continue
            value = record.fields.get(mapping.home)
            if is_blank(value):
                continue
            values[mapping.remote] = await self._to_remote(mapping, value)
        if self.contract.link_key_home and self.contract.link_key_assigned_by == "home":
            key = record.fields.get(self.contract.link_key_home) or uuid.uuid4().hex
            values[self.contract.link_key_remote or ""] = key
        return values

    async def _send(self, plan: Plan) -> bool:
        """Write a plan's remote changes, re-reading and re-applying the rules when the write loses a race; True
        when the system took a write."""
        if not plan.remote_changes or self.run.dry_run or plan.remote is None or plan.home is None:
            return False
        for attempt in range(STALE_RETRIES + 1):
            try:
                changes = {m.remote: await self._to_remote(m, plan.remote_changes[m.home])
                           for m in self.contract.synced_fields if m.home in plan.remote_changes}
                written = await self._call_remote(self.system.update(self.entity, plan.remote, changes))
            except StaleWrite as exc:
                if attempt == STALE_RETRIES:
                    plan.fail(f"{exc} (still changing after {STALE_RETRIES} re-reads)")
                    return False
                fresh = await self._call_remote(self.system.read(self.entity, plan.remote.id))
                if fresh is None:
                    plan.fail(f"the remote record {plan.remote.id} no longer exists")
                    return False
                try:
                    await self._replan(plan, fresh)
                except RecordError as unreadable:  # the record as it is now cannot be read as the home side's
                    plan.fail(str(unreadable))
                    return False
                if not plan.remote_changes:
                    return False
                continue
            except RecordError as exc:
                plan.fail(str(exc))
                return False
            # Only the fields written are known fresh: a remote edit to another field since the hub last read it
            # must still look like news to the next pull, so the rules can answer it.
            fresh = await self._remote_values(written, plan.home, only=plan.remote_changes)
            plan.remote = written
            plan.values = {**plan.values, **{f: fresh.get(f, UNSET) for f in plan.remote_changes}}
            return True
        return False

    async def _replan(self, plan: Plan, fresh: RemoteRecord) -> None:
        assert plan.home is not None and plan.link is not None
        values = await self._remote_values(fresh, plan.home)
        phase: Phase = "first" if plan.new_link or plan.link.last_synced_at is None else "later"
        decisions = self._merge(plan.home, values, self._remote_changed(fresh, plan.link, values), phase, fresh)
        again = self._plan_from(decisions, plan.home, plan.link, fresh, values, phase, new_link=plan.new_link)
        again.item.reason = f"re-read after a conflicting remote write; {again.item.reason}"
        if plan.item.reason.startswith("linked:"):
            again.item.reason = plan.item.reason.split(";")[0] + "; " + again.item.reason
            again.item.action = "updated"
        plan.item, plan.remote, plan.values = again.item, fresh, values
        plan.home_changes, plan.remote_changes = again.home_changes, again.remote_changes

    async def _call_remote(self, awaitable: Any) -> Any:
        """Await a plugin call; anything it raises that is not a hub error becomes a record error naming it."""
        try:
            return await awaitable
        except SyncError:
            raise
        except Exception as exc:
            raise RecordError(f"{self.engine.contract.plugin} raised {type(exc).__name__}: {exc}") from exc

    async def _to_remote(self, mapping: FieldMapping, value: Any) -> Any:
        """A home value in the remote side's form: home record ids become the remote ids they are linked to
        (through proxies) first, then the field's transform runs."""
        transform = self.engine.transforms[(self.entity, mapping.home)]
        if transform is None:
            if is_blank(value):
                return None
            return await self.references.remote_id((mapping.transform or {})["entity"], value, field=mapping.home)
        if mapping.references:
            value = await self.references.lines_to_remote(self.entity, mapping, value)
        return transform.to_remote(value)

    # --- applying ----------------------------------------------------------------------------------------------

    async def _apply(self, plans: list[Plan], *, next_token: str | None, checkpoint: bool = True) -> None:
        """Write a batch of plans to the home store in one transaction, with the run items and the checkpoint."""
        now = self.engine.clock()
        items = [plan.item for plan in plans if not plan.ignored]
        for item in items:
            self.run.add(item)
        if self.run.dry_run:
            return
        stamp = iso(now) or ""
        writes = Writes()
        for number, plan in enumerate(plans, start=1):
            if number % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            if plan.item.action == "failed" or (plan.quiet and plan.item.action == "unchanged"):
                continue
            self._plan_writes(writes, plan, now, stamp)
        try:
            async with self.store.transaction() as tx:
                await writes.apply(self.store, tx, self.connection, self.entity, now)
                await save_items(tx, self.run, now)
                if checkpoint:
                    await self._write_cursor(tx, token=next_token)
        except sqlite3.IntegrityError as exc:
            # Only a second run of the type linking the same records can get here (the run lock should prevent
            # it): this run stops with a clean error naming the other, its rolled-back items uncounted.
            self.run.take_back(items)
            raise FatalSyncError(await self._collided(exc)) from exc

    async def _collided(self, error: Exception) -> str:
        """The error of a run whose links another run of the type wrote first: which run, and what it means."""
        rows = await self.store.fetchall(
            "SELECT id, entities FROM runs WHERE connection = ? AND id != ? AND dry_run = 0 "
            "AND (status = 'running' OR ended_at >= ?) ORDER BY id DESC",
            (self.connection, self.run.id, iso(self.run.started_at)))
        others = [str(row[0]) for row in rows if self.entity in json.loads(row[1])]
        which = f" (run {', '.join(others)})" if others else ""
        return (f"another sync of {self.connection} ({self.entity}){which} linked the same records while this run "
                f"was writing them, so this run stopped without recording that page; the other run recorded them. "
                f"The store refused: {error}")

    def _plan_writes(self, writes: Writes, plan: Plan, now: datetime, stamp: str) -> None:
        """Add one plan's rows to the page's writes (built here, written together in ``Writes.apply``)."""
        if plan.unlinked and plan.remote is not None:
            _kind, candidates = plan.unlinked
            writes.unlinked.append((plan.remote.id, self._remote_name(plan.remote), plan.remote.data,
                                    iso(plan.remote.modified_at), plan.item.reason, candidates))
            return
        home, link = plan.home, plan.link
        if home is None or link is None:
            return
        provenance = {"system": self.connection, "run": self.run.id}
        if plan.new_home:
            # One provenance object for every field: the store then encodes it once (``dumps_object``).
            created = {**provenance, "rule": "create"}
            home = self.store.new_record(self.entity, plan.home_changes, at=now, record_id=home.id,
                                         provenance={f: created for f in plan.home_changes})
            writes.new_records.append(home)
        elif plan.home_changes:
            rules = {c["field"]: c["rule"] for c in plan.item.changes}
            for home_field, value in plan.home_changes.items():
                home.fields[home_field] = value
                home.field_modified[home_field] = stamp
                home.provenance[home_field] = {**provenance, "rule": rules.get(home_field, "link key")}
            home.modified_at = stamp
            writes.saved_records.append(home)
        if plan.remote is not None:
            self._remember_remote(link, plan.remote, plan.values, stamp, home)
        link.last_synced_at = self._synced_at(link, home, stamp)
        if plan.new_link:
            self.seen_remote.add(link.remote_id)
        (writes.new_links if plan.new_link else writes.saved_links).append(link)

    def _synced_at(self, link: Link, home: HomeRecord, stamp: str) -> str | None:
        """The link's new last sync: now, unless a run over some fields left out a home edit made since the last."""
        last = link.last_synced_at
        if last and any(home.field_modified.get(f, "") > last for f in self.left_out):
            return last
        return max(stamp, home.modified_at)

    def _remember_remote(self, link: Link, remote: RemoteRecord, values: dict[str, Any], stamp: str,
                         home: HomeRecord) -> None:
        """Remember the remote record as synced, for echo detection and the next merge.

        A run over some fields remembers only those where the remote differs from what the hub knew (the last
        snapshot; the home record, for a new link) in a field it left out, and keeps the old version and hash,
        so that the next run still sees the other fields' news.
        """
        changed = self._remote_changed(remote, link if link.remote_snapshot else None, values)
        # Most fields share one moment (the record's modification time): format each moment once.
        texts = {moment: iso(moment) for moment in set(changed.values()) if moment is not None}
        remote_changed = {f: texts.get(t) or stamp for f, t in changed.items()}
        snapshot = {f: v for f, v in values.items() if v is not UNSET}
        # The remote display name rides along for the lists and the report, even where names never sync.
        snapshot.setdefault("name", self._remote_name(remote) or link.remote_snapshot.get("name", ""))
        if self.contract.link_key_remote:
            key = get_path(remote.data, self.contract.link_key_remote)
            link.link_key = None if is_blank(key) else str(key)
        known = link.remote_snapshot or home.fields
        unseen = [f for f in self.left_out if not same(known.get(f, UNSET), values.get(f, UNSET))]
        if unseen:
            for field in self.left_out:
                for kept, old in ((snapshot, link.remote_snapshot), (remote_changed, link.remote_changed)):
                    if field in old:
                        kept[field] = old[field]
                    else:
                        kept.pop(field, None)
            link.remote_snapshot, link.remote_changed = snapshot, remote_changed
            return
        link.remote_snapshot, link.remote_changed = snapshot, remote_changed
        link.remote_hash = content_hash(values)
        link.remote_version = remote.version
        link.remote_modified = texts.get(remote.modified_at) or iso(remote.modified_at)

    async def _commit_item(self, item: Item) -> None:
        self.run.add(item)
        if not self.run.dry_run:
            async with self.store.transaction() as tx:
                await save_items(tx, self.run, self.engine.clock())

    def _new_link(self, home: HomeRecord, record: RemoteRecord, how: str) -> Link:
        stamp = iso(self.engine.clock()) or ""
        return Link(0, self.connection, self.entity, home.id, record.id, None, how, None, None, {}, {}, None,
                    stamp, None)  # type: ignore[arg-type]

    def _excluded(self, record: HomeRecord) -> bool:
        """Whether an exclusion flag (QuickBooks' NC Only) keeps the record from the system."""
        return any(holds(predicate, record.fields) for predicate in self.contract.exclude_when)

    def _held_back(self, record: HomeRecord) -> str | None:
        """Why a home record is not sent (NC Only, not yet available, stands behind a proxy), if it is not."""
        for predicate in self.contract.exclude_when:
            if holds(predicate, record.fields):
                return f"excluded: {describe_predicate(predicate)}"
        for predicate in self.contract.available_when:
            if not holds(predicate, record.fields):
                return f"not available to send until {describe_predicate(predicate)}"
        proxy = self.contract.proxy_field
        if proxy and not is_blank(record.fields.get(proxy)):
            return f"recorded remotely through its proxy ({proxy} = {record.fields[proxy]})"
        return None

    # --- deletes -----------------------------------------------------------------------------------------------

    async def _remote_deleted(self, record: RemoteRecord, link: Link | None) -> None:
        if link is None:
            self.absent.add(record.id)
            if not self.run.dry_run:
                async with self.store.transaction() as tx:
                    await self.store.drop_unlinked(tx, self.connection, self.entity, record.id)
            return
        await self._apply_remote_delete(link, "deleted in the vendor's change feed")

    async def _apply_remote_delete(self, link: Link, why: str) -> None:
        policy = self.contract.remote_deletes
        if policy == "ignore":
            return
        home = await self.store.record(link.home_id)
        name = home.name if home else ""
        action = "soft-deleted at home and delinked" if policy == "soft_delete_home" else "delinked"
        item = Item(self.entity, "updated", f"remote record {why}: {action}", link.home_id, link.remote_id, name)
        self.run.add(item)
        if self.run.dry_run:
            return
        async with self.store.transaction() as tx:
            if policy == "soft_delete_home" and home is not None and home.deleted_at is None:
                home.deleted_at = iso(self.engine.clock())
                await self.store.save_record(tx, home)
            await self.store.delete_link(tx, link.id)
            await save_items(tx, self.run, self.engine.clock())

    # --- cursors -----------------------------------------------------------------------------------------------

    async def _cursor(self) -> dict[str, Any]:
        row = await self.store.fetchone(
            "SELECT watermark, page_token, run_id FROM cursors WHERE connection = ? AND entity = ?",
            (self.connection, self.entity),
        )
        if row is None:
            return {"watermark": None, "page_token": None, "entities_run": None}
        return {"watermark": row[0], "page_token": row[1], "entities_run": row[2]}

    async def _write_cursor(self, tx: Any, *, token: str | None, watermark: str | None = None,
                            keep_watermark: bool = True) -> None:
        """Checkpoint the page token (and the watermark at the end), writing only when something moved."""
        async with tx.execute("SELECT watermark, page_token FROM cursors WHERE connection = ? AND entity = ?",
                              (self.connection, self.entity)) as cursor:
            row = await cursor.fetchone()
        if keep_watermark:
            watermark = row[0] if row else None
        if row is not None and (row[0], row[1]) == (watermark, token):
            return
        await tx.execute(
            "INSERT INTO cursors (connection, entity, watermark, page_token, run_id, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (connection, entity) DO UPDATE SET watermark = excluded.watermark, "
            "page_token = excluded.page_token, run_id = excluded.run_id, updated_at = excluded.updated_at",
            (self.connection, self.entity, watermark, token, self.run.id, iso(self.engine.clock())),
        )

    async def _save_cursor(self, *, watermark: str | None, token: str | None) -> None:
        async with self.store.transaction() as tx:
            await self._write_cursor(tx, token=token, watermark=watermark, keep_watermark=False)
            if self.listed:
                await tx.execute("UPDATE cursors SET listed_at = ? WHERE connection = ? AND entity = ?",
                                 (iso(self.engine.clock()), self.connection, self.entity))


"""The sync engine driven through a test plugin whose system lives in memory."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub import outbox
from hub.config import Connection
from hub.engine import Engine, Scope
from hub.local import create_record, delete_record, edit_record
from hub.runs import AlreadyRunning, start_run
from hub.store import Store
from hub.types import Page, PageRequest
from tests.memory_system import Clock, MemoryRemote, MemorySystem, contact_entity, contract_file, field_rule, load

KARBON_LIKE = [
    field_rule("email", "Email", ("fill_blank", "overwrite"), ("never", "overwrite")),
    field_rule("title", "Title", ("fill_blank", "overwrite"), ("never", "overwrite")),
]


class Rig:
    """A store, a clock, a remote system and an engine over them."""

    def __init__(self, store: Store, tmp_path: Path, clock: Clock, remote: MemoryRemote) -> None:
        self.store, self.tmp_path, self.clock, self.remote = store, tmp_path, clock, remote
        self.contract = None
        self.options: dict[str, Any] = {}

    def use(
        self, fields: list[dict[str, Any]] | None = None, *, entity: dict[str, Any] | None = None, **top: Any
    ) -> Rig:
        entities = {"contact": entity or contact_entity(fields or KARBON_LIKE)}
        self.contract = load(contract_file(self.tmp_path, entities, **top))
        return self

    @property
    def engine(self) -> Engine:
        connection = Connection("mem", "memory", options=self.options)
        system = MemorySystem(connection, httpx.AsyncClient(), remote=self.remote)
        return Engine(self.store, system, self.contract, connection, clock=self.clock)

    async def sync(self, scope: Scope | None = None, **kwargs: Any):
        self.clock.tick()
        return await self.engine.sync(scope or Scope(), **kwargs)

    async def home(self, name: str, **fields: Any):
        self.clock.tick(1)
        async with self.store.transaction() as tx:
            return await self.store.insert_record(tx, "contact", {"name": name, **fields}, at=self.clock())

    async def home_named(self, name: str):
        found = await self.store.by_name("contact", [name.casefold()])
        (record,) = found[name.casefold()]
        return record

    async def edit_home(self, name: str, **changes: Any):
        self.clock.tick(1)
        record = await self.home_named(name)
        return await edit_record(self.store, record.id, changes, actor="tester", at=self.clock(), connections=["mem"])

    async def table_rows(self, *, cursors: bool = True) -> dict[str, list[Any]]:
        """Everything a sync may change (the run history aside)."""
        tables = ["records", "links", "unlinked_remote", "outbox"] + (["cursors"] if cursors else [])
        return {t: [tuple(r) for r in await self.store.fetchall(f"SELECT * FROM {t} ORDER BY 1")] for t in tables}


@pytest.fixture
async def rig(tmp_path: Path):
    store = await Store.open(tmp_path / "hub.db")
    clock = Clock()
    yield Rig(store, tmp_path, clock, MemoryRemote(clock))
    await store.close()


# --- overwrite rules, first sync and later syncs --------------------------------------------------------------


async def test_first_sync_fills_blanks_on_both_sides_and_home_wins_where_both_have_values(rig: Rig):
    rig.use()
    await rig.home("Ada Lovelace", email="ada@home.example")
    await rig.home("Brook Taylor", title="Dr")
    await rig.home("Carl Gauss", email="carl@home.example")
    rig.remote.add("contact", {"Name": "ada lovelace", "Title": "Countess"})
    rig.remote.add("contact", {"Name": "Brook Taylor", "Email": "brook@remote.example"})
    rig.remote.add("contact", {"Name": "Carl Gauss", "Email": "gauss@remote.example"})

    result = await rig.sync()

    assert result.status == "success", result
    ada = await rig.home_named("Ada Lovelace")
    assert ada.fields["title"] == "Countess"
    assert rig.remote.by_name("contact", "ada lovelace")["Email"] == "ada@home.example"
    assert (await rig.home_named("Brook Taylor")).fields["email"] == "brook@remote.example"
    assert rig.remote.by_name("contact", "Brook Taylor")["Title"] == "Dr"
    assert rig.remote.by_name("contact", "Carl Gauss")["Email"] == "carl@home.example"
    assert (await rig.home_named("Carl Gauss")).fields["email"] == "carl@home.example"


async def test_later_sync_does_not_pull_remote_edits_but_pushes_home_values(rig: Rig):
    rig.use()
    await rig.home("Ada", email="ada@home.example")
    rig.remote.add("contact", {"Name": "Ada"})
    await rig.sync()
    remote_id = rig.remote.by_name("contact", "Ada")["Id"]

    rig.clock.tick()
    rig.remote.edit("contact", remote_id, {"Title": "Remote only title", "Email": "changed@remote.example"})
    result = await rig.sync()

    ada = await rig.home_named("Ada")
    assert "title" not in ada.fields or ada.fields["title"] is None
    assert ada.fields["email"] == "ada@home.example"
    assert rig.remote.get("contact", remote_id)["Email"] == "ada@home.example"
    assert rig.remote.get("contact", remote_id)["Title"] == "Remote only title"
    items = await rig.store.run_items(result.run_id)
    assert any("rule overwrite home→remote" in i["reason"] for i in items)


async def test_later_sync_sends_a_value_added_at_home(rig: Rig):
    rig.use()
    await rig.home("Ada")
    rig.remote.add("contact", {"Name": "Ada"})
    await rig.sync()
    await rig.edit_home("Ada", title="Professor")
    result = await rig.sync()
    assert rig.remote.by_name("contact", "Ada")["Title"] == "Professor"
    assert result.counts["updated"] == 1
    assert not (await rig.home_named("Ada")).pending


async def test_newest_rule_takes_the_side_changed_last_field_by_field(rig: Rig):
    rig.use(
        [
            field_rule("email", "Email", ("newest", "newest"), ("newest", "newest")),
            field_rule("title", "Title", ("newest", "newest"), ("newest", "newest")),
        ]
    )
    await rig.home("Ada", email="old@example", title="Ms")
    rig.clock.tick()
    rig.remote.add("contact", {"Name": "Ada", "Email": "old@example", "Title": "Ms"})
    await rig.sync()
    remote_id = rig.remote.by_name("contact", "Ada")["Id"]

    await rig.edit_home("Ada", email="new@home.example")
    rig.clock.tick()
    rig.remote.edit("contact", remote_id, {"Title": "Dr"})
    await rig.sync()

    ada = await rig.home_named("Ada")
    assert ada.fields["title"] == "Dr"
    assert ada.fields["email"] == "new@home.example"
    assert rig.remote.get("contact", remote_id)["Email"] == "new@home.example"


async def test_newest_rule_takes_a_remote_edit_stamped_in_the_same_second_as_the_last_sync(rig: Rig):
    """QuickBooks stamps whole seconds: an edit made just after a sync reads as older than it, and is still news."""
    rig.use([field_rule("email", "Email", ("newest", "newest"), ("newest", "newest"))])
    await rig.home("Ada", email="old@home.example")
    rig.clock.tick()
    remote_id = rig.remote.add("contact", {"Name": "Ada", "Email": "pulled@remote.example"})
    await rig.sync()  # the remote value is newer: pulled, and stamped at home with the sync's moment
    assert (await rig.home_named("Ada")).fields["email"] == "pulled@remote.example"

    rig.remote.edit("contact", remote_id, {"Email": "edited@remote.example"})
    rig.remote.records["contact"][remote_id]["Modified"] = rig.clock() - timedelta(seconds=0.5)
    writes_before = [c for c in rig.remote.calls if c[0] != "list"]
    await rig.sync()

    assert (await rig.home_named("Ada")).fields["email"] == "edited@remote.example"
    assert rig.remote.get("contact", remote_id)["Email"] == "edited@remote.example"
    assert [c for c in rig.remote.calls if c[0] != "list"] == writes_before


async def test_mirror_copies_a_blank_and_never_leaves_a_field_alone(rig: Rig):
    rig.use(
        [
            field_rule("email", "Email", ("mirror", "never"), ("mirror", "never")),
            field_rule("title", "Title", ("never", "never"), ("never", "never")),
        ]
    )
    await rig.home("Ada", email="ada@home.example", title="Dr")
    rig.remote.add("contact", {"Name": "Ada", "Email": "", "Title": "Prof"})
    await rig.sync()
    ada = await rig.home_named("Ada")
    assert ada.fields["email"] == ""
    assert ada.fields["title"] == "Dr"
    assert rig.remote.by_name("contact", "Ada")["Title"] == "Prof"


# --- matching and linking --------------------------------------------------------------------------------------


async def test_several_home_records_with_the_name_go_to_review_instead_of_a_guess(rig: Rig):
    rig.use()
    await rig.home("Sam Smith", email="a@example")
    await rig.home("sam smith", email="b@example")
    rig.remote.add("contact", {"Name": "SAM SMITH"})
    result = await rig.sync()
    assert result.status == "completed with 1 skipped"
    review = await rig.store.unlinked_remote("mem", "contact", review_only=True)
    assert len(review) == 1 and len(review[0]["candidates"]) == 2
    assert await rig.store.list_links("mem") == []
    assert "SAM SMITH" not in [r.get("Name") for r in rig.remote.records["contact"].values() if r["Id"] != "R1"]


async def test_an_unmatched_records_reason_names_what_the_match_rules_looked_for(rig: Rig):
    entity = contact_entity(KARBON_LIKE, create={"to_home": "on_request", "to_remote": "auto"},
                            match=[{"type": "field", "home": "email", "remote": "Email"}])
    rig.use(entity=entity)
    await rig.home("Ada", email="ada@home.example")  # same name, but names are not what this contract matches on
    rig.remote.add("contact", {"Name": "Ada", "Email": "other@remote.example"})
    await rig.sync(Scope(allow_empty_home=True))

    (row,) = await rig.store.unlinked_remote("mem", "contact")
    assert row["reason"] == ("unmatched: no link and no home record with email 'other@remote.example'; "
                             "create it at home on request")


async def test_unmatched_remote_record_waits_for_a_person_when_creation_is_on_request(rig: Rig):
    entity = contact_entity(KARBON_LIKE, create={"to_home": "on_request", "to_remote": "auto"})
    rig.use(entity=entity)
    rig.remote.add("contact", {"Name": "Nobody Here", "Email": "n@example"})
    result = await rig.sync()
    assert result.counts["skipped"] == 1 and await rig.store.count_records("contact") == 0
    (row,) = await rig.store.unlinked_remote("mem", "contact")
    assert "no home record named 'Nobody Here'" in row["reason"]

    imported = await rig.sync(Scope(create_home=True, remote_ids=(row["remote_id"],)))
    assert imported.counts["created"] == 1
    assert (await rig.home_named("Nobody Here")).fields["email"] == "n@example"
    assert await rig.store.unlinked_remote("mem", "contact") == []


async def test_records_new_to_the_hub_are_created_remotely_when_the_rule_is_auto(rig: Rig):
    rig.use()
    await rig.home("Already Here", email="old@example")
    first = await rig.sync()
    assert first.counts["created"] == 0, "records that found no match at the first sync wait for a person"
    await rig.home("Only At Home", email="home@example")
    result = await rig.sync()
    assert result.counts["created"] == 1
    assert rig.remote.by_name("contact", "Only At Home")["Email"] == "home@example"
    (link,) = await rig.store.list_links("mem")
    assert link.how == "created"
    again = await rig.sync()
    assert again.counts["created"] == 0 and len(rig.remote.records["contact"]) == 1
    assert (await rig.store.unlinked_home("mem", "contact"))[0].name == "Already Here"


async def test_a_link_key_keeps_records_linked_through_renames_and_code_changes(rig: Rig):
    entity = contact_entity(
        [field_rule("price", "Price", ("never", "overwrite"), ("never", "overwrite"))],
        link_key={"home": "replication_key", "remote": "ReplicationKey", "assigned_by": "home"},
        match=[{"type": "link_key"}],
        create={"to_home": "never", "to_remote": "auto"},
    )
    rig.use(entity=entity)
    await rig.sync()
    await rig.home("Rabies vaccine", price=30)
    await rig.sync()
    (created,) = rig.remote.records["contact"].values()
    assert created["ReplicationKey"]
    home = await rig.home_named("Rabies vaccine")
    assert home.fields["replication_key"] == created["ReplicationKey"]

    rig.clock.tick()
    rig.remote.edit("contact", created["Id"], {"Name": "RABIES VAX (practice)", "Code": "RV2"})
    await rig.edit_home("Rabies vaccine", price=35)
    await rig.sync()
    assert len(rig.remote.records["contact"]) == 1
    assert rig.remote.get("contact", created["Id"])["Price"] == 35

    # An item made at the practice without the key is a different item, whatever its name.
    rig.remote.add("contact", {"Name": "Rabies vaccine", "Price": 1})
    result = await rig.sync()
    assert result.counts["skipped"] == 1
    assert len(await rig.store.list_links("mem")) == 1


# --- filters and proxies ---------------------------------------------------------------------------------------


async def test_nc_only_and_unavailable_records_are_never_sent_and_proxied_ones_are_not_created(rig: Rig):
    entity = contact_entity(
        KARBON_LIKE,
        filters={
            "exclude_when": [{"field": "nc_only", "equals": True}],
            "available_when": [{"field": "shipped", "equals": True}],
        },
        proxy={"home": "proxy_id"},
    )
    rig.use(entity=entity)
    await rig.sync()
    await rig.home("No charge", nc_only=True, shipped=True)
    await rig.home("Not shipped", shipped=False)
    await rig.home("Shipped", shipped=True)
    web = await rig.home("Web Customer", shipped=True)
    await rig.home("Online buyer", shipped=True, proxy_id=web.id)
    await rig.sync()
    names = sorted(r["Name"] for r in rig.remote.records["contact"].values())
    assert names == ["Shipped", "Web Customer"]


async def test_a_record_flagged_nc_only_after_it_was_sent_sends_no_later_edit(rig: Rig):
    """Seed 004: "By checking 'NC Only' the transaction will be prevented from going to QuickBooks"."""
    rig.use(entity=contact_entity(KARBON_LIKE, filters={"exclude_when": [{"field": "nc_only", "equals": True}]}))
    await rig.sync(Scope(allow_empty_home=True))
    await rig.home("Order 7", title="Net 30")
    await rig.sync()
    sent = rig.remote.by_name("contact", "Order 7")
    await rig.edit_home("Order 7", nc_only=True, title="No charge")

    result = await rig.sync()

    assert rig.remote.get("contact", sent["Id"])["Title"] == "Net 30"
    assert result.status == "success" and not (await rig.home_named("Order 7")).pending


async def test_a_sync_after_every_home_record_was_deleted_is_not_refused_as_a_first_sync(rig: Rig):
    rig.use(options={"refuse_first_sync_into_empty_home": {"default": True, "description": "caution"}})
    await rig.home("Ada")
    rig.remote.add("contact", {"Name": "Ada"})
    assert (await rig.sync()).status == "success"
    await delete_record(rig.store, (await rig.home_named("Ada")).id, actor="amy", at=rig.clock())

    again = await rig.sync()

    assert again.status == "completed with 1 skipped", again  # the remote Ada, delinked by a person, waits
    assert await rig.store.count_records("contact") == 0


async def test_a_record_pushed_from_the_queue_and_read_back_is_seen_once(rig: Rig):
    rig.use()
    await rig.home("Ada")
    rig.remote.add("contact", {"Name": "Ada"})
    await rig.sync()
    await rig.edit_home("Ada", title="Dr")

    result = await rig.sync()

    assert (result.counts["seen"], result.counts["updated"]) == (1, 1), result


# --- pending sync, locks, dry runs, errors ----------------------------------------------------------------------


async def test_a_pending_local_change_is_not_overwritten_by_a_pull(rig: Rig):
    rig.use([field_rule("email", "Email", ("newest", "newest"), ("newest", "newest"))])
    await rig.home("Ada", email="first@example")
    rig.remote.add("contact", {"Name": "Ada", "Email": "first@example"})
    await rig.sync()
    remote_id = rig.remote.by_name("contact", "Ada")["Id"]
    await rig.edit_home("Ada", email="mine@home.example")
    rig.clock.tick()
    rig.remote.edit("contact", remote_id, {"Email": "theirs@remote.example"})
    rig.remote.fail_writes["Ada"] = "the system refused the write"
    result = await rig.sync()
    ada = await rig.home_named("Ada")
    assert ada.pending and ada.fields["email"] == "mine@home.example"
    items = await rig.store.run_items(result.run_id)
    assert any(i["action"] == "skipped" and "pending local changes" in i["reason"] for i in items)
    assert len(await rig.store.fetchall("SELECT * FROM outbox")) == 1


async def test_a_record_with_several_queued_changes_is_pushed_and_counted_once(rig: Rig):
    rig.use()
    await rig.home("Ada")
    rig.remote.add("contact", {"Name": "Ada"})
    await rig.sync()
    remote_id = rig.remote.by_name("contact", "Ada")["Id"]
    await rig.edit_home("Ada", email="ada@home.example")
    await rig.edit_home("Ada", title="Dr")
    rig.remote.fail_writes["Ada"] = "the system refused Ada"

    refused = await rig.sync()

    assert (refused.counts["seen"], refused.counts["failed"]) == (1, 1), refused.summary
    queued = await outbox.entries(rig.store, "mem", "contact")
    assert [(e.attempts, e.last_error) for e in queued] == [(1, "the system refused Ada")] * 2

    del rig.remote.fail_writes["Ada"]
    writes = len([c for c in rig.remote.calls if c[0] == "update"])
    sent = await rig.sync()

    assert (sent.counts["seen"], sent.counts["updated"]) == (1, 1), sent.summary
    assert len([c for c in rig.remote.calls if c[0] == "update"]) == writes + 1
    assert await outbox.entries(rig.store, "mem", "contact") == []
    assert (rig.remote.get("contact", remote_id)["Email"], rig.remote.get("contact", remote_id)["Title"]) == (
        "ada@home.example", "Dr")


async def test_a_second_sync_of_the_same_scope_is_refused_while_one_runs(rig: Rig):
    rig.use()
    await start_run(
        rig.store,
        connection="mem",
        entities=["contact"],
        trigger="manual",
        actor="a",
        scope={},
        dry_run=False,
        now=rig.clock(),
    )
    with pytest.raises(AlreadyRunning, match="already in progress"):
        await rig.sync()


async def test_a_dry_run_returns_the_plan_and_writes_nothing(rig: Rig):
    rig.use()
    await rig.home("Ada", email="ada@example")
    rig.remote.add("contact", {"Name": "Ada", "Title": "Dr"})
    rig.remote.add("contact", {"Name": "Bob"})
    before = await rig.table_rows()
    remote_before = repr(rig.remote.records)
    result = await rig.sync(dry_run=True)
    assert result.run_id is None
    assert {item["action"] for item in result.plan} == {"updated", "created"}
    assert await rig.table_rows() == before
    assert repr(rig.remote.records) == remote_before
    assert await rig.store.runs() == []


async def test_a_dry_run_plans_queued_changes_as_the_real_run_then_makes_them(rig: Rig):
    rig.use()
    await rig.home("Ada")
    ada = rig.remote.add("contact", {"Name": "Ada"})
    await rig.sync()
    await rig.edit_home("Ada", title="Dr")
    rig.clock.tick()
    await create_record(rig.store, "contact", {"name": "New Here"}, actor="amy", at=rig.clock(), connections=["mem"])
    before, remote_before = await rig.table_rows(), repr(rig.remote.records)

    planned = await rig.sync(dry_run=True)

    assert await rig.table_rows() == before and repr(rig.remote.records) == remote_before
    made = await rig.sync()
    done = [(i["action"], i["name"], i["reason"]) for i in await rig.store.run_items(made.run_id)]
    assert sorted((i["action"], i["name"], i["reason"]) for i in planned.plan if i["action"] != "unchanged") == sorted(
        done)
    assert {(action, name) for action, name, _reason in done} == {("updated", "Ada"), ("created", "New Here")}
    assert rig.remote.get("contact", ada)["Title"] == "Dr"


async def test_one_record_failing_does_not_stop_the_run(rig: Rig):
    rig.use()
    await rig.sync()
    await rig.home("Good One", email="g@example")
    await rig.home("Bad One", email="b@example")
    rig.remote.fail_writes["Bad One"] = "DisplayName contains a colon"
    result = await rig.sync()
    assert result.status == "completed with 1 error"
    assert result.counts["seen"] == (
        result.counts["created"]
        + result.counts["updated"]
        + result.counts["unchanged"]
        + result.counts["skipped"]
        + result.counts["failed"]
    )
    items = await rig.store.run_items(result.run_id)
    (failed,) = [i for i in items if i["action"] == "failed"]
    assert failed["name"] == "Bad One" and "colon" in failed["error"]
    assert rig.remote.by_name("contact", "Good One")


async def test_a_write_that_loses_a_race_is_re_read_and_re_applied(rig: Rig):
    rig.use()
    await rig.home("Ada", email="ada@home.example")
    remote_id = rig.remote.add("contact", {"Name": "Ada", "Email": "other@example"})
    rig.remote.races[remote_id] = 1
    result = await rig.sync()
    assert result.status == "success"
    row = rig.remote.get("contact", remote_id)
    assert row["Email"] == "ada@home.example" and row["Note"] == "concurrent edit 0"
    assert ("read", remote_id) in rig.remote.calls


async def test_an_interrupted_run_resumes_from_its_last_page(rig: Rig):
    rig.use(entity=contact_entity(KARBON_LIKE, create={"to_home": "auto", "to_remote": "never"}))
    for n in range(6):
        rig.remote.add("contact", {"Name": f"Person {n}"})
    original = MemorySystem.list_page

    async def failing_list_page(self, request):
        if request.token == "4":
            raise __import__("hub.errors").errors.RetriableError("memory: connection reset")
        return await original(self, request)

    MemorySystem.list_page = failing_list_page
    try:
        first = await rig.sync()
    finally:
        MemorySystem.list_page = original
    assert first.status == "interrupted"
    assert await rig.store.count_records("contact") == 4
    rig.remote.calls.clear()
    second = await rig.sync()
    assert second.status == "success"
    assert rig.remote.calls[0] == ("list", "4")
    assert await rig.store.count_records("contact") == 6


async def test_a_change_the_hub_wrote_is_not_synced_again(rig: Rig):
    rig.use()
    await rig.home("Ada", email="ada@home.example")
    rig.remote.add("contact", {"Name": "Ada"})
    await rig.sync()
    rig.remote.calls.clear()
    result = await rig.sync(Scope(full=True))
    assert result.counts["unchanged"] == 1 and result.counts["updated"] == 0
    assert [c for c in rig.remote.calls if c[0] == "update"] == []


async def test_queued_local_edits_are_pushed_in_order_and_kept_while_the_system_is_down(rig: Rig):
    rig.use()
    await rig.home("Ada")
    rig.remote.add("contact", {"Name": "Ada"})
    await rig.sync()
    await rig.edit_home("Ada", title="One")
    await rig.edit_home("Ada", email="ada@example")
    rig.remote.down = True
    down = await rig.sync()
    assert down.status == "interrupted"
    assert len(await rig.store.fetchall("SELECT * FROM outbox")) == 2
    rig.remote.down = False
    await rig.sync()
    row = rig.remote.by_name("contact", "Ada")
    assert (row["Title"], row["Email"]) == ("One", "ada@example")
    assert await rig.store.fetchall("SELECT * FROM outbox") == []
    assert not (await rig.home_named("Ada")).pending


async def test_every_types_queue_is_flushed_before_the_systems_changes_come_in(rig: Rig):
    """Seed 004: "1. The Sync Queue is flushed 2. Changes made to QuickBooks ... will update All Orders"."""
    entities = {"contact": contact_entity(KARBON_LIKE), "supplier": contact_entity(KARBON_LIKE)}
    rig.contract = load(contract_file(rig.tmp_path, entities))
    acme = rig.remote.add("supplier", {"Name": "Acme"})
    rig.remote.add("contact", {"Name": "Ada"})
    await rig.sync(Scope(allow_empty_home=True))
    (supplier,) = (await rig.store.by_name("supplier", ["acme"]))["acme"]
    rig.clock.tick(1)
    await edit_record(rig.store, supplier.id, {"email": "orders@acme.example"}, actor="tester", at=rig.clock(),
                      connections=["mem"])
    rig.remote.calls.clear()

    await rig.sync()

    kinds = [kind for kind, _key in rig.remote.calls]
    assert kinds.index("update") < kinds.index("list"), rig.remote.calls  # contacts are listed before suppliers
    assert rig.remote.get("supplier", acme)["Email"] == "orders@acme.example"


async def test_records_are_created_remotely_only_after_every_types_changes_came_in(rig: Rig):
    """Seed 004: the queue is flushed, QuickBooks' changes come in, then transactions are recorded."""
    entities = {"contact": contact_entity(KARBON_LIKE), "supplier": contact_entity(KARBON_LIKE)}
    rig.contract = load(contract_file(rig.tmp_path, entities))
    rig.remote.add("supplier", {"Name": "Acme"})
    await rig.sync(Scope(allow_empty_home=True))
    rig.clock.tick()
    await create_record(rig.store, "contact", {"name": "New Here"}, actor="amy", at=rig.clock(), connections=["mem"])
    async with rig.store.transaction() as tx:
        await rig.store.insert_record(tx, "contact", {"name": "Also New"}, at=rig.clock())
    rig.remote.calls.clear()

    await rig.sync()

    kinds = [kind for kind, _key in rig.remote.calls]
    assert kinds == ["list", "list", "create", "create"], rig.remote.calls  # contacts, suppliers, then creates
    assert {row["Name"] for row in rig.remote.records["contact"].values()} == {"New Here", "Also New"}


async def test_a_pull_leaves_queued_local_edits_queued_for_the_next_sync(rig: Rig):
    rig.use()
    await rig.home("Ada")
    remote_id = rig.remote.add("contact", {"Name": "Ada"})
    await rig.sync()
    await rig.edit_home("Ada", title="Dr")
    rig.remote.edit("contact", remote_id, {"Email": "ada@remote.example"})

    pulled = await rig.sync(Scope(mode="pull"))

    ada = await rig.home_named("Ada")
    assert (ada.fields["title"], ada.pending) == ("Dr", True)  # not pushed, not dropped, not overwritten
    queued = [tuple(row) for row in await rig.store.fetchall("SELECT op, fields FROM outbox")]
    assert queued == [("update", '["title"]')]
    assert pulled.status == "completed with 1 skipped"
    await rig.sync()
    assert rig.remote.get("contact", remote_id)["Title"] == "Dr"
    assert not (await rig.home_named("Ada")).pending


async def test_a_record_created_at_home_waits_until_the_systems_records_were_listed_then_links_by_name(rig: Rig):
    """Karbon already has "ACME PTY": "Acme Pty" added in the hub before any sync must link to it, not copy it."""
    rig.use()
    acme = rig.remote.add("contact", {"Name": "ACME PTY"})
    rig.clock.tick()
    record = await create_record(rig.store, "contact", {"name": "Acme Pty"}, actor="amy", at=rig.clock(),
                                 connections=["mem"])

    pushed_at_once = await rig.sync(Scope(record_ids=(record.id,)), trigger="queue")

    (waiting,) = await rig.store.run_items(pushed_at_once.run_id)
    assert waiting["action"] == "skipped" and "were never listed, so it could duplicate one" in waiting["reason"]
    assert list(rig.remote.records["contact"]) == [acme]

    first = await rig.sync(Scope(allow_empty_home=True))

    assert first.status == "success", first
    assert list(rig.remote.records["contact"]) == [acme]
    (link,) = await rig.store.list_links("mem")
    assert (link.home_id, link.remote_id) == (record.id, acme)
    assert not (await rig.home_named("Acme Pty")).pending


async def test_a_plugin_that_raises_while_listing_fails_the_run_naming_itself_and_the_error(rig: Rig):
    rig.use()

    class Broken(MemorySystem):
        async def list_page(self, request: PageRequest) -> Page:
            raise KeyError("Id")

    system = Broken(Connection("mem", "memory"), httpx.AsyncClient(), remote=rig.remote)
    engine = Engine(rig.store, system, rig.contract, Connection("mem", "memory"), clock=rig.clock)

    result = await engine.sync(Scope(allow_empty_home=True))

    assert (result.status, result.summary) == ("failed", "memory raised KeyError listing contact records: 'Id'")
    (run,) = await rig.store.fetchall("SELECT status, summary FROM runs")
    assert tuple(run) == ("failed", "memory raised KeyError listing contact records: 'Id'")


async def test_a_remote_change_the_rules_keep_out_is_a_run_item_that_says_why(rig: Rig):
    """Karbon's later syncs never bring Karbon's edits in: the run says so instead of saying nothing."""
    rig.use()
    await rig.home("Ada")
    remote_id = rig.remote.add("contact", {"Name": "Ada"})
    await rig.sync()
    rig.remote.edit("contact", remote_id, {"Title": "CFO"})

    result = await rig.sync()

    (item,) = await rig.store.run_items(result.run_id)
    assert (item["action"], item["reason"]) == (
        "unchanged", "title: kept both values: later sync, rules never remote→home and overwrite home→remote")
    assert (await rig.home_named("Ada")).fields.get("title") is None
    assert result.status == "success"
    again = await rig.sync()
    assert await rig.store.run_items(again.run_id) == []  # said once: the next run has nothing new to say


async def test_a_new_record_links_by_name_only_as_the_contracts_name_rule_compares(rig: Rig):
    """QuickBooks compares names as written: "Acme Pty" is not its "ACME PTY", so the hub's record is created."""
    rig.use(entity=contact_entity(KARBON_LIKE, match=[{"type": "exact_name", "case_insensitive": False}],
                                  create={"to_home": "on_request", "to_remote": "auto"}))
    shouting = rig.remote.add("contact", {"Name": "ACME PTY"})
    await rig.sync(Scope(allow_empty_home=True))
    rig.clock.tick()
    record = await create_record(rig.store, "contact", {"name": "Acme Pty"}, actor="amy", at=rig.clock(),
                                 connections=["mem"])

    await rig.sync()

    (link,) = await rig.store.list_links("mem")
    assert link.home_id == record.id and link.remote_id != shouting
    assert sorted(row["Name"] for row in rig.remote.records["contact"].values()) == ["ACME PTY", "Acme Pty"]


async def test_first_sync_into_an_empty_home_is_refused_when_the_contract_asks(rig: Rig):
    rig.use(options={"refuse_first_sync_into_empty_home": {"default": True, "description": "caution"}})
    rig.remote.add("contact", {"Name": "Ada"})
    result = await rig.sync()
    assert result.status == "refused" and "--allow-empty-home" in result.summary
    allowed = await rig.sync(Scope(allow_empty_home=True))
    assert allowed.status == "success"


async def test_a_remote_delete_soft_deletes_at_home_only_after_a_complete_listing(rig: Rig):
    rig.use(entity=contact_entity(KARBON_LIKE, remote_deletes="soft_delete_home"))
    rig.remote.add("contact", {"Name": "Ada"})
    gone = rig.remote.add("contact", {"Name": "Gone"})
    await rig.sync()
    del rig.remote.records["contact"][gone]
    await rig.sync()  # incremental: proves nothing about deletes
    assert await rig.store.count_records("contact") == 2
    await rig.sync(Scope(full=True))
    assert await rig.store.count_records("contact") == 1


async def test_local_create_is_pushed_at_the_next_sync(rig: Rig):
    rig.use()
    rig.clock.tick()
    await create_record(
        rig.store,
        "contact",
        {"name": "New Here", "email": "n@example"},
        actor="amy",
        at=rig.clock(),
        connections=["mem"],
    )
    await rig.sync()
    assert rig.remote.by_name("contact", "New Here")["Email"] == "n@example"


async def test_runs_can_go_on_for_different_entity_types_at_once(rig: Rig):
    rig.use()
    await start_run(
        rig.store,
        connection="mem",
        entities=["invoice"],
        trigger="manual",
        actor="a",
        scope={},
        dry_run=False,
        now=rig.clock(),
    )
    assert (await rig.sync()).status == "success"
    await asyncio.sleep(0)


async def test_two_remote_records_matching_one_home_record_both_wait_for_review(rig: Rig):
    rig.use()
    await rig.home("Sam Smith")
    rig.remote.add("contact", {"Name": "Sam Smith"})
    rig.remote.add("contact", {"Name": "SAM SMITH"})
    result = await rig.sync()
    assert result.counts["skipped"] == 2
    assert await rig.store.list_links("mem") == []
    assert len(await rig.store.unlinked_remote("mem", "contact", review_only=True)) == 2


async def test_an_export_of_a_selection_reports_progress_as_done_over_total(rig: Rig):
    rig.use(entity=contact_entity(KARBON_LIKE, create={"to_home": "on_request", "to_remote": "on_request"}))
    ids = [(await rig.home(f"Person {n}")).id for n in range(3)]
    rig.remote.fail_writes["Person 1"] = "refused"
    seen: list[tuple[int, int | None, int]] = []
    result = await rig.engine.sync(Scope(create_remote=True, record_ids=tuple(ids)),
                                   on_progress=lambda run: seen.append((run.counts["seen"], run.total,
                                                                        run.counts["failed"])))
    assert [(done, total) for done, total, _failed in seen] == [(1, 3), (2, 3), (3, 3)]
    assert seen[-1][2] == 1
    assert result.counts["total"] == 3 and result.status == "completed with 1 error"
    stored = await rig.store.run(result.run_id)
    assert stored["counts"]["total"] == 3


async def test_a_delinked_pair_is_not_matched_again_and_the_remote_record_is_unmatched(rig: Rig):
    from hub.linking import delink

    rig.use()
    ada = await rig.home("Ada")
    rig.remote.add("contact", {"Name": "Ada"})
    await rig.sync()
    await delink(rig.store, "mem", "contact", home_id=ada.id, actor="amy", at=rig.clock())
    (row,) = await rig.store.unlinked_remote("mem", "contact")
    assert "delinked by amy" in row["reason"]
    await rig.sync(Scope(full=True))
    assert await rig.store.list_links("mem") == []
    assert len(rig.remote.records["contact"]) == 1, "the delinked home record is not created remotely either"

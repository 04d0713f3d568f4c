"""Runs over some fields: only those are compared and written, and a record created meanwhile gets them all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub import outbox
from hub.engine import Scope
from hub.runtime import Hub
from tests.memory_hub import memory_contract, open_memory_hub
from tests.memory_steps import edit_at_home, home_named, sync
from tests.memory_system import Clock, MemoryRemote, contact_entity, field_rule

# Both ways, the side changed last wins: so every difference a run looks at, it resolves one way or the other.
NEWEST = [
    field_rule("email", "Email", ("newest", "newest"), ("newest", "newest")),
    field_rule("title", "Title", ("newest", "newest"), ("newest", "newest")),
]
EMAIL_ONLY = Scope(fields=("email",))


@pytest.fixture
def remote() -> MemoryRemote:
    return MemoryRemote(Clock())


async def open_hub(tmp_path: Path, remote: MemoryRemote, **create: bool) -> Hub:
    """A memory hub whose contacts sync email and title by the newest value and are created both ways."""
    entity = contact_entity(NEWEST, create={"to_home": "auto", "to_remote": "auto", **create})
    return await open_memory_hub(tmp_path, remote, contract=memory_contract(tmp_path, {"contact": entity}))


@pytest.fixture
async def hub(tmp_path: Path, remote: MemoryRemote) -> AsyncIterator[Hub]:
    opened = await open_hub(tmp_path, remote)
    yield opened
    await opened.close()


async def linked_pair(hub: Hub, remote: MemoryRemote) -> dict[str, str]:
    """Ada and Bob, the same on both sides and linked by a full sync; their remote ids by name."""
    ids = {}
    for name, email, title in (("Ada", "ada@example", "Ms"), ("Bob", "bob@example", "Mr")):
        ids[name] = remote.add("contact", {"Name": name, "Email": email, "Title": title})
    result = await sync(hub)
    assert (result.status, result.counts["created"]) == ("success", 2), result
    return ids


async def edits_on_both_sides(hub: Hub, remote: MemoryRemote, ids: dict[str, str]) -> None:
    """Ada changes both fields in the remote system, Bob both at home (queued), each later than the sync."""
    hub.clock.tick(60)
    remote.edit("contact", ids["Ada"], {"Email": "ada@remote.example", "Title": "Countess"})
    await edit_at_home(hub, "Bob", email="bob@home.example", title="Dr")


async def queued_fields(hub: Hub, name: str) -> list[list[str]]:
    """The fields of each change to a home contact still waiting in ``mem``'s sync queue."""
    record = await home_named(hub, name)
    return [entry.fields for entry in await outbox.entries(hub.store, "mem") if entry.home_id == record.id]


async def test_a_run_over_some_fields_writes_only_those_fields_either_way(hub: Hub, remote: MemoryRemote):
    ids = await linked_pair(hub, remote)
    await edits_on_both_sides(hub, remote, ids)

    result = await sync(hub, EMAIL_ONLY)

    assert result.status == "success", result
    ada, bob = await home_named(hub, "Ada"), await home_named(hub, "Bob")
    assert ada.fields["email"] == "ada@remote.example"  # selected: the remote's newer email comes in
    assert remote.get("contact", ids["Bob"])["Email"] == "bob@home.example"  # selected: the home's goes out
    assert ada.fields["title"] == "Ms"  # not selected: the remote's newer title stays remote
    assert remote.get("contact", ids["Bob"])["Title"] == "Mr"  # not selected: the home's newer title stays home
    changed = {change["field"] for item in await hub.store.run_items(result.run_id) for change in item["changes"]}
    assert changed == {"email"}
    # Bob's title still waits in the queue, so he stays Pending Sync until a run covers it.
    assert bob.pending and await queued_fields(hub, "Bob") == [["title"]]


async def test_the_fields_a_subset_run_left_alone_sync_in_the_next_full_run(hub: Hub, remote: MemoryRemote):
    ids = await linked_pair(hub, remote)
    await edits_on_both_sides(hub, remote, ids)
    await sync(hub, EMAIL_ONLY)

    result = await sync(hub)

    assert result.status == "success", result
    assert (await home_named(hub, "Ada")).fields["title"] == "Countess"
    assert remote.get("contact", ids["Bob"])["Title"] == "Dr"
    assert not (await home_named(hub, "Bob")).pending and await queued_fields(hub, "Bob") == []
    changed = {change["field"] for item in await hub.store.run_items(result.run_id) for change in item["changes"]}
    assert changed == {"title"}


async def test_a_pending_record_is_not_pulled_by_a_run_over_fields_its_queued_change_left_out(
    hub: Hub, remote: MemoryRemote
):
    """Seed 001: while a client is Pending Sync, even its custom fields are not taken from XPM."""
    ids = await linked_pair(hub, remote)
    await edit_at_home(hub, "Ada", title="Prof")
    remote.edit("contact", ids["Ada"], {"Email": "ada@remote.example"})

    held = await sync(hub, EMAIL_ONLY)

    assert (await home_named(hub, "Ada")).fields["email"] == "ada@example"
    assert [(i["action"], i["reason"]) for i in await hub.store.run_items(held.run_id)] == [
        ("skipped", "pending local changes wait to be pushed: the pull did not overwrite them")
    ]

    await sync(hub)

    ada = await home_named(hub, "Ada")
    assert (ada.fields["email"], ada.pending) == ("ada@remote.example", False)
    assert remote.get("contact", ids["Ada"])["Title"] == "Prof"


@pytest.mark.parametrize("with_all_fields", [True, False])
async def test_a_record_created_by_a_run_over_some_fields_gets_all_of_them_unless_the_contract_says_not(
    tmp_path: Path, remote: MemoryRemote, with_all_fields: bool
):
    """Enterprise selective sync: a missing item is created with every property, an existing one gets the selected."""
    hub = await open_hub(tmp_path, remote, with_all_fields=with_all_fields)
    try:
        ids = await linked_pair(hub, remote)
        await edit_at_home(hub, "Ada", email="ada@home.example", title="Prof")
        hub.clock.tick(1)
        async with hub.store.transaction() as tx:
            await hub.store.insert_record(tx, "contact", {"name": "Cy", "email": "cy@example", "title": "Dr"},
                                          at=hub.clock())

        result = await sync(hub, EMAIL_ONLY)

        assert (result.status, result.counts["created"]) == ("success", 1), result
        created = remote.by_name("contact", "Cy")
        assert created["Email"] == "cy@example"
        assert created.get("Title") == ("Dr" if with_all_fields else None)
        ada = remote.get("contact", ids["Ada"])
        assert (ada["Email"], ada["Title"]) == ("ada@home.example", "Ms")
    finally:
        await hub.close()

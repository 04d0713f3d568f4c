"""The pull's cursor: pages overlap the watermark, it never passes the run's start, and only full runs move it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from hub.engine import Scope
from hub.runtime import Hub
from hub.types import Page, PageRequest
from tests.memory_hub import memory_contract, open_memory_hub
from tests.memory_steps import home_named, sync, watermark
from tests.memory_system import T0, Clock, MemoryRemote, MemorySystem, contact_entity, field_rule

# Remote values always come in, so whatever a run misses shows up as a stale home value.
PULLED = [
    field_rule("email", "Email", ("overwrite", "never"), ("overwrite", "never")),
    field_rule("title", "Title", ("overwrite", "never"), ("overwrite", "never")),
]


def pulled_contract(tmp_path: Path) -> Path:
    """Contacts whose email and title always come in from the memory system."""
    return memory_contract(tmp_path, {"contact": contact_entity(PULLED)})


def edited_during_second_page(edit: Callable[[], None]) -> type[MemorySystem]:
    """A memory system whose users make ``edit`` once, just as the hub asks for the second page of a listing."""
    pending = [edit]

    class EditedWhileListed(MemorySystem):
        async def list_page(self, request: PageRequest) -> Page:
            if request.token and pending:
                pending.pop()()
            return await super().list_page(request)

    return EditedWhileListed


@pytest.fixture
def remote() -> MemoryRemote:
    return MemoryRemote(Clock())


@pytest.fixture
async def hub(tmp_path: Path, remote: MemoryRemote) -> AsyncIterator[Hub]:
    opened = await open_memory_hub(tmp_path, remote, contract=pulled_contract(tmp_path))
    yield opened
    await opened.close()


async def test_a_change_stamped_just_before_the_watermark_is_still_pulled(hub: Hub, remote: MemoryRemote):
    """A vendor may stamp a change a moment before it becomes visible: the next pull starts a few seconds early."""
    remote.add("contact", {"Name": "Cy", "Email": "cy@remote.example"}, modified=T0 - timedelta(minutes=5))
    remote.add("contact", {"Name": "Ada", "Email": "ada@remote.example"})
    await sync(hub)
    assert await watermark(hub) == T0.isoformat()

    remote.add("contact", {"Name": "Bob", "Email": "bob@remote.example"}, modified=T0 - timedelta(seconds=3))
    result = await sync(hub)

    assert (await home_named(hub, "Bob")).fields["email"] == "bob@remote.example"
    # Incremental all the same: Cy, changed long before the watermark, is not read again.
    assert (result.counts["seen"], result.counts["created"]) == (2, 1)


async def test_a_remote_change_made_while_a_run_reads_is_pulled_by_the_next_run(tmp_path: Path, remote: MemoryRemote):
    """Page one is read before Ada changes; page two shows Cy changed later still: Ada's change must not be lost."""
    ada = remote.add("contact", {"Name": "Ada", "Email": "ada@remote.example"})
    remote.add("contact", {"Name": "Bob", "Email": "bob@remote.example"})
    cy = remote.add("contact", {"Name": "Cy", "Email": "cy@remote.example"})

    def users_edit() -> None:
        remote.clock.tick(10)
        remote.edit("contact", ada, {"Email": "ada@late.example"})
        remote.clock.tick(20)
        remote.edit("contact", cy, {"Email": "cy@late.example"})

    hub = await open_memory_hub(tmp_path, remote, system=edited_during_second_page(users_edit),
                                contract=pulled_contract(tmp_path))
    try:
        first = await sync(hub)
        assert remote.page_size == 2 and first.status == "success", first
        assert (await home_named(hub, "Cy")).fields["email"] == "cy@late.example"
        assert (await home_named(hub, "Ada")).fields["email"] == "ada@remote.example"  # read before her change

        await sync(hub)

        assert (await home_named(hub, "Ada")).fields["email"] == "ada@late.example"
    finally:
        await hub.close()


@pytest.mark.parametrize(
    ("scope", "trigger"),
    [
        pytest.param(lambda ada: Scope(remote_ids=(ada,)), "webhook", id="one record, as a webhook asks"),
        pytest.param(lambda _ada: Scope(fields=("email",)), "manual", id="some fields"),
        pytest.param(lambda _ada: Scope(since=T0 + timedelta(minutes=3)), "manual", id="since a later date"),
    ],
)
async def test_a_run_that_saw_only_part_of_the_changes_leaves_the_cursor_for_the_next_full_run(
    hub: Hub, remote: MemoryRemote, scope: Callable[[str], Scope], trigger: str
):
    """Bob's title changes before Ada's; a narrow run sees Ada's, and Bob's must still reach the next run."""
    ada = remote.add("contact", {"Name": "Ada", "Email": "ada@remote.example"})
    bob = remote.add("contact", {"Name": "Bob", "Title": "Mr"})
    await sync(hub)
    before = await watermark(hub)

    remote.clock.tick(60)
    remote.edit("contact", bob, {"Title": "Dr"})
    remote.clock.tick(60)
    remote.edit("contact", ada, {"Email": "ada@new.example", "Title": "Countess"})
    narrow = await sync(hub, scope(ada), trigger=trigger)

    assert narrow.status == "success", narrow
    assert (await home_named(hub, "Ada")).fields["email"] == "ada@new.example"
    assert (await home_named(hub, "Bob")).fields["title"] == "Mr"  # the narrow run did not bring Bob's change
    assert await watermark(hub) == before

    await sync(hub)

    assert (await home_named(hub, "Bob")).fields["title"] == "Dr"

"""Properties of the engine over random records: a second sync with nothing changed changes nothing."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.engine import Scope
from hub.store import Store
from tests.memory_system import Clock, MemoryRemote, contact_entity, field_rule
from tests.test_engine import Rig

RULE_PAIRS = [("fill_blank", "overwrite"), ("never", "overwrite"), ("newest", "newest"), ("mirror", "never"),
              ("never", "mirror"), ("fill_blank", "fill_blank"), ("overwrite", "fill_blank"), ("never", "never")]
values = st.one_of(st.none(), st.just(""), st.sampled_from(["a", "b", "Bee", "c@example"]))
names = st.sampled_from(["Ada", "ada", "Bob", "Cy", "Dee", "Eve"])
records = st.lists(st.tuples(names, values, values), max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(home=records, remote=records, first=st.sampled_from(RULE_PAIRS), later=st.sampled_from(RULE_PAIRS),
       full=st.booleans())
def test_a_second_sync_with_no_changes_writes_nothing(home, remote, first, later, full):
    asyncio.run(_second_sync_is_quiet(home, remote, first, later, full))


async def _second_sync_is_quiet(home, remote, first, later, full):
    with tempfile.TemporaryDirectory() as folder:
        store = await Store.open(Path(folder) / "hub.db")
        clock = Clock()
        rig = Rig(store, Path(folder), clock, MemoryRemote(clock))
        try:
            rig.use(entity=contact_entity([field_rule("email", "Email", first, later),
                                           field_rule("title", "Title", later, first)]))
            for name, email, title in home:
                await rig.home(name, email=email, title=title)
            for name, email, title in remote:
                rig.remote.add("contact", {"Name": name, "Email": email, "Title": title})
            await rig.sync()
            # The cursor may move past the hub's own writes of the first run; no record, link or queue may change.
            before, remote_before = await rig.table_rows(cursors=False), repr(rig.remote.records)
            second = await rig.sync(Scope(full=full))
            assert second.counts["created"] == second.counts["updated"] == second.counts["failed"] == 0, second
            assert await rig.table_rows(cursors=False) == before
            assert repr(rig.remote.records) == remote_before
        finally:
            await store.close()

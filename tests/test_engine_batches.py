"""Records created remotely go to the plugin's ``create_many`` in batches of the system's size, each on its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from hub.engine import Scope
from hub.errors import RecordError
from hub.runtime import Hub
from hub.types import RemoteRecord
from tests.memory_hub import open_memory_hub
from tests.memory_steps import sync
from tests.memory_system import Clock, MemoryRemote, MemorySystem


class BatchingSystem(MemorySystem):
    """A memory system that takes three new records a call, and says how many each call got."""

    create_batch_size = 3
    batches: ClassVar[list[list[str]]] = []
    broken: ClassVar[set[str]] = set()
    """Names that make the whole call raise, as a plugin with a bug would."""

    async def create_many(self, entity: str, values: list[dict[str, Any]]) -> list[RemoteRecord | RecordError]:
        names = [str(one.get("Name")) for one in values]
        type(self).batches.append(names)
        if self.broken & set(names):
            raise ValueError("the batch answer could not be read")
        return await super().create_many(entity, values)


@pytest.fixture
def remote() -> MemoryRemote:
    return MemoryRemote(Clock())


@pytest.fixture
async def hub(tmp_path: Path, remote: MemoryRemote) -> AsyncIterator[Hub]:
    BatchingSystem.batches, BatchingSystem.broken = [], set()
    opened = await open_memory_hub(tmp_path, remote, system=BatchingSystem)
    yield opened
    await opened.close()


async def export(hub: Hub, *names: str) -> dict[str, dict[str, Any]]:
    """Home contacts with these names, exported; each one's run item by name."""
    ids = []
    for name in names:
        async with hub.store.transaction() as tx:
            ids.append((await hub.store.insert_record(tx, "contact", {"name": name}, at=hub.clock())).id)
    result = await sync(hub, Scope(entities=("contact",), create_remote=True, record_ids=tuple(ids)))
    return {item["name"]: item for item in await hub.store.run_items(result.run_id)}


async def test_seven_records_go_in_batches_of_three_and_each_is_linked(hub: Hub, remote: MemoryRemote):
    names = [f"Client {n}" for n in range(7)]

    items = await export(hub, *names)

    assert [len(batch) for batch in BatchingSystem.batches] == [3, 3, 1]
    assert {name: item["action"] for name, item in items.items()} == dict.fromkeys(names, "created")
    assert {item["remote_id"] for item in items.values()} == {remote.by_name("contact", n)["Id"] for n in names}


async def test_a_record_the_system_refuses_in_a_batch_fails_alone(hub: Hub, remote: MemoryRemote):
    remote.fail_writes["Bolt"] = "memory: Duplicate Name Exists Error"

    items = await export(hub, "Acme", "Bolt", "Cog")

    assert {name: item["action"] for name, item in items.items()} == {"Acme": "created", "Bolt": "failed",
                                                                      "Cog": "created"}
    assert items["Bolt"]["reason"] == "not created in Memory: memory: Duplicate Name Exists Error"


async def test_a_batch_call_that_raises_fails_its_records_and_the_next_batch_still_goes(hub: Hub, remote: MemoryRemote):
    BatchingSystem.broken = {"Client 1"}
    names = [f"Client {n}" for n in range(5)]

    items = await export(hub, *names)

    broken, fine = sorted(BatchingSystem.batches, key=lambda batch: "Client 1" not in batch)
    assert {name: items[name]["action"] for name in broken} == dict.fromkeys(broken, "failed")
    assert {name: items[name]["action"] for name in fine} == dict.fromkeys(fine, "created")
    assert all("memory raised ValueError: the batch answer could not be read" in items[n]["error"] for n in broken)
    assert sorted(row["Name"] for row in remote.records["contact"].values()) == sorted(fine)

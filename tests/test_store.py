"""The home store: migrations, transactions, and what it keeps about records and links."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading

import pytest

from hub.errors import StoreError
from hub.migrations import MIGRATIONS
from hub.store import Store, name_key
from tests.memory_system import T0


async def test_a_new_store_is_migrated_to_the_latest_schema_in_wal_mode(tmp_path):
    store = await Store.open(tmp_path / "var" / "hub.db")
    try:
        assert (await store.fetchone("PRAGMA user_version"))[0] == len(MIGRATIONS)
        assert (await store.fetchone("PRAGMA journal_mode"))[0] == "wal"
    finally:
        await store.close()
    reopened = await Store.open(tmp_path / "var" / "hub.db")
    await reopened.close()


async def test_a_store_from_a_newer_hub_is_refused(tmp_path):
    path = tmp_path / "hub.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer hub"):
        await Store.open(path)


async def test_a_file_that_is_not_a_database_is_refused_by_name_and_left_as_it_was(tmp_path):
    path = tmp_path / "hub.db"
    path.write_text("the firm's notes, saved where the store was expected\n" * 20)
    before = set(threading.enumerate())

    refused = f"the store at {re.escape(str(path))} cannot be opened: file is not a database"
    with pytest.raises(StoreError, match=refused):
        await Store.open(path)

    assert path.read_text().startswith("the firm's notes")
    for _ in range(100):  # its connection thread was told to stop, not left running: it ends within a moment
        if not set(threading.enumerate()) - before:
            break
        await asyncio.sleep(0.01)
    assert set(threading.enumerate()) - before == set()


async def test_a_failed_transaction_leaves_nothing_behind(tmp_path):
    store = await Store.open(tmp_path / "hub.db")
    try:
        with pytest.raises(ZeroDivisionError):
            async with store.transaction() as tx:
                await store.insert_record(tx, "contact", {"name": "Ada"}, at=T0)
                _ = 1 / 0
        assert await store.count_records("contact") == 0
    finally:
        await store.close()


async def test_records_are_found_by_name_ignoring_case_and_spacing(tmp_path):
    store = await Store.open(tmp_path / "hub.db")
    try:
        async with store.transaction() as tx:
            ada = await store.insert_record(tx, "contact", {"name": "  Ada   LOVELACE "}, at=T0)
        found = await store.by_name("contact", [name_key("ada lovelace")])
        assert [r.id for r in found["ada lovelace"]] == [ada.id]
        assert [r.name for r in await store.list_records("contact", search="LOVE")] == ["  Ada   LOVELACE "]
        assert await store.list_records("contact", search="%") == []
    finally:
        await store.close()

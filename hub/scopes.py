"""Which syncs this process is running, by connection and entity type, so its own syncs queue instead of refusing.

Two kinds of sync meet here. A *targeted* sync (trigger ``webhook`` or ``queue``: an inbox worker's or a pushed
edit's few records) is short: one of a type waits for the targeted sync holding that type, then runs. Any other
sync is *whole*-like (a person's or a timer's, usually of whole types): it waits up to ``WHOLE_WAIT`` seconds for
the targeted syncs holding its types, and meanwhile new targeted syncs of those types stand back
(``AlreadyRunning``, so a worker puts its events back for later) rather than starve it. A whole sync finding
another whole sync on a type is refused at once. Between processes the store's run lock (``hub/runs.py``) decides,
and ``Hub.sync`` waits as long for another process's targeted syncs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from hub.runs import TARGETED_TRIGGERS, AlreadyRunning

WHOLE_WAIT = 30.0
"""How many seconds a person's or a timer's sync waits for this process's targeted syncs of its types."""

Key = tuple[str, str]


class Scopes:
    """The (connection, entity type) pairs this process's syncs hold, and those whole syncs are waiting for."""

    def __init__(self, whole_wait: float = WHOLE_WAIT) -> None:
        self.whole_wait = whole_wait
        self._held: dict[Key, bool] = {}
        """Each held pair, and whether a whole sync holds it."""
        self._wanted: set[Key] = set()
        self._changed = asyncio.Event()

    @asynccontextmanager
    async def hold(self, connection: str, entities: list[str], *, trigger: str) -> AsyncIterator[None]:
        """Hold the connection's entity types for one sync, waiting or refusing as its trigger's kind says."""
        keys = list(dict.fromkeys((connection, entity) for entity in entities))
        whole = trigger not in TARGETED_TRIGGERS
        await (self._take_whole(keys) if whole else self._take_targeted(keys))
        try:
            yield
        finally:
            for key in keys:
                del self._held[key]
            self._announce()

    def whole_sync_running(self, connection: str) -> bool:
        """Whether a whole sync of the connection holds or awaits any of its types in this process."""
        return any(key[0] == connection for key in self._wanted) or any(
            whole and key[0] == connection for key, whole in self._held.items()
        )

    async def _take_targeted(self, keys: list[Key]) -> None:
        while True:
            self._refuse_if_whole(keys)
            if not any(key in self._held for key in keys):
                break
            await self._changed.wait()
        self._held.update(dict.fromkeys(keys, False))

    async def _take_whole(self, keys: list[Key]) -> None:
        self._refuse_if_whole(keys)
        self._wanted.update(keys)
        self._announce()  # targeted syncs waiting for these types stand back now, not when they would start
        try:
            async with asyncio.timeout(self.whole_wait):
                while any(key in self._held for key in keys):
                    await self._changed.wait()
        except TimeoutError:
            raise AlreadyRunning(
                f"{_describe(keys)}: short syncs of single records (webhooks, pushed edits) were still running "
                f"after {self.whole_wait:g} s; try again in a moment"
            ) from None
        finally:
            self._wanted.difference_update(keys)
            self._announce()
        self._held.update(dict.fromkeys(keys, True))

    def _refuse_if_whole(self, keys: list[Key]) -> None:
        busy = [key for key in keys if key in self._wanted or self._held.get(key)]
        if busy:
            raise AlreadyRunning(f"a sync of {_describe(busy)} is already in progress or about to start")

    def _announce(self) -> None:
        """Wake every waiter to look again (a fresh event for the next change)."""
        self._changed.set()
        self._changed = asyncio.Event()


def _describe(keys: list[Key]) -> str:
    """``conn (type, type)`` for the AlreadyRunning messages."""
    return f"{keys[0][0]} ({', '.join(sorted(entity for _, entity in keys))})"

"""Manual syncs that answer as soon as their run is stored and go on in the background, owned by the app.

A client that sends ``Prefer: respond-async`` (RFC 7240) to a sync, import or export gets ``202`` with the run's
id at once and follows the run at ``/api/runs/{id}``. The run itself is the same as a waited-for one: a refusal
before it starts (busy, disconnected) is still the request's error, and a run that stops on an unexpected error
ends ``failed`` saying so (``Engine.sync``) and is logged here. The app's lifespan closes this at shutdown: the
runs still going are cancelled, each ending ``interrupted``, before the store closes.
"""

from __future__ import annotations

import asyncio
import logging

from hub.engine import Scope
from hub.errors import HubError
from hub.runs import Run
from hub.runtime import Hub

log = logging.getLogger("hub.background_runs")


class ShuttingDown(HubError):
    """The hub is stopping and starts no more background runs."""


class BackgroundRuns:
    """The manual syncs running in the background, which the app waits for or cancels when it stops."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def __len__(self) -> int:
        return len(self._tasks)

    async def start(self, hub: Hub, name: str, scope: Scope, *, actor: str) -> int:
        """Start a manual sync and return its run's id once the run is stored; an error before that is raised."""
        if self._closed:
            raise ShuttingDown("the hub is shutting down: it starts no more runs")
        started: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def on_start(run: Run) -> None:
            if not started.done() and run.id is not None:
                started.set_result(run.id)

        async def run() -> None:
            try:
                await hub.sync(name, scope, trigger="manual", actor=actor, on_start=on_start)
                if not started.done():
                    started.set_exception(HubError(f"the sync of {name} ended without storing a run"))
            except BaseException as exc:
                if not started.done():  # it never started: the request answers the error itself
                    started.set_exception(exc if isinstance(exc, Exception) else ShuttingDown(str(exc) or
                                                                                             "the hub stopped"))
                elif isinstance(exc, Exception):
                    log.exception("the background sync of %s stopped on an unexpected error", name)
                if not isinstance(exc, Exception):
                    raise

        task = asyncio.create_task(run(), name=f"manual sync:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(started)

    async def close(self) -> None:
        """Start no more runs; cancel those still going and wait until each has recorded how it ended."""
        self._closed = True
        running = list(self._tasks)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

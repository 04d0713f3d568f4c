"""The web app: webhook intake, the JSON API, health, and the background workers and timers in its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from functools import partial

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route

from hub.auth import BearerAuth
from hub.background_runs import BackgroundRuns
from hub.config import Config
from hub.intake import receive_webhook
from hub.plugins import await_me_maybe, call_each
from hub.resumes import Resumes
from hub.runtime import Hub
from hub.schedule import Sleep
from hub.workers import inbox_worker, push_soon, recover, timer_tasks

log = logging.getLogger("hub.app")


async def healthz(request: Request) -> JSONResponse:
    """GET /healthz: the hub is up (no authentication)."""
    hub: Hub = request.app.state.hub
    return JSONResponse({"status": "ok", "connections": sorted(hub.config.connections)})


async def json_error(request: Request, exc: Exception) -> JSONResponse:
    """Unroutable requests answer JSON like every other error of the hub."""
    status = getattr(exc, "status_code", 500)
    return JSONResponse({"error": getattr(exc, "detail", "error")}, status_code=status,
                        headers=getattr(exc, "headers", None))


def create_app(hub: Hub, *, background: bool = True, sleep: Sleep = asyncio.sleep) -> Starlette:
    """Assemble the app around an opened hub; ``background`` starts the inbox workers, timers and resumes.

    ``sleep`` is what timers and resumes wait with, so tests can move a fake clock instead.
    """
    from hub.api import api_routes, openapi_route

    extra: list[BaseRoute] = []
    for _plugin, routes in call_each(hub.registry.loaded, "register_routes", lambda _p: {"hub": hub}):
        extra.extend(routes or [])
    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/webhooks/{connection}", receive_webhook, methods=["POST"]),
        openapi_route(),
        Mount("/api", routes=api_routes()),
        *extra,
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for plugin, result in call_each(hub.registry.loaded, "startup", lambda _p: {"hub": hub}):
            try:
                await await_me_maybe(result)
            except Exception:
                log.exception("plugin %s failed at start-up; going on without it", plugin)
        tasks: list[asyncio.Task[None]] = []
        resumes = Resumes(hub, sleep=sleep)
        if background:
            events, runs = await recover(hub)
            if events or runs:
                log.info("took up %d webhook events and %d runs a stopped process left unfinished", events, runs)
            wake = asyncio.Event()
            app.state.wake_workers = wake.set
            app.state.push_soon = partial(push_soon, hub, tasks)
            tasks += [asyncio.create_task(inbox_worker(hub, wake), name=f"inbox-{n}")
                      for n in range(hub.config.workers)]
            tasks += timer_tasks(hub, sleep=sleep)
            hub.on_paused = resumes.schedule
            if waiting := await resumes.start():
                log.info("%d syncs a stopped process left paused resume when their pauses end", waiting)
        try:
            yield
        finally:
            hub.on_paused = None
            await app.state.background_runs.close()
            await resumes.stop()
            running = list(tasks)
            for task in running:
                task.cancel()
            for task in running:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = Starlette(routes=routes, middleware=[Middleware(BearerAuth, users=hub.config.users)], lifespan=lifespan,
                    exception_handlers={404: json_error, 405: json_error})
    app.state.hub = hub
    app.state.background_runs = BackgroundRuns()  # manual syncs answered at once (Prefer: respond-async)
    return app


class _Server(uvicorn.Server):
    """uvicorn's server, leaving SIGINT and SIGTERM to ``serve``.

    uvicorn raises a signal it caught again once it has shut down: SIGTERM killed the process before the hub closed,
    and SIGINT cancelled the hub's closing at its first await, leaving the store open and its thread keeping the
    process alive. ``serve`` routes both signals to ``handle_exit`` for the whole run instead.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave the signals alone: ``serve`` has routed them here already."""
        yield


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` for uvicorn to serve on (an OSError if it cannot be)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def listen_or_explain(host: str, port: int) -> socket.socket | None:
    """The bound socket; or None, after one line on standard error saying why not (a taken port, say)."""
    try:
        return listen(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"hub: port {port} is taken: stop what listens there, or serve on another with --port",
                  file=sys.stderr)
        else:
            print(f"hub: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return None


def serve(config: Config, *, host: str | None = None, port: int | None = None) -> int:
    """Serve the hub with uvicorn until Ctrl-C (then return 130) or SIGTERM (0), closing the hub and its store.

    The port is bound before the hub opens: one that is taken returns 3 with a line on standard error.
    """
    host, port = host or config.listen_host, port or config.listen_port
    sock = listen_or_explain(host, port)
    if sock is None:
        return 3

    async def main() -> int:
        hub = await Hub.open(config)
        stopped_by: list[int] = []
        try:
            app = create_app(hub)
            server = _Server(uvicorn.Config(app, host=host, port=port, log_level="info"))

            def stop(signum: int) -> None:
                stopped_by.append(signum)
                server.handle_exit(signum, None)

            loop = asyncio.get_running_loop()
            # Installed until the loop closes, so a second Ctrl-C while the hub closes only hurries the shutdown.
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop, signum)
            await server.serve(sockets=[sock])
        finally:
            await hub.close()
        return 130 if stopped_by[:1] == [signal.SIGINT] else 0

    with sock:
        return asyncio.run(main())

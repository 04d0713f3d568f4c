"""The durable minimum for webhook intake: a bare endpoint that also commits each delivery as the hub does.

``python -m bench.durable --port N --db PATH`` serves ``POST /webhooks/{connection}`` under the same uvicorn
settings as ``bench.bare``: each request's body becomes one inbox row, committed through the hub's own group
commit (``hub.inbox.accept``: one ``INSERT ... SELECT FROM json_each`` per batch, ``synchronous=FULL``, WAL),
and is answered 200 once durable. No signature check, no parsing, no hub, no workers: what a webhook costs
when it must survive a power loss before the answer, and nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.inbox import accept
from hub.store import Store, now_utc
from hub.types import WebhookEvent


def create_app(database: Path) -> Starlette:
    """The durable-minimum app: the hub's webhook route, committing each body to an inbox of the hub's schema."""

    async def answer(request: Request) -> Response:
        body = await request.body()
        event = WebhookEvent(entity="customer", remote_id="1", action="updated")
        await accept(request.app.state.store, request.path_params["connection"], [event], body, at=now_utc())
        return Response(status_code=200)

    async def healthz(request: Request) -> Response:
        return Response(status_code=200)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.store = await Store.open(database)
        try:
            yield
        finally:
            await app.state.store.close()

    return Starlette(
        routes=[Route("/webhooks/{connection}", answer, methods=["POST"]), Route("/healthz", healthz)],
        lifespan=lifespan,
    )


def main(argv: list[str] | None = None) -> None:
    """Serve the durable-minimum app on loopback until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m bench.durable")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=Path, required=True)
    args = parser.parse_args(argv)
    # The same uvicorn.Config as hub.app.serve and bench.bare: host, port and log level, nothing tuned.
    config = uvicorn.Config(create_app(args.db), host="127.0.0.1", port=args.port, log_level="info")
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()

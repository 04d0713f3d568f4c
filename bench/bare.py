"""The ceiling for webhook intake: a bare Starlette endpoint that only answers 200, served as ``hub serve`` serves.

``python -m bench.bare --port N`` runs it under uvicorn with the same settings as ``hub.app.serve``.
"""

from __future__ import annotations

import argparse
import asyncio

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def answer(request: Request) -> Response:
    """POST /webhooks/{connection}: 200, nothing else."""
    return Response(status_code=200)


def create_app() -> Starlette:
    """The bare app: the hub's webhook route and nothing behind it."""
    return Starlette(
        routes=[Route("/webhooks/{connection}", answer, methods=["POST"]), Route("/healthz", answer, methods=["GET"])]
    )


def main(argv: list[str] | None = None) -> None:
    """Serve the bare app on loopback until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m bench.bare")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    # The same uvicorn.Config as hub.app.serve: host, port and log level, nothing tuned.
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=args.port, log_level="info"))
    asyncio.run(server.serve())


if __name__ == "__main__":
    main()

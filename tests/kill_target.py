"""A hub server on the memory plugin, run in a subprocess by tests/test_inbox_kill.py and killed with SIGKILL.

python -m tests.kill_target DIR PORT GENERATION [--slow SECONDS]

DIR holds the store (hub.db), the contract (memory.json) and the remote's records (remote.json); the server
appends "GENERATION REMOTE_ID" to DIR/fetched.log for every record it fetches, so the test can count them
across both lives of the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from datetime import datetime
from pathlib import Path

import uvicorn

from hub.app import create_app
from hub.runtime import Hub
from hub.types import Page, PageRequest
from tests.memory_hub import BoundMemoryPlugin, memory_config
from tests.memory_system import Clock, MemoryRemote, MemorySystem


def load_remote(path: Path) -> MemoryRemote:
    """The remote's records as the test wrote them."""
    records = json.loads(path.read_text())
    for rows in records.values():
        for row in rows.values():
            row["Modified"] = datetime.fromisoformat(row["Modified"])
    return MemoryRemote(Clock(), page_size=1000, records=records)


def logging_system(log: Path, generation: int, slow: float) -> type[MemorySystem]:
    """A memory system that notes every record it returns, and takes ``slow`` seconds per listing."""
    descriptor = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    class LoggingSystem(MemorySystem):
        async def list_page(self, request: PageRequest) -> Page:
            await asyncio.sleep(slow)
            page = await super().list_page(request)
            for record in page.records:
                # One write per line: O_APPEND keeps lines whole, and SIGKILL cannot lose what was written.
                os.write(descriptor, f"{generation} {record.id}\n".encode())
            return page

    return LoggingSystem


async def serve(folder: Path, port: int, generation: int, slow: float) -> None:
    """Open the hub with its workers and serve it until killed."""
    remote = load_remote(folder / "remote.json")
    system = logging_system(folder / "fetched.log", generation, slow)
    plugin = BoundMemoryPlugin(folder / "memory.json", remote, system)
    hub = await Hub.open(memory_config(folder / "hub.db"), env={"HUB_PLUGINS": "core"}, plugins=[plugin])
    try:
        config = uvicorn.Config(create_app(hub), host="127.0.0.1", port=port, log_level="warning")
        await uvicorn.Server(config).serve()
    finally:
        await hub.close()


def main() -> None:
    """Read the arguments and serve."""
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("port", type=int)
    parser.add_argument("generation", type=int)
    parser.add_argument("--slow", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(serve(args.folder, args.port, args.generation, args.slow))


if __name__ == "__main__":
    main()

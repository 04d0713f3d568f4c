"""A serving hub pushes an edit to a linked record at once: nobody has to start a sync."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from hub.app import create_app
from hub.runtime import Hub
from tests.api_fixtures import ADMIN_TOKEN, bearer, open_rig
from tests.plugin_api_fixtures import answer, karbon_api_rig

WAIT = 4.0
"""Seconds a test waits for the background push before it calls the edit lost."""


@asynccontextmanager
async def serving(hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    """The hub's app with its background work running (as ``hub serve`` has it), and an admin's client."""
    app = create_app(hub, background=True)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hub", headers=bearer(ADMIN_TOKEN)
    ) as client:
        yield client


async def eventually(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Poll ``check`` until it returns something true, for at most ``WAIT`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while loop.time() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what} within {WAIT:g} s")


async def test_an_edit_to_a_linked_record_reaches_the_remote_system_and_clears_pending_sync(tmp_path: Path):
    async with open_rig(tmp_path) as rig:
        home = await rig.home(name="Ada Lovelace", email="ada@home.example")
        remote_id = rig.remote.add("contact", {"Name": "Ada Lovelace"})
        assert (await rig.sync(entities=["contact"]))["status"] == "success"
        rig.clock.tick(1)

        async with serving(rig.hub) as client:
            edited = answer(await client.patch(f"/api/records/{home.id}", json={"fields": {"title": "Countess"}}))
            assert edited["pending"] is True

            async def pushed() -> dict[str, Any] | None:
                record = answer(await client.get(f"/api/records/{home.id}"))
                arrived = rig.remote.get("contact", remote_id).get("Title") == "Countess"
                return record if arrived and not record["pending"] else None

            record = await eventually(pushed, "the edit never reached the remote system")
            runs = answer(await client.get("/api/runs", params={"connection": "mem"}))

        assert record["queued"] == []
        assert (runs[0]["trigger"], runs[0]["actor"]) == ("queue", "ada")


async def test_an_edit_to_a_linked_karbon_contact_reaches_karbon_at_once_by_the_serving_hub():
    async with karbon_api_rig() as rig:
        ada = await rig.load("contact", "Ada Lovelace", title="CFO")
        key = rig.seed_person("Ada", "Lovelace")
        await rig.sync_now()
        assert await rig.linked_key(ada) == key

        async with serving(rig.hub) as client:
            answer(await client.patch(f"/api/records/{ada.id}", json={"fields": {"title": "Finance Director"}}))

            async def pushed() -> bool:
                record = answer(await client.get(f"/api/records/{ada.id}"))
                return rig.card_of(key).get("RoleOrTitle") == "Finance Director" and not record["pending"]

            await eventually(pushed, "the edit never reached Karbon")

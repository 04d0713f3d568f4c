"""Audit fixes in the API: strict JSON bodies and ``show=matched``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.api_fixtures import ApiRig, open_rig


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[ApiRig]:
    async with open_rig(tmp_path) as opened:
        yield opened


# --- JSON bodies ----------------------------------------------------------------------------------------------------


async def test_a_deeply_nested_body_is_a_400_naming_the_depth(rig: ApiRig):
    response = await rig.admin.post("/api/records", content=b"[" * 100_000)

    assert response.status_code == 400
    assert response.json() == {"error": "body: JSON is nested 100000 levels deep; the limit is 64"}


async def test_a_body_giving_a_key_twice_is_refused_naming_the_key(rig: ApiRig):
    body = b'{"entity": "contact", "fields": {"name": "Ada", "name": "Grace"}}'

    response = await rig.standard.post("/api/records", content=body)

    assert response.status_code == 400
    assert response.json() == {"error": "body: duplicate key 'name' in a JSON object"}
    assert await rig.hub.store.fetchall("SELECT id FROM records") == []


async def test_nan_is_not_json(rig: ApiRig):
    response = await rig.admin.post("/api/records", content=b'{"entity": "item", "fields": {"price": NaN}}')

    assert response.status_code == 400
    assert response.json() == {"error": "body: NaN is not a JSON number"}


# --- show=matched ---------------------------------------------------------------------------------------------------


async def test_links_show_matched_is_the_linked_list(rig: ApiRig):
    await rig.home(name="Ada")
    await rig.home(name="Hub Only")
    rig.remote.add("contact", {"Name": "Ada", "Email": "ada@example"})
    await rig.sync(entities=["contact"])

    matched = await rig.standard.get("/api/connections/mem/links", params={"entity": "contact", "show": "matched"})
    linked = await rig.standard.get("/api/connections/mem/links", params={"entity": "contact", "show": "linked"})

    assert matched.status_code == 200, matched.text
    assert [row["home_name"] for row in matched.json()] == ["Ada"]
    assert matched.json() == linked.json()

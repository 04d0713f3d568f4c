"""Query parameters as a front end sends them: yes/no flags in the usual spellings, and garbage refused by name."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.api_fixtures import ApiRig, open_rig


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[ApiRig]:
    async with open_rig(tmp_path) as opened:
        yield opened


async def listed(rig: ApiRig, **params: str) -> set[str]:
    """The names of the contacts the links listing shows with these query parameters."""
    response = await rig.standard.get("/api/connections/mem/links", params={"entity": "contact", **params})
    assert response.status_code == 200, response.text
    return {row["home_name"] for row in response.json()}


@pytest.mark.parametrize(
    ("spelling", "hidden_shown"),
    [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("false", False), ("0", False), ("No", False)],
)
async def test_show_hidden_takes_true_false_one_zero_yes_and_no(rig: ApiRig, spelling: str, hidden_shown: bool):
    await rig.home(name="Ada Lovelace")
    await rig.home(name="Old Client", hidden=True)

    assert await listed(rig) == {"Ada Lovelace"}
    expected = {"Ada Lovelace", "Old Client"} if hidden_shown else {"Ada Lovelace"}
    assert await listed(rig, show_hidden=spelling) == expected


@pytest.mark.parametrize("garbage", ["maybe", "", "2", "true,false"])
async def test_a_flag_that_is_neither_yes_nor_no_is_a_400_naming_it(rig: ApiRig, garbage: str):
    response = await rig.standard.get(
        "/api/connections/mem/links", params={"entity": "contact", "show_hidden": garbage}
    )
    assert response.status_code == 400
    assert response.json() == {"error": f"show_hidden: must be true or false (or 1/0, yes/no), got {garbage!r}"}

"""The links listing comes a page at a time, says how many rows there are in all, and never drops any.

Before paging, the API and ``hub links`` cut the unmatched home records at 1,000 without saying so.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.runtime import Hub
from tests import test_cli as cli_tests
from tests.api_fixtures import ApiRig, open_rig
from tests.test_cli import hub_cli, with_hub

LINKS = "/api/connections/mem/links"
MANY = 1005
"""More unmatched home records than the old silent cut of 1,000."""

# The command line's own fixtures: a configuration with one connection, mem, over the memory system.
config, remote = cli_tests.config, cli_tests.remote


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[ApiRig]:
    async with open_rig(tmp_path) as opened:
        yield opened


async def load_contacts(hub: Hub, count: int) -> list[str]:
    """Home contacts loaded before any sync, so each is listed as unmatched home; their ids."""
    async with hub.store.transaction() as tx:
        return [
            (await hub.store.insert_record(tx, "contact", {"name": f"Contact {n:04}"}, at=hub.clock())).id
            for n in range(count)
        ]


def total(response: httpx.Response) -> int:
    """The number of rows in all pages, from the answer's header."""
    assert response.status_code == 200, response.text
    return int(response.headers["X-Total-Count"])


async def home_ids(rig: ApiRig, **params: Any) -> list[str]:
    """The home ids on one page of the unmatched listing."""
    response = await rig.standard.get(LINKS, params={"show": "unmatched", **params})
    assert total(response) == MANY
    return [row["home_id"] for row in response.json()]


async def test_more_than_a_thousand_unmatched_home_records_are_all_listed_across_pages(rig: ApiRig):
    loaded = await load_contacts(rig.hub, MANY)

    first = await home_ids(rig, limit=1000)
    rest = await home_ids(rig, limit=1000, offset=1000)

    assert (len(first), len(rest)) == (1000, 5)
    assert sorted(first + rest) == sorted(loaded)


async def test_a_page_holds_200_rows_unless_asked_and_the_header_counts_them_all(rig: ApiRig):
    await load_contacts(rig.hub, MANY)

    assert len(await home_ids(rig)) == 200
    assert await home_ids(rig, offset=MANY) == []


async def test_pages_follow_the_listings_order_across_linked_unmatched_and_hidden_rows(rig: ApiRig):
    for name in ("Ada", "Bea", "Cy"):
        rig.remote.add("contact", {"Name": name})
    await rig.home(name="Ada")
    await rig.home(name="Dee")
    await rig.home(name="Eve", hidden=True)
    await rig.sync(allow_empty_home=True)
    whole = await rig.standard.get(LINKS, params={"limit": 1000, "show_hidden": "true"})

    pages = [await rig.standard.get(LINKS, params={"limit": 2, "offset": at, "show_hidden": "true"})
             for at in range(0, 6, 2)]

    assert total(whole) == 5 and {total(page) for page in pages} == {5}
    assert [row for page in pages for row in page.json()] == whole.json()
    shown = await rig.standard.get(LINKS, params={"limit": 2})
    assert total(shown) == 4 and len(shown.json()) == 2  # the hidden row is not counted when not shown


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=1001", "limit: 1001 is greater than the maximum of 1000"),
        ("limit=0", "limit: 0 is less than the minimum of 1"),
        ("offset=-1", "offset: -1 is less than the minimum of 0"),
        ("limit=ten", "limit: must be a whole number, got 'ten'"),
    ],
)
async def test_a_page_size_out_of_bounds_is_refused_naming_the_parameter(rig: ApiRig, query: str, message: str):
    response = await rig.standard.get(f"{LINKS}?{query}")
    assert (response.status_code, response.json()) == (400, {"error": message})


async def test_the_openapi_document_describes_limit_offset_and_the_total_header(rig: ApiRig):
    document = (await rig.standard.get("/openapi.json")).json()
    operation = document["paths"]["/api/connections/{name}/links"]["get"]
    params = {param["name"]: param["schema"] for param in operation["parameters"]}
    assert params["limit"] == {"type": "integer", "minimum": 1, "maximum": 1000, "default": 200}
    assert params["offset"] == {"type": "integer", "minimum": 0, "default": 0}
    assert "X-Total-Count" in operation["description"]


# --- hub links -------------------------------------------------------------------------------------------------------


def test_hub_links_lists_every_unmatched_home_record_by_default(capsys, config, remote):
    with_hub(config, lambda opened: load_contacts(opened, MANY))

    status, out, _ = hub_cli(capsys, "links", "mem", "--json")

    assert status == 0 and len(json.loads(out)) == MANY


def test_hub_links_limit_and_offset_show_a_page_and_say_how_many_there_are(capsys, config, remote):
    with_hub(config, lambda opened: load_contacts(opened, 3))

    status, out, _ = hub_cli(capsys, "links", "mem", "--limit", "2")
    assert status == 0 and re.findall(r"Contact \d+", out) == ["Contact 0000", "Contact 0001"]
    assert out.splitlines()[-1] == "showing 2 of 3 rows (1 to 2)"

    _, out, _ = hub_cli(capsys, "links", "mem", "--limit", "2", "--offset", "2")
    assert re.findall(r"Contact \d+", out) == ["Contact 0002"]
    assert out.splitlines()[-1] == "showing 1 of 3 rows (3 to 3)"

    _, out, _ = hub_cli(capsys, "links", "mem", "--offset", "5")
    assert out.splitlines()[-1] == "showing none of 3 rows (--offset 5 is past the end)"


def test_hub_links_says_nothing_more_when_it_shows_every_row(capsys, config, remote):
    with_hub(config, lambda opened: load_contacts(opened, 3))
    _, out, _ = hub_cli(capsys, "links", "mem", "--limit", "3")
    assert "showing" not in out


def test_hub_links_json_keeps_the_page_a_json_array_and_tells_the_count_on_standard_error(capsys, config, remote):
    with_hub(config, lambda opened: load_contacts(opened, 3))

    status, out, err = hub_cli(capsys, "links", "mem", "--json", "--limit", "1", "--offset", "1")

    assert status == 0 and [row["home_name"] for row in json.loads(out)] == ["Contact 0001"]
    assert err == "showing 1 of 3 rows (2 to 2)\n"


def test_hub_links_refuses_a_limit_below_one(capsys, config, remote):
    with pytest.raises(SystemExit) as exit_:
        hub_cli(capsys, "links", "mem", "--limit", "0")
    assert exit_.value.code == 2
    assert "argument --limit: not a whole number of at least 1: '0'" in capsys.readouterr().err

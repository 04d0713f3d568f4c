"""The linked-pairs report opens in a spreadsheet as text: a cell that would start a formula is quoted."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.api_fixtures import ApiRig, open_rig


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[ApiRig]:
    async with open_rig(tmp_path) as opened:
        yield opened


async def test_the_report_quotes_cells_a_spreadsheet_would_run_as_formulas(rig: ApiRig):
    await rig.home(name="=HYPERLINK(\"http://evil.example\",\"Ada\")", email="@ada@home.example", title="-2+3")
    rig.remote.add("contact", {"Name": "=HYPERLINK(\"http://evil.example\",\"Ada\")", "Title": "+1 boss"})
    await rig.sync(entities=["contact"])

    response = await rig.standard.get("/api/connections/mem/report.csv?entity=contact")

    _header, row = list(csv.reader(io.StringIO(response.text)))
    assert row[0] == "'=HYPERLINK(\"http://evil.example\",\"Ada\")"
    assert "'@ada@home.example" in row and "'-2+3" in row
    assert all(not cell.startswith(("=", "+", "-", "@")) for cell in row)


async def test_the_report_leaves_ordinary_cells_as_they_are(rig: ApiRig):
    await rig.home(name="Ada Lovelace", email="ada@home.example", title="Countess")
    rig.remote.add("contact", {"Name": "Ada Lovelace"})
    await rig.sync(entities=["contact"])

    response = await rig.standard.get("/api/connections/mem/report.csv?entity=contact")

    _header, row = list(csv.reader(io.StringIO(response.text)))
    assert row[:3] == ["Ada Lovelace", "ada@home.example", "Countess"]

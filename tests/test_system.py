"""The base class a plugin subclasses: what a method the plugin leaves out does."""

from __future__ import annotations

import httpx
import pytest

from hub.config import Connection
from hub.errors import RecordError
from hub.system import System
from hub.types import RemoteRecord


class Bare(System):
    """A system that implements nothing."""

    name = "bare"
    title = "Bare Books"


async def test_a_system_that_cannot_deactivate_records_says_so_as_one_records_error():
    async with httpx.AsyncClient() as http:
        system = Bare(Connection("bare", "bare"), http)
        with pytest.raises(RecordError, match=r"^Bare Books cannot deactivate customer records \(the plugin does "
                                              r"not implement System\.deactivate\)$"):
            await system.deactivate("customer", RemoteRecord("7", {}, None, "3"))

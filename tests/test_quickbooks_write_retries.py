"""A QuickBooks write whose answer is lost is sent again under the same requestid, so it is done once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from hub.engine import Scope
from tests.quickbooks_fixtures import QboRig, qbo_rig


@pytest.fixture
async def rig() -> AsyncIterator[QboRig]:
    async with qbo_rig() as opened:
        waits: list[float] = []

        async def no_wait(seconds: float) -> None:
            waits.append(seconds)

        opened.system.client.sleep = no_wait
        opened.waits = waits  # type: ignore[attr-defined]
        yield opened


def lose_answers(rig: QboRig, count: int, error: type[httpx.TransportError] = httpx.ReadTimeout) -> None:
    """The next ``count`` writes reach QuickBooks and are done there, but their answers never come back."""
    forward = rig.transport.handle_async_request
    left = [count]

    async def handle(request: httpx.Request) -> httpx.Response:
        response = await forward(request)
        if request.method == "POST" and "/query" not in request.url.path and left[0]:
            left[0] -= 1
            await response.aread()
            raise error("the answer was lost", request=request)
        return response

    rig.transport.handle_async_request = handle  # type: ignore[method-assign]


async def test_a_create_whose_answer_is_lost_creates_exactly_one_customer(rig: QboRig):
    home = await rig.load("customer", "Exported Once Ltd", hidden=False)
    lose_answers(rig, 1)

    result = await rig.sync(Scope(entities=("customer",), record_ids=(home.id,), create_remote=True))

    assert result.status == "success", result.summary
    assert len(rig.remote_named("Customer", "Exported Once Ltd")) == 1
    sent = [call for call in rig.writes() if call.resource == "customer"]
    assert len(sent) == 2 and sent[0].params["requestid"] == sent[1].params["requestid"]
    assert await rig.remote_id(home) == rig.remote_named("Customer", "Exported Once Ltd")[0]["Id"]
    assert rig.waits == [0.5]  # type: ignore[attr-defined]


async def test_an_update_answered_5xx_is_sent_again_under_the_same_requestid(rig: QboRig):
    home = await rig.load("customer", "Flaky Co", hidden=False)
    remote_id = rig.customer("Flaky Co")
    await rig.sync(Scope(entities=("customer",), allow_empty_home=True))
    await rig.edit_at_home(await rig.home(home), notes="called back")
    rig.sim.fail_next(503)

    result = await rig.sync(Scope(entities=("customer",)))

    assert result.status == "success", result.summary
    assert rig.remote("Customer", remote_id)["Notes"] == "called back"
    updates = [call for call in rig.writes() if call.resource == "customer"]
    assert len(updates) == 2 and updates[0].params["requestid"] == updates[1].params["requestid"]


async def test_a_write_still_unanswered_after_its_retries_interrupts_the_run_and_stays_queued(rig: QboRig):
    home = await rig.load("customer", "Down Co", hidden=False)
    rig.customer("Down Co")
    await rig.sync(Scope(entities=("customer",), allow_empty_home=True))
    await rig.edit_at_home(await rig.home(home), notes="later")
    lose_answers(rig, 3, httpx.ConnectError)

    result = await rig.sync(Scope(entities=("customer",)))

    assert result.status == "interrupted"
    updates = [call for call in rig.writes() if call.resource == "customer"]
    assert len(updates) == 3 and len({call.params["requestid"] for call in updates}) == 1
    assert (await rig.home(home)).pending

"""The durable inbox: dedupe on intake, claiming, backoff with jitter, dead letters, replay and recovery."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub import inbox
from hub.errors import HubError
from hub.store import Store, parse_iso
from hub.types import WebhookEvent
from tests.memory_system import T0

BODY = b'{"type": "contact.updated", "data": {"id": "R1"}}'


@pytest.fixture
async def store(tmp_path: Path):
    store = await Store.open(tmp_path / "hub.db")
    yield store
    await store.close()


def event(remote_id: str = "R1", event_id: str | None = "msg_1", entity: str = "contact") -> WebhookEvent:
    return WebhookEvent(entity, remote_id, "updated", event_id=event_id)


async def statuses(store: Store) -> dict[int, str]:
    return {row["id"]: row["status"] for row in await inbox.list_events(store)}


# --- intake: what makes a delivery the same event again -------------------------------------------------------


async def test_a_replayed_delivery_is_accepted_but_stored_once(store: Store):
    assert await inbox.accept(store, "mem", [event()], BODY, at=T0) == (1, 0)
    assert await inbox.accept(store, "mem", [event()], BODY, at=T0 + timedelta(minutes=1)) == (0, 1)
    assert len(await inbox.list_events(store)) == 1


async def test_the_vendors_event_id_decides_sameness_not_the_body(store: Store):
    await inbox.accept(store, "mem", [event(event_id="msg_1")], BODY, at=T0)
    # A redelivery may carry a new timestamp in its body; the vendor's id still says it is the same event.
    assert await inbox.accept(store, "mem", [event(event_id="msg_1")], BODY + b" ", at=T0) == (0, 1)
    assert await inbox.accept(store, "mem", [event(event_id="msg_2")], BODY, at=T0) == (1, 0)


async def test_without_an_event_id_the_body_hash_decides(store: Store):
    other = b'{"type": "contact.updated", "data": {"id": "R2"}}'
    assert await inbox.accept(store, "mem", [event(event_id=None)], BODY, at=T0) == (1, 0)
    assert await inbox.accept(store, "mem", [event(event_id=None)], BODY, at=T0) == (0, 1)
    assert await inbox.accept(store, "mem", [event("R2", event_id=None)], other, at=T0) == (1, 0)


async def finish_all(store: Store, *, at) -> None:
    await inbox.finish(store, [e["id"] for e in await inbox.claim(store, at=at)], at=at)


async def test_a_body_seen_again_after_its_event_was_done_is_a_later_change_and_synced_again(store: Store):
    """Karbon without TimeStamp: a second "Updated" of the same record reads exactly like the first."""
    await inbox.accept(store, "mem", [event(event_id=None)], BODY, at=T0)
    await finish_all(store, at=T0)

    later = T0 + timedelta(minutes=5)
    assert await inbox.accept(store, "mem", [event(event_id=None)], BODY, at=later) == (1, 0)

    (row,) = await inbox.list_events(store)
    assert (row["status"], row["attempts"], row["received_at"]) == ("pending", 0, later.isoformat())
    assert [e["remote_id"] for e in await inbox.claim(store, at=later)] == ["R1"]


async def test_a_vendors_event_id_seen_again_after_it_was_done_is_still_a_replay(store: Store):
    await inbox.accept(store, "mem", [event(event_id="msg_1")], BODY, at=T0)
    await finish_all(store, at=T0)

    assert await inbox.accept(store, "mem", [event(event_id="msg_1")], BODY, at=T0 + timedelta(minutes=5)) == (0, 1)
    assert list((await statuses(store)).values()) == ["done"]


async def test_one_delivery_announcing_several_records_keeps_each(store: Store):
    events = [event("R1", event_id=None), event("R2", event_id=None), event("R1", event_id=None, entity="invoice")]
    assert await inbox.accept(store, "mem", events, BODY, at=T0) == (3, 0)
    assert await inbox.accept(store, "mem", events, BODY, at=T0) == (0, 3)


async def test_the_same_event_id_on_two_connections_is_two_events(store: Store):
    await inbox.accept(store, "one", [event()], BODY, at=T0)
    assert await inbox.accept(store, "two", [event()], BODY, at=T0) == (1, 0)


# --- claiming ---------------------------------------------------------------------------------------------------


async def test_claim_takes_due_events_oldest_first_and_only_once(store: Store):
    for n in range(3):
        await inbox.accept(store, "mem", [event(f"R{n}", f"msg_{n}")], BODY, at=T0)
    first = await inbox.claim(store, at=T0, limit=2)
    assert [e["remote_id"] for e in first] == ["R0", "R1"]
    assert all(e["attempts"] == 1 for e in first)
    second = await inbox.claim(store, at=T0)
    assert [e["remote_id"] for e in second] == ["R2"]
    assert await inbox.claim(store, at=T0) == []


async def test_an_event_waiting_for_its_retry_is_not_claimed_early(store: Store):
    await inbox.accept(store, "mem", [event()], BODY, at=T0)
    claimed = await inbox.claim(store, at=T0)
    await inbox.fail(store, claimed, "boom", at=T0, rng=random.Random(1))
    (row,) = await inbox.list_events(store)
    retry_at = parse_iso(row["next_attempt_at"])
    assert await inbox.claim(store, at=retry_at - timedelta(milliseconds=1)) == []
    assert [e["id"] for e in await inbox.claim(store, at=retry_at)] == [row["id"]]


async def test_released_events_come_back_later_without_spending_an_attempt(store: Store):
    await inbox.accept(store, "mem", [event()], BODY, at=T0)
    (claimed,) = await inbox.claim(store, at=T0)
    await inbox.release(store, [claimed["id"]], at=T0, delay=timedelta(seconds=10))
    assert await inbox.claim(store, at=T0 + timedelta(seconds=9)) == []
    (again,) = await inbox.claim(store, at=T0 + timedelta(seconds=10))
    assert again["attempts"] == 1


async def test_events_a_dead_process_had_claimed_are_pending_again_after_a_restart(store: Store):
    await inbox.accept(store, "mem", [event("R1", "a"), event("R2", "b")], BODY, at=T0)
    await inbox.claim(store, at=T0, limit=1)
    assert sorted((await statuses(store)).values()) == ["claimed", "pending"]
    assert await inbox.recover(store, at=T0 + timedelta(minutes=5)) == 1
    assert set((await statuses(store)).values()) == {"pending"}
    assert len(await inbox.claim(store, at=T0 + timedelta(minutes=5))) == 2


# --- retries, dead letters, replay -------------------------------------------------------------------------------


@given(attempts=st.integers(1, 40), seed=st.integers(0, 2**32))
def test_backoff_doubles_from_five_seconds_up_to_half_an_hour_with_jitter_in_its_upper_half(attempts: int, seed: int):
    ceiling = min(timedelta(minutes=30), timedelta(seconds=5) * 2 ** (attempts - 1))
    delay = inbox.backoff(attempts, random.Random(seed))
    assert ceiling / 2 <= delay <= ceiling


def test_backoff_grows_with_each_attempt_and_jitter_spreads_retries():
    rng = random.Random(7)
    firsts = {inbox.backoff(1, rng) for _ in range(20)}
    assert len(firsts) > 10, "every retry at the same moment would hit the vendor in lockstep"
    worst_of_each = [max(inbox.backoff(n, rng) for _ in range(50)) for n in range(1, 8)]
    assert worst_of_each == sorted(worst_of_each)
    assert worst_of_each[-1] > timedelta(seconds=150)


async def test_a_failing_event_is_retried_then_dead_lettered_with_its_error(store: Store):
    await inbox.accept(store, "mem", [event()], BODY, at=T0)
    now = T0
    rng = random.Random(3)
    for attempt in range(1, inbox.MAX_ATTEMPTS):
        (claimed,) = await inbox.claim(store, at=now)
        assert claimed["attempts"] == attempt
        await inbox.fail(store, [claimed], f"refused {attempt}", at=now, rng=rng)
        (row,) = await inbox.list_events(store)
        assert row["status"] == "pending" and row["last_error"] == f"refused {attempt}"
        wait = parse_iso(row["next_attempt_at"]) - now
        ceiling = min(inbox.MAX_DELAY, inbox.BASE_DELAY * 2 ** (attempt - 1))
        assert ceiling / 2 <= wait <= ceiling
        now += wait
    (last,) = await inbox.claim(store, at=now)
    await inbox.fail(store, [last], "still refused", at=now, rng=rng)
    (dead,) = await inbox.list_events(store, status="dead")
    assert dead["attempts"] == inbox.MAX_ATTEMPTS and dead["last_error"] == "still refused"
    assert await inbox.claim(store, at=now + timedelta(days=1)) == []


async def test_replay_sends_a_dead_event_through_again_with_fresh_attempts(store: Store):
    await inbox.accept(store, "mem", [event()], BODY, at=T0)
    (claimed,) = await inbox.claim(store, at=T0)
    claimed["attempts"] = inbox.MAX_ATTEMPTS
    await inbox.fail(store, [claimed], "gave up", at=T0)
    later = T0 + timedelta(hours=1)
    await inbox.replay(store, claimed["id"], at=later)
    (again,) = await inbox.claim(store, at=later)
    assert again["id"] == claimed["id"] and again["attempts"] == 1


async def test_replay_refuses_an_event_that_is_still_queued_or_unknown(store: Store):
    await inbox.accept(store, "mem", [event()], BODY, at=T0)
    (row,) = await inbox.list_events(store)
    with pytest.raises(HubError, match=f"no dead or finished inbox event {row['id']}"):
        await inbox.replay(store, row["id"], at=T0)
    with pytest.raises(HubError, match="no dead or finished inbox event 999"):
        await inbox.replay(store, 999, at=T0)


async def test_finished_events_are_listed_done_and_filtered_by_status(store: Store):
    await inbox.accept(store, "mem", [event("R1", "a"), event("R2", "b")], BODY, at=T0)
    first, _second = await inbox.claim(store, at=T0)
    await inbox.finish(store, [first["id"]], at=T0)
    assert [r["remote_id"] for r in await inbox.list_events(store, status="done")] == ["R1"]
    assert [r["remote_id"] for r in await inbox.list_events(store, status="claimed")] == ["R2"]
    assert [r["remote_id"] for r in await inbox.list_events(store)] == ["R2", "R1"]


class Fixed(random.Random):
    """A random source that always draws the same number."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


def test_retries_ride_out_an_outage_of_most_of_an_hour_and_give_up_within_two():
    def all_waits(rng: random.Random) -> timedelta:
        return sum((inbox.backoff(n, rng) for n in range(1, inbox.MAX_ATTEMPTS)), timedelta())

    assert all_waits(Fixed(0.0)) >= timedelta(minutes=50)
    assert all_waits(Fixed(1.0)) <= timedelta(hours=2)

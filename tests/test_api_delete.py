"""Deleting a home record, and the unmatched lists after a delink (seed 002: the hub never deletes elsewhere)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.linking import link_by_hand
from tests.api_fixtures import ApiRig, open_rig


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[ApiRig]:
    async with open_rig(tmp_path) as opened:
        yield opened


async def unmatched_remote(rig: ApiRig) -> list[tuple[str, str]]:
    """The remote side of the unmatched list: (remote id, name)."""
    rows = (await rig.admin.get("/api/connections/mem/links?entity=contact&show=unmatched")).json()
    return [(row["remote_id"], row["remote_name"]) for row in rows if row["remote_id"]]


async def test_deleting_a_linked_record_delinks_it_and_keeps_the_remote_record(rig: ApiRig):
    home = await rig.home(name="Ada Lovelace", email="ada@home.example")
    remote_id = rig.remote.add("contact", {"Name": "Ada Lovelace", "Title": "Countess"})
    await rig.sync(entities=["contact"])
    await rig.admin.patch(f"/api/records/{home.id}", json={"fields": {"title": "Dr"}})  # a change still queued

    response = await rig.admin.delete(f"/api/records/{home.id}")

    assert response.status_code == 200, response.text
    assert response.json()["delinked"] == [{"connection": "mem", "entity": "contact", "remote_id": remote_id}]
    assert rig.remote.get("contact", remote_id)["Title"] == "Countess"  # not deleted, not written to
    assert (await rig.admin.get("/api/records?entity=contact")).json() == []
    shown = (await rig.admin.get(f"/api/records/{home.id}")).json()
    assert shown["deleted_at"] and shown["links"] == [] and shown["queued"] == []
    assert await unmatched_remote(rig) == [(remote_id, "Ada Lovelace")]
    # A later sync neither revives the record nor links the remote one to it again.
    await rig.sync(entities=["contact"])
    assert (await rig.admin.get("/api/records?entity=contact")).json() == []
    assert await unmatched_remote(rig) == [(remote_id, "Ada Lovelace")]
    activity = (await rig.admin.get("/api/activity")).json()
    assert any(entry["kind"] == "delete" and entry["actor"] == "ada" for entry in activity)


async def test_deleting_is_for_admins_and_happens_once(rig: ApiRig):
    home = await rig.home(name="Ada")
    refused = await rig.standard.delete(f"/api/records/{home.id}")
    assert refused.status_code == 403
    assert (await rig.admin.delete(f"/api/records/{home.id}")).status_code == 200
    again = await rig.admin.delete(f"/api/records/{home.id}")
    assert (again.status_code, again.json()["error"]) == (404, f"no home record with id {home.id!r}")


async def test_a_pair_delinked_before_its_first_sync_is_listed_by_the_remote_name(rig: ApiRig):
    home = await rig.home(name="Ada Lovelace")
    remote_id = rig.remote.add("contact", {"Name": "A. Lovelace"})
    await rig.sync(entities=["contact"])
    assert await unmatched_remote(rig) == [(remote_id, "A. Lovelace")]
    contract = rig.hub.registry.contracts["memory"].entity("contact")
    # Linked by hand with no sync after it (as `hub link --no-sync` does, or while the system is unreachable).
    await link_by_hand(rig.hub.store, "mem", contract, home.id, remote_id, actor="ada", at=rig.clock())

    assert (await rig.admin.delete(f"/api/connections/mem/links/contact/{home.id}")).status_code == 200

    assert await unmatched_remote(rig) == [(remote_id, "A. Lovelace")]


async def test_a_remote_record_in_review_for_a_deleted_record_no_longer_names_it(rig: ApiRig):
    """Two remote records claim one home record: both wait in review; deleting it leaves them unmatched, saying so."""
    home = await rig.home(name="Acme Pty")
    first = rig.remote.add("contact", {"Name": "Acme Pty"})
    second = rig.remote.add("contact", {"Name": "ACME PTY"})
    await rig.sync(entities=["contact"])
    review = (await rig.admin.get("/api/connections/mem/links?entity=contact&show=review")).json()
    assert {row["remote_id"] for row in review} == {first, second}

    assert (await rig.admin.delete(f"/api/records/{home.id}")).status_code == 200

    assert (await rig.admin.get("/api/connections/mem/links?entity=contact&show=review")).json() == []
    rows = (await rig.admin.get("/api/connections/mem/links?entity=contact&show=unmatched")).json()
    assert {row["remote_id"]: row["reason"] for row in rows if row["remote_id"]} == dict.fromkeys(
        (first, second), "matched home record 'Acme Pty', since deleted in the hub: link it by hand or import it")

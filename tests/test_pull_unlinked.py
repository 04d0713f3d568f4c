"""Seed 003: "Pull current contact" and "Sync current contact" find an unlinked contact in QuickBooks by its exact name.

A home contact listed as unmatched beside a QuickBooks customer of the same name is linked (how "matched", by the
person who asked) and then pulled or synced newest-wins; with no such customer, or several, the answer says what to do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from tests.plugin_api_fixtures import QboApiRig, answer, qbo_api_rig


@pytest.fixture
async def rig() -> AsyncIterator[QboApiRig]:
    async with qbo_api_rig() as opened:
        yield opened


async def unmatched_pair(rig: QboApiRig, name: str, **remote: object) -> tuple[str, str]:
    """A QuickBooks customer the hub listed as unmatched, and a home customer of that name made after the listing."""
    remote_id = rig.customer(name, **remote)
    await rig.sync_now(entities=["customer"])
    home = await rig.load("customer", name, email="home@acme.example", hidden=False)
    assert await rig.remote_id(home) is None
    return home.id, remote_id


async def linked_rows(rig: QboApiRig) -> list[tuple[str, str, str]]:
    """The linked customers as the links listing shows them: home id, remote id, state."""
    return [(row["home_id"], row["remote_id"], row["state"]) for row in await rig.links(show="linked")]


async def test_pull_current_contact_links_the_quickbooks_customer_of_the_same_name_then_pulls_it(rig: QboApiRig):
    home, remote_id = await unmatched_pair(rig, "Acme Ltd", PrimaryEmailAddr={"Address": "books@acme.example"})
    writes = len(rig.writes())

    pulled = answer(await rig.standard.post(f"{rig.at}/records/{home}/pull"))

    assert pulled["status"] == "success"
    assert pulled["linked"] == f"linked: exact name 'Acme Ltd' to qbo customer {remote_id}"
    assert (await rig.get_record(home))["fields"]["email"] == "books@acme.example"
    assert await linked_rows(rig) == [(home, remote_id, "linked (matched)")]
    assert len(rig.writes()) == writes
    activity = answer(await rig.admin.get("/api/activity"))
    assert any(row["actor"] == "sam" and row["kind"] == "link" for row in activity)


async def test_sync_current_contact_links_by_exact_name_then_takes_the_side_changed_last(rig: QboApiRig):
    home, remote_id = await unmatched_pair(rig, "Acme Ltd", Notes="agreed terms")
    rig.clock.advance(minutes=5)
    rig.edit_remote("Customer", remote_id, Notes="changed in QuickBooks")

    synced = answer(await rig.standard.post(f"{rig.at}/records/{home}/newest"))

    assert synced["linked"] == f"linked: exact name 'Acme Ltd' to qbo customer {remote_id}"
    assert (await rig.get_record(home))["fields"]["notes"] == "changed in QuickBooks"
    assert await linked_rows(rig) == [(home, remote_id, "linked (matched)")]


async def test_a_linked_contact_is_pulled_without_saying_it_was_linked(rig: QboApiRig):
    home, _remote_id = await unmatched_pair(rig, "Acme Ltd")
    answer(await rig.standard.post(f"{rig.at}/records/{home}/pull"))

    again = answer(await rig.standard.post(f"{rig.at}/records/{home}/pull"))

    assert "linked" not in again


async def test_pull_of_a_contact_no_quickbooks_customer_is_named_after_says_to_sync_the_list_or_export(
    rig: QboApiRig,
):
    await unmatched_pair(rig, "Acme Ltd")
    home = await rig.load("customer", "Bolt Inc", hidden=False)

    for mode in ("pull", "newest"):
        refused = await rig.standard.post(f"{rig.at}/records/{home.id}/{mode}")
        assert refused.status_code == 409
        assert refused.json()["error"] == (
            "customer 'Bolt Inc' is not linked on qbo, and QuickBooks Online has no customer named 'Bolt Inc' that "
            "is not linked already: export the record to create it"
        )
    assert await linked_rows(rig) == []


async def test_quickbooks_matches_names_with_their_case_so_a_differently_cased_name_is_not_found(rig: QboApiRig):
    await unmatched_pair(rig, "Acme Ltd")
    home = await rig.load("customer", "ACME LTD", hidden=False)

    refused = await rig.standard.post(f"{rig.at}/records/{home.id}/pull")

    assert refused.status_code == 409 and "no QuickBooks Online customer named 'ACME LTD'" in refused.json()["error"]


async def test_pull_of_a_contact_several_quickbooks_customers_are_named_after_points_to_linking_by_hand(
    rig: QboApiRig,
):
    first = rig.customer("Acme Ltd")
    await rig.sync_now(entities=["customer"])
    # QuickBooks keeps names unique, but the hub's list can be older: the first was renamed, a new one took the name,
    # and only the new one has been synced since.
    rig.edit_remote("Customer", first, DisplayName="Acme Old")
    second = rig.customer("Acme Ltd")
    await rig.sync_now(entities=["customer"], remote_ids=[second])
    home = await rig.load("customer", "Acme Ltd", hidden=False)

    refused = await rig.standard.post(f"{rig.at}/records/{home.id}/pull")

    assert refused.status_code == 409
    assert refused.json()["error"] == (
        "customer 'Acme Ltd' is not linked on qbo, and 2 QuickBooks Online customer records are named 'Acme Ltd': "
        "link one by hand"
    )
    assert await linked_rows(rig) == []


async def test_a_contract_that_does_not_match_by_name_still_asks_to_link_or_export(
    rig: QboApiRig, monkeypatch: pytest.MonkeyPatch
):
    contract = rig.hub.registry.contracts["quickbooks"]
    by_email = replace(contract.entity("customer"), match=(
        {"type": "field", "home": "email", "remote": "PrimaryEmailAddr.Address", "case_insensitive": True},
    ))
    monkeypatch.setitem(rig.hub.registry.contracts, "quickbooks",
                        replace(contract, entities={**contract.entities, "customer": by_email}))
    home, _remote_id = await unmatched_pair(rig, "Acme Ltd")

    refused = await rig.standard.post(f"{rig.at}/records/{home}/pull")

    assert refused.status_code == 409
    assert refused.json()["error"] == "customer 'Acme Ltd' is not linked on qbo: link or export it first"
    assert await linked_rows(rig) == []


async def test_a_contact_delinked_from_its_namesake_is_not_linked_to_it_again_by_a_pull(rig: QboApiRig):
    home, remote_id = await unmatched_pair(rig, "Acme Ltd")
    answer(await rig.standard.post(f"{rig.at}/records/{home}/pull"))
    answer(await rig.admin.delete(f"{rig.at}/links/customer/{home}"))

    refused = await rig.standard.post(f"{rig.at}/records/{home}/pull")

    assert refused.status_code == 409
    assert refused.json()["error"] == (
        f"customer 'Acme Ltd' was delinked from QuickBooks Online customer {remote_id}, so matching never joins them "
        "again: link them by hand"
    )
    assert await linked_rows(rig) == []


async def test_a_quickbooks_customer_two_contacts_claim_waits_in_the_review_queue(rig: QboApiRig):
    first = await rig.load("customer", "Acme Ltd", hidden=False)
    await rig.load("customer", "Acme Ltd", hidden=False)
    remote_id = rig.customer("Acme Ltd")
    await rig.sync_now(entities=["customer"])

    refused = await rig.standard.post(f"{rig.at}/records/{first.id}/pull")

    assert refused.status_code == 409
    assert refused.json()["error"] == (
        f"QuickBooks Online customer {remote_id} named 'Acme Ltd' waits in the review queue (several home records "
        "claim it): link one by hand"
    )
    assert await linked_rows(rig) == []

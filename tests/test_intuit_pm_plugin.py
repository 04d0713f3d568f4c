"""The Intuit Practice Management plugin, driven through the hub and engine against the Karbon simulator.

The sync tests follow seed 002 (the hub plays Liscio), one rule each, named after the rule. Every request and
answer passes the Karbon OpenAPI checker; each rig test ends by asserting there was no violation.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from intuit_pm_fixtures import CONNECTION, SIGNING_KEY, KarbonRig, address, karbon_rig

from hub import inbox, outbox
from hub.config import Connection
from hub.engine import Scope
from hub.errors import (
    ConfigError,
    FatalSyncError,
    MalformedPayload,
    RateLimited,
    RecordError,
    RetriableError,
    StaleWrite,
)
from hub.store import iso
from hub.types import PageRequest, RemoteRecord, WebhookEvent
from hub.verifiers import get_verifier
from hub.workers import process_due
from plugins.intuit_pm.cards import changed_card
from plugins.intuit_pm.client import refusal
from plugins.intuit_pm.records import split_name
from plugins.intuit_pm.simulator import ORGANIZATION
from plugins.intuit_pm.system import IntuitPracticeManagement
from plugins.intuit_pm.transforms import KARBON_ADDRESS

HUB_ADDRESS = {"lines": "1 Hub St", "city": "Hubtown", "region": "NSW", "postcode": "2000", "country": "AU"}


@pytest.fixture
async def rig() -> AsyncIterator[KarbonRig]:
    async with karbon_rig() as opened:
        yield opened
        assert opened.violations == []


def ok(result: Any) -> bool:
    """The run went through: nothing failed (records left unmatched or in review count as skipped, not failed)."""
    return result.counts["failed"] == 0 and (result.status == "success" or result.status.endswith("skipped"))


async def items_of(rig: KarbonRig, run_id: int | None) -> list[dict[str, Any]]:
    assert run_id is not None
    return await rig.hub.store.run_items(run_id)


async def linked_account(rig: KarbonRig, **card_fields: Any) -> tuple[Any, str]:
    """A hub account "Acme" and a Karbon "Acme" with the given card, linked by a first sync."""
    home = await rig.load("account", "Acme", phone="555 0100")
    key = rig.seed_org("Acme", **card_fields)
    assert ok(await rig.sync())
    assert await rig.linked_key(home) == key
    return await rig.home(home), key


async def linked_contact(rig: KarbonRig, **card_fields: Any) -> tuple[Any, str]:
    """A hub contact "Ada Lovelace" (title CFO) and a Karbon person of that name, linked by a first sync."""
    home = await rig.load("contact", "Ada Lovelace", title="CFO")
    key = rig.seed_person("Ada", "Lovelace", **card_fields)
    assert ok(await rig.sync())
    assert await rig.linked_key(home) == key
    return await rig.home(home), key


# --- Sync Now: matching -----------------------------------------------------------------------------------------


async def test_sync_now_links_records_whose_names_match_exactly_ignoring_case(rig: KarbonRig):
    acme = await rig.load("account", "Acme Pty")
    ada = await rig.load("contact", "ada lovelace")
    near = await rig.load("account", "Acme")
    acme_key = rig.seed_org("ACME PTY")
    ada_key = rig.seed_person("Ada", "Lovelace")
    longer_key = rig.seed_org("Acme Pty Ltd")

    result = await rig.sync()

    assert ok(result), result.summary
    assert await rig.linked_key(acme) == acme_key
    assert await rig.linked_key(ada) == ada_key
    assert await rig.linked_key(near) != longer_key
    assert [row["remote_id"] for row in await rig.unlinked("account")] == [longer_key]


async def test_names_match_trimmed_with_inner_spaces_collapsed_and_case_folded_but_nothing_else_loosened(
    rig: KarbonRig,
):
    # Deliberate (docs/contracts.md, exact_name): spaces a person cannot see and case are no difference;
    # punctuation and spelling are.
    spaced = await rig.load("account", "Acme Widgets Ltd")
    folded = await rig.load("account", "Straße Bakery")
    hyphen = await rig.load("account", "Bolt Co")
    spaced_key = rig.seed_org("  ACME   Widgets\tLTD ")
    folded_key = rig.seed_org("STRASSE BAKERY")
    hyphen_key = rig.seed_org("Bolt-Co")

    result = await rig.sync()

    assert ok(result), result.summary
    assert await rig.linked_key(spaced) == spaced_key
    assert await rig.linked_key(folded) == folded_key
    assert await rig.linked_key(hyphen) is None
    assert [row["remote_id"] for row in await rig.unlinked("account")] == [hyphen_key]
    reasons = [item["reason"] for item in await items_of(rig, result.run_id)]
    assert any(reason.startswith("linked: exact name 'acme widgets ltd'") for reason in reasons), reasons


async def test_several_records_with_the_same_name_wait_in_the_review_queue_and_nobody_guesses(rig: KarbonRig):
    first = await rig.load("account", "Bolt & Co", phone="111")
    second = await rig.load("account", "BOLT & CO", phone="222")
    key = rig.seed_org("Bolt & Co", WebSites=["bolt.example"])

    result = await rig.sync()

    assert ok(result), result.summary
    [queued] = await rig.unlinked("account")
    assert (queued["remote_id"], sorted(queued["candidates"])) == (key, sorted([first.id, second.id]))
    assert await rig.linked_key(first) is None and await rig.linked_key(second) is None
    assert "website" not in (await rig.home(first)).fields
    assert rig.card_of(key)["PhoneNumbers"] == []
    assert rig.calls("POST") == [] and rig.calls("PUT") == []


# --- what syncs, and what never does ----------------------------------------------------------------------------


async def test_accounts_sync_address_phone_and_website_and_contacts_title_and_primary_email(rig: KarbonRig):
    acme = await rig.load("account", "Acme", email="accounts@hub.example")
    ada = await rig.load("contact", "Ada Lovelace", phone="555 0199")
    org = rig.seed_org(
        "Acme",
        WebSites=["acme.example"],
        PhoneNumbers=[{"Number": "555 0100", "Label": "Work"}],
        Addresses=[address("9 Karbon Rd", "Sydney", StateProvinceCounty="NSW", ZipCode="2000", CountryCode="AU")],
        EmailAddresses=["info@acme.example"],
    )
    person = rig.seed_person(
        "Ada",
        "Lovelace",
        RoleOrTitle="CFO",
        EmailAddresses=["ada@acme.example", "ada@home.example"],
        PhoneNumbers=[{"Number": "555 0111"}],
        WebSites=["ada.example"],
    )

    assert ok(await rig.sync())

    account = (await rig.home(acme)).fields
    assert (account["phone"], account["website"]) == ("555 0100", "acme.example")
    assert account["address"] == {
        "lines": "9 Karbon Rd",
        "city": "Sydney",
        "region": "NSW",
        "postcode": "2000",
        "country": "AU",
    }
    assert account["email"] == "accounts@hub.example"  # an account's email is not a synced field
    contact = (await rig.home(ada)).fields
    assert (contact["title"], contact["email"]) == ("CFO", "ada@acme.example")
    assert "website" not in contact and contact["phone"] == "555 0199"
    assert rig.card_of(org)["EmailAddresses"] == ["info@acme.example"]
    assert [phone["Number"] for phone in rig.card_of(person)["PhoneNumbers"]] == ["555 0111"]


async def test_record_names_are_never_synced_so_different_names_stay_different(rig: KarbonRig):
    acme = await rig.load("account", "acme pty", phone="555 0100")
    key = rig.seed_org("ACME PTY")
    await rig.sync()

    acme = await rig.edit_at_home(acme, name="Acme Pty Limited", phone="555 0101")
    rig.sim.edit("Organizations", key, {"FullName": "Acme Proprietary"})
    result = await rig.sync()

    assert ok(result), result.summary
    assert (await rig.home(acme)).fields["name"] == "Acme Pty Limited"
    assert rig.record(key)["FullName"] == "Acme Proprietary"
    assert rig.card_of(key)["PhoneNumbers"][0]["Number"] == "555 0101"
    assert not [
        call
        for call in rig.calls()
        if call["path"].startswith("/v3/Organizations/") and call["method"] in ("PUT", "PATCH")
    ]


async def test_relationships_are_never_synced_so_a_contacts_account_is_not_sent(rig: KarbonRig):
    acme = await rig.load("account", "Acme")
    ada = await rig.load("contact", "Ada Lovelace", title="CFO", account=acme.id)
    acme_key = rig.seed_org("Acme")
    babbage_key = rig.seed_org("Babbage Ltd")
    ada_key = rig.seed_person("Ada", "Lovelace", OrganizationKey=babbage_key)
    await rig.sync()

    grace = await rig.create_at_home("contact", "Grace Hopper", title="Rear Admiral", account=acme.id)
    assert ok(await rig.sync())

    assert rig.card_of(ada_key)["RoleOrTitle"] == "CFO"
    assert rig.card_of(ada_key)["OrganizationKey"] == babbage_key  # neither replaced by Acme's key nor dropped
    assert (await rig.home(ada)).fields["account"] == acme.id
    grace_key = await rig.linked_key(grace)
    assert grace_key is not None and rig.card_of(grace_key)["OrganizationKey"] is None
    assert acme_key not in json.dumps([call["json"] for call in rig.calls("POST") + rig.calls("PUT")])


# --- the first sync ---------------------------------------------------------------------------------------------


async def test_first_sync_fills_blanks_both_ways_and_the_hub_value_overwrites_karbons(rig: KarbonRig):
    acme = await rig.load("account", "Acme", phone="555 0100", address=HUB_ADDRESS)
    ada = await rig.load("contact", "Ada Lovelace", title="Chief Financial Officer")
    org = rig.seed_org("Acme", WebSites=["acme.example"], Addresses=[address("9 Karbon Rd", "Sydney", Label="Mailing")])
    person = rig.seed_person("Ada", "Lovelace", RoleOrTitle="CFO", EmailAddresses=["ada@acme.example"])

    result = await rig.sync()

    assert ok(result), result.summary
    account = (await rig.home(acme)).fields
    assert (account["phone"], account["website"], account["address"]) == ("555 0100", "acme.example", HUB_ADDRESS)
    card = rig.card_of(org)
    assert [phone["Number"] for phone in card["PhoneNumbers"]] == ["555 0100"]
    assert card["WebSites"] == ["acme.example"]
    assert KARBON_ADDRESS.to_home(card["Addresses"][0]) == HUB_ADDRESS
    assert card["Addresses"][0]["Label"] == "Mailing"  # the address the hub replaced keeps its label
    assert (await rig.home(ada)).fields["email"] == "ada@acme.example"
    assert rig.card_of(person)["RoleOrTitle"] == "Chief Financial Officer"
    reasons = " ".join(item["reason"] for item in await items_of(rig, result.run_id))
    assert "rule fill_blank remote→home" in reasons and "rule overwrite home→remote" in reasons


# --- later syncs ------------------------------------------------------------------------------------------------


async def test_later_sync_makes_no_change_for_a_value_only_karbon_has(rig: KarbonRig):
    acme, key = await linked_account(rig)
    rig.edit_card(key, WebSites=["karbon-only.example"])
    ada, person = await linked_contact(rig)
    rig.edit_card(person, EmailAddresses=["ada@karbon.example"])
    puts = len(rig.calls("PUT"))

    result = await rig.sync()

    assert ok(result), result.summary
    assert "website" not in (await rig.home(acme)).fields
    assert "email" not in (await rig.home(ada)).fields
    assert rig.card_of(key)["WebSites"] == ["karbon-only.example"]
    assert rig.card_of(person)["EmailAddresses"] == ["ada@karbon.example"]
    assert len(rig.calls("PUT")) == puts


async def test_later_sync_writes_a_value_only_the_hub_has_to_karbon(rig: KarbonRig):
    acme, key = await linked_account(rig)
    await rig.edit_at_home(acme, website="hub.example", address=HUB_ADDRESS)

    assert ok(await rig.sync())

    card = rig.card_of(key)
    assert card["WebSites"] == ["hub.example"]
    assert KARBON_ADDRESS.to_home(card["Addresses"][0]) == HUB_ADDRESS
    assert card["Addresses"][0]["Label"] == "Physical"


async def test_later_sync_the_hub_value_overwrites_karbons_when_both_have_one(rig: KarbonRig):
    acme, key = await linked_account(rig)
    ada, person = await linked_contact(rig)
    rig.edit_card(key, PhoneNumbers=[{"Number": "999 9999", "Label": "Work"}])
    rig.edit_card(person, RoleOrTitle="Bookkeeper")
    await rig.edit_at_home(acme, phone="555 0200")
    await rig.edit_at_home(ada, title="Finance Director")

    assert ok(await rig.sync())

    assert rig.card_of(key)["PhoneNumbers"][0] | {"PhoneNumberKey": None} == {
        "Number": "555 0200",
        "Label": "Work",
        "PhoneNumberKey": None,
    }
    assert rig.card_of(person)["RoleOrTitle"] == "Finance Director"
    assert ((await rig.home(acme)).fields["phone"], (await rig.home(ada)).fields["title"]) == (
        "555 0200",
        "Finance Director",
    )


async def test_karbon_edits_to_a_linked_record_are_not_brought_into_the_hub(rig: KarbonRig):
    acme, key = await linked_account(rig, WebSites=["acme.example"])
    ada, person = await linked_contact(rig, EmailAddresses=["ada@acme.example"])
    rig.edit_card(key, WebSites=["changed-in-karbon.example"], PhoneNumbers=[{"Number": "999"}])
    rig.edit_card(person, RoleOrTitle="Changed in Karbon", EmailAddresses=["new@karbon.example"])

    result = await rig.sync()

    assert ok(result), result.summary
    account, contact = (await rig.home(acme)).fields, (await rig.home(ada)).fields
    assert (account["phone"], account["website"]) == ("555 0100", "acme.example")
    assert (contact["title"], contact["email"]) == ("CFO", "ada@acme.example")
    assert not any(
        change["direction"] == "to_home" for item in await items_of(rig, result.run_id) for change in item["changes"]
    )


# --- records created and edited in the hub ----------------------------------------------------------------------


async def test_records_created_in_the_hub_are_created_and_linked_in_karbon_by_the_next_sync(rig: KarbonRig):
    nova = await rig.create_at_home(
        "account", "Nova Ltd", phone="555 0300", website="nova.example", address=HUB_ADDRESS
    )
    grace = await rig.create_at_home(
        "contact", "Grace Brewster Hopper", title="Rear Admiral", email="grace@nova.example"
    )
    cher = await rig.create_at_home("contact", "Cher")

    result = await rig.sync()

    assert ok(result) and result.counts["created"] == 3
    nova_key, grace_key, cher_key = [await rig.linked_key(record) for record in (nova, grace, cher)]
    assert rig.record(nova_key)["FullName"] == "Nova Ltd"
    card = rig.card_of(nova_key)
    assert (card["PhoneNumbers"][0]["Number"], card["WebSites"]) == ("555 0300", ["nova.example"])
    assert KARBON_ADDRESS.to_home(card["Addresses"][0]) == HUB_ADDRESS
    assert (rig.record(grace_key)["FirstName"], rig.record(grace_key)["LastName"]) == ("Grace Brewster", "Hopper")
    assert (rig.card_of(grace_key)["RoleOrTitle"], rig.card_of(grace_key)["EmailAddresses"]) == (
        "Rear Admiral",
        ["grace@nova.example"],
    )
    assert (rig.record(cher_key)["FirstName"], rig.record(cher_key)["LastName"]) == ("Cher", "Cher")
    assert not any([(await rig.home(record)).pending for record in (nova, grace, cher)])
    assert await outbox.entries(rig.hub.store, CONNECTION) == []

    again = await rig.sync()
    assert (again.counts["created"], again.counts["updated"], len(rig.sim.organizations)) == (0, 0, 1)


async def test_edits_to_linked_records_go_through_the_queue_and_wait_while_karbon_is_down(rig: KarbonRig):
    acme, key = await linked_account(rig)
    await rig.edit_at_home(acme, phone="555 0400", website="acme.example")
    rig.sim.fail_next(503, count=3)

    down = await rig.sync()

    assert down.status == "interrupted", down.summary
    assert (await rig.home(acme)).pending
    [entry] = await outbox.entries(rig.hub.store, CONNECTION)
    # The entry stays queued and says it was tried, and why it did not go.
    assert (entry.home_id, entry.attempts) == (acme.id, 1)
    assert entry.last_error is not None and "HTTP 503" in entry.last_error and "tried again" in entry.last_error
    assert rig.card_of(key)["PhoneNumbers"][0]["Number"] == "555 0100"

    rig.sim.failures.clear()
    back = await rig.sync()

    assert ok(back), back.summary
    card = rig.card_of(key)
    assert (card["PhoneNumbers"][0]["Number"], card["WebSites"]) == ("555 0400", ["acme.example"])
    assert not (await rig.home(acme)).pending
    assert await outbox.entries(rig.hub.store, CONNECTION) == []


async def test_a_queued_hub_edit_does_not_hide_a_karbon_edit_to_another_field(rig: KarbonRig):
    acme, key = await linked_account(rig)
    rig.edit_card(key, PhoneNumbers=[])
    await rig.edit_at_home(acme, website="acme.example")

    assert ok(await rig.sync())

    card = rig.card_of(key)
    assert card["WebSites"] == ["acme.example"]
    assert [phone["Number"] for phone in card["PhoneNumbers"]] == ["555 0100"]


# --- records created in Karbon ----------------------------------------------------------------------------------


async def test_a_record_created_in_karbon_shows_up_unmatched_and_create_in_hub_makes_and_links_it(rig: KarbonRig):
    await linked_account(rig)
    zeta = rig.seed_org("Zeta Corp", WebSites=["zeta.example"], PhoneNumbers=[{"Number": "555 0500"}])

    seen = await rig.sync()

    assert ok(seen), seen.summary
    [row] = await rig.unlinked("account")
    assert (row["remote_id"], row["name"]) == (zeta, "Zeta Corp")
    assert row["reason"].startswith("unmatched")
    assert await rig.hub.store.count_records("account") == 1

    created = await rig.sync(Scope(entities=("account",), remote_ids=(zeta,), create_home=True))

    assert ok(created) and created.counts["created"] == 1
    [home] = await rig.hub.store.list_records("account", search="Zeta Corp")
    assert (home.fields["phone"], home.fields["website"]) == ("555 0500", "zeta.example")
    assert await rig.linked_key(home) == zeta
    assert await rig.unlinked("account") == []


async def test_the_first_sync_into_an_empty_hub_is_refused_unless_allowed(rig: KarbonRig):
    key = rig.seed_org("Acme")

    refused = await rig.sync()

    assert refused.status == "refused" and "--allow-empty-home" in refused.summary
    assert rig.calls() == []

    allowed = await rig.sync(Scope(allow_empty_home=True))

    assert ok(allowed), allowed.summary
    assert [row["remote_id"] for row in await rig.unlinked("account")] == [key]
    assert await rig.hub.store.count_records() == 0


async def test_a_first_sync_allowed_into_an_empty_hub_that_paused_goes_on_without_asking_again(rig: KarbonRig):
    acme, zeta = rig.seed_org("Acme"), rig.seed_org("Zeta Corp")
    rig.sim.throttle_next(1)

    paused = await rig.sync(Scope(entities=("account",), allow_empty_home=True))

    assert paused.status.startswith("paused until ")
    rig.clock.advance(11)
    # The person allowed this first sync already: running it again (as hub serve's resume would) goes on with it.
    again = await rig.sync(Scope(entities=("account",)))

    assert ok(again), again.summary
    assert sorted(row["remote_id"] for row in await rig.unlinked("account")) == sorted([acme, zeta])
    assert await rig.hub.store.count_records() == 0


async def test_a_first_sync_refused_or_only_dry_run_into_an_empty_hub_is_still_refused(rig: KarbonRig):
    rig.seed_org("Acme")
    assert (await rig.sync()).status == "refused"
    await rig.sync(Scope(allow_empty_home=True), dry_run=True)

    refused = await rig.sync()

    assert refused.status == "refused" and "--allow-empty-home" in refused.summary


# --- races and limits -------------------------------------------------------------------------------------------


async def test_a_write_that_loses_a_race_is_re_read_and_the_rules_applied_again(rig: KarbonRig):
    ada, person = await linked_contact(rig)
    card_key = rig.card_of(person)["BusinessCardKey"]
    rival = {"RoleOrTitle": "Rival title", "LinkedInLink": "linkedin.com/in/rival"}
    rig.sim.conflict_next(card_key, 1, rival)
    await rig.edit_at_home(ada, title="Chief Hub Officer")

    result = await rig.sync()

    assert ok(result), result.summary
    card = rig.card_of(person)
    assert (card["RoleOrTitle"], card["LinkedInLink"]) == ("Chief Hub Officer", "linkedin.com/in/rival")
    assert [call["status"] for call in rig.calls("PUT")][-2:] == [409, 204]
    assert any("re-read" in item["reason"] for item in await items_of(rig, result.run_id))


async def test_a_429_pauses_the_connection_until_karbon_says_to_retry(rig: KarbonRig):
    await linked_account(rig)
    rig.clock.step = timedelta(0)
    rig.sim.throttle_next(1)
    until = rig.clock.now + timedelta(seconds=10)  # Karbon's Retry-After: 10

    paused = await rig.sync()

    assert paused.status == f"paused until {iso(until)}"
    assert (await rig.hub.store.connection_state(CONNECTION))["paused_until"] == iso(until)
    calls = len(rig.calls())
    state = await rig.hub.store.connection_state(CONNECTION)
    refused = await rig.sync()
    assert refused.status == f"paused until {iso(until)}"
    assert refused.summary == f"{CONNECTION} is paused: {state['pause_reason']}"
    assert len(rig.calls()) == calls
    # The pause stands as it was: its reason is not wrapped again, and the activity log says it once.
    assert await rig.hub.store.connection_state(CONNECTION) == state
    assert [e["kind"] for e in await rig.hub.store.activity(limit=50)].count("paused") == 1

    rig.clock.advance(11)
    assert ok(await rig.sync())


# --- business cards ---------------------------------------------------------------------------------------------


async def test_a_card_put_keeps_everything_the_hub_does_not_manage(rig: KarbonRig):
    extras = {
        "EmailAddresses": ["info@acme.example", "billing@acme.example"],
        "FacebookLink": "facebook.com/acme",
        "LinkedInLink": "linkedin.com/company/acme",
        "TwitterLink": "twitter.com/acme",
        "SkypeLink": "skype.com/acme",
    }
    acme, key = await linked_account(
        rig,
        WebSites=["acme.example", "shop.acme.example"],
        PhoneNumbers=[
            {"Number": "555 0100", "CountryCode": "AU", "Label": "Work"},
            {"Number": "555 0999", "Label": "Fax"},
        ],
        Addresses=[address("9 Karbon Rd", "Sydney", Label="Legal"), address("PO Box 1", "Sydney", Label="Mailing")],
        **extras,
    )
    before = rig.card_of(key)
    await rig.edit_at_home(acme, phone="555 0101", website="www.acme.example", address=HUB_ADDRESS)

    assert ok(await rig.sync())

    after = rig.card_of(key)
    assert {name: after[name] for name in extras} == extras
    assert after["WebSites"] == ["www.acme.example", "shop.acme.example"]
    assert after["PhoneNumbers"] == [before["PhoneNumbers"][0] | {"Number": "555 0101"}, before["PhoneNumbers"][1]]
    assert after["Addresses"][1] == before["Addresses"][1]
    first = after["Addresses"][0]
    assert (first["AddressKey"], first["Label"]) == (before["Addresses"][0]["AddressKey"], "Legal")
    assert KARBON_ADDRESS.to_home(first) == HUB_ADDRESS


async def test_a_karbon_record_without_a_card_gets_one_and_keeps_its_own_fields(rig: KarbonRig):
    acme = await rig.load("account", "Acme", phone="555 0100", website="acme.example")
    fields = {
        "FullName": "Acme",
        "ContactType": "Client",
        "UserDefinedIdentifier": "ACME-1",
        "EntityDescription": {"Text": "Key client since 2019"},
    }
    [key] = rig.sim.seed({"Organizations": [fields]})["Organizations"]

    assert ok(await rig.sync())

    assert await rig.linked_key(acme) == key
    assert rig.record(key) | {"RestrictionLevel": None} == fields | {"RestrictionLevel": None}
    card = rig.card_of(key)
    assert (card["PhoneNumbers"][0]["Number"], card["WebSites"]) == ("555 0100", ["acme.example"])
    assert [call["path"] for call in rig.calls("PUT")] == [f"/v3/Organizations/{key}"]


def test_a_blank_value_removes_only_its_own_entry_from_the_card():
    card = {
        "BusinessCardKey": "K",
        "WebSites": ["a.example", "b.example"],
        "RoleOrTitle": "CFO",
        "PhoneNumbers": [{"Number": "1", "Label": "Work"}, {"Number": "2"}],
    }

    changed = changed_card(
        card,
        {"BusinessCard.WebSites[0]": None, "BusinessCard.PhoneNumbers[0].Number": "", "BusinessCard.RoleOrTitle": None},
    )

    assert changed == {
        "BusinessCardKey": "K",
        "WebSites": ["b.example"],
        "RoleOrTitle": None,
        "PhoneNumbers": [{"Number": "2"}],
    }
    assert card["WebSites"] == ["a.example", "b.example"]


# --- listing ----------------------------------------------------------------------------------------------------


async def test_a_full_listing_follows_next_links_in_name_order_and_proves_what_exists(rig: KarbonRig):
    keys = [rig.seed_org(f"Org {number:03}") for number in range(105)]

    first = await rig.system.list_page(PageRequest("account"))
    second = await rig.system.list_page(PageRequest("account", token=first.next_token))

    assert [record.data["FullName"] for record in first.records] == [f"Org {n:03}" for n in range(100)]
    assert {record.id for record in first.records + second.records} == set(keys)
    assert second.next_token is None and first.enumerates_all and second.enumerates_all
    lists = [call["query"] for call in rig.calls() if call["path"] == "/v3/Organizations"]
    assert lists == ["$top=100&$orderby=FullName", "$top=100&$orderby=FullName&$skip=100"]


async def test_a_listing_during_which_a_record_vanished_does_not_claim_to_be_complete(rig: KarbonRig):
    keys = [rig.seed_org(f"Org {number:03}") for number in range(105)]
    first = await rig.system.list_page(PageRequest("account"))
    rig.sim.delete("Organizations", keys[0])

    second = await rig.system.list_page(PageRequest("account", token=first.next_token))

    assert first.enumerates_all and not second.enumerates_all


async def test_an_incremental_listing_reads_newest_first_and_stops_at_the_first_older_record(rig: KarbonRig):
    old = [rig.seed_org(f"Old {number}") for number in range(5)]
    since = rig.clock()
    rig.edit_card(old[2], WebSites=["fresh.example"])
    new = rig.seed_org("New")

    page = await rig.system.list_page(PageRequest("account", since=since))

    assert [record.id for record in page.records] == [new, old[2]]
    assert (page.next_token, page.enumerates_all) == (None, False)
    details = [call["path"] for call in rig.calls() if call["path"].startswith("/v3/Organizations/")]
    assert details == [f"/v3/Organizations/{new}", f"/v3/Organizations/{old[2]}"]


async def test_a_targeted_pull_reads_each_key_and_reports_a_missing_one_as_deleted(rig: KarbonRig):
    key = rig.seed_org("Acme", WebSites=["acme.example"])

    page = await rig.system.list_page(PageRequest("account", ids=(key, "NoSuchKey12")))

    assert [(record.id, record.deleted) for record in page.records] == [(key, False), ("NoSuchKey12", True)]
    assert page.records[0].data["BusinessCard"]["WebSites"] == ["acme.example"]


# --- webhooks ---------------------------------------------------------------------------------------------------


def _system(handler: Any = None, **secrets: str) -> IntuitPracticeManagement:
    secrets = secrets or {"app_id": "app-guid", "access_key": "jwt", "webhook_signing_key": SIGNING_KEY}
    connection = Connection(CONNECTION, "intuit_pm", secrets=secrets)
    transport = httpx.MockTransport(handler or (lambda request: httpx.Response(500)))
    return IntuitPracticeManagement(connection, httpx.AsyncClient(transport=transport))


def test_a_contact_webhook_becomes_an_account_and_a_contact_event_with_the_bodys_hash_as_id():
    body = (
        b'{"ResourcePermaKey":"kCsVf7svWQw","ResourceType":"Contact","ActionType":"Updated",'
        b'"TimeStamp":"2024-08-01T21:54:36Z"}'
    )

    events = _system().parse_webhook(body, {})

    assert [(e.entity, e.remote_id, e.action) for e in events] == [
        ("account", "kCsVf7svWQw", "updated"),
        ("contact", "kCsVf7svWQw", "updated"),
    ]
    assert {e.event_id for e in events} == {hashlib.sha256(body).hexdigest()}
    assert iso(events[0].occurred_at) == "2024-08-01T21:54:36+00:00"


def test_a_webhook_without_a_timestamp_is_taken_and_other_resource_types_are_ignored():
    system = _system()
    untimed = system.parse_webhook(b'{"ResourcePermaKey":"k1","ResourceType":"Contact","ActionType":"Deleted"}', {})
    work = system.parse_webhook(b'{"ResourcePermaKey":"w1","ResourceType":"Work","ActionType":"Inserted"}', {})

    assert [(e.action, e.occurred_at) for e in untimed] == [("deleted", None), ("deleted", None)]
    # No id of its own: the hub's body key, which a later identical update can use again once this one is done.
    assert {e.event_id for e in untimed} == {None}
    assert work == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"[]", "not an object"),
        (b"{not json", "invalid JSON"),
        (b'{"ResourceType":"Contact","ActionType":"Updated"}', "ResourcePermaKey is missing"),
        (b'{"ResourcePermaKey":7,"ResourceType":"Contact","ActionType":"Updated"}', "ResourcePermaKey must be"),
        (b'{"ResourcePermaKey":"k","ActionType":"Updated"}', "ResourceType is missing"),
        (b'{"ResourcePermaKey":"k","ResourceType":"Contact","ActionType":"Renamed"}', "ActionType 'Renamed'"),
        (
            b'{"ResourcePermaKey":"k","ResourceType":"Contact","ActionType":"Updated","TimeStamp":"soon"}',
            "TimeStamp 'soon'",
        ),
    ],
)
def test_a_malformed_webhook_is_refused_naming_the_problem(body: bytes, problem: str):
    with pytest.raises(MalformedPayload, match=problem):
        _system().parse_webhook(body, {})


async def test_a_signed_karbon_delivery_verifies_and_resolves_to_the_record_it_is_about(rig: KarbonRig):
    received: list[httpx.Request] = []
    rig.sim.webhook_transport = httpx.MockTransport(lambda request: received.append(request) or httpx.Response(200))
    await rig.system.subscribe("https://hub.example/webhooks/karbon")
    key = rig.seed_org("Acme")
    rig.sim.edit("Organizations", key, {"FullName": "Acme Pty"})
    await rig.sim.flush_webhooks(everything=True)

    [delivery] = received
    verifier = get_verifier(rig.hub.registry.contracts["intuit_pm"].webhook_verifier or "")
    verifier.verify(delivery.content, delivery.headers, rig.system.webhook_secrets())
    events = rig.system.parse_webhook(delivery.content, delivery.headers)
    resolved = [kept for event in events for kept in await rig.system.resolve_event(event)]

    assert rig.sim.subscriptions["Contact"].signing_key == SIGNING_KEY
    assert [(event.entity, event.remote_id, event.action) for event in resolved] == [("account", key, "updated")]


async def test_a_webhook_for_a_new_karbon_organization_puts_it_in_the_unmatched_list(rig: KarbonRig):
    await linked_account(rig)
    received: list[httpx.Request] = []
    rig.sim.webhook_transport = httpx.MockTransport(lambda request: received.append(request) or httpx.Response(200))
    await rig.system.subscribe("https://hub.example/webhooks/karbon")
    key = rig.sim.create(ORGANIZATION, {"FullName": "Zeta Corp"}).key  # a Karbon user adds an organization
    await rig.sim.flush_webhooks(everything=True)
    [delivery] = received

    events = rig.system.parse_webhook(delivery.content, delivery.headers)
    assert await inbox.accept(rig.hub.store, CONNECTION, events, delivery.content, at=rig.clock()) == (2, 0)
    assert await inbox.accept(rig.hub.store, CONNECTION, events, delivery.content, at=rig.clock()) == (0, 2)
    await process_due(rig.hub)

    assert [row["remote_id"] for row in await rig.unlinked("account")] == [key]
    assert await rig.unlinked("contact") == []
    assert {event["status"] for event in await inbox.list_events(rig.hub.store)} == {"done"}


async def test_an_event_for_a_key_karbon_no_longer_knows_is_kept_for_both_types(rig: KarbonRig):
    events = [WebhookEvent(entity, "GoneKey12345", "deleted") for entity in ("account", "contact")]

    resolved = [kept for event in events for kept in await rig.system.resolve_event(event)]

    assert resolved == events


# --- auth and errors --------------------------------------------------------------------------------------------


async def test_every_call_carries_the_bearer_app_id_and_the_access_key():
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"value": [], "@odata.count": 0})

    await _system(answer).list_page(PageRequest("contact"))

    [request] = seen
    assert (request.headers["Authorization"], request.headers["AccessKey"]) == ("Bearer app-guid", "jwt")


@pytest.mark.parametrize("missing", ["app_id", "access_key"])
async def test_a_missing_credential_is_a_config_error_naming_the_secret(missing: str):
    secrets = {"app_id": "app-guid", "access_key": "jwt"}
    del secrets[missing]

    with pytest.raises(ConfigError, match=rf"connections\.{CONNECTION}\.secrets\.{missing}"):
        await _system(**secrets).read("account", "k")


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (409, {"error": {"code": "4020", "message": "The resource was modified"}}, StaleWrite, "changed since"),
        (409, {"error": {"code": "4099", "message": "Something else"}}, RecordError, "Something else"),
        (
            400,
            {"error": {"code": "4005", "message": "Required payload data is missing: update"}},
            RecordError,
            "Required payload data is missing",
        ),
        (403, {"error": {"code": "4030", "message": "Not allowed"}}, RecordError, "Not allowed"),
        (429, {"statusCode": "429", "message": "Rate limit is exceeded."}, RateLimited, "rate limit"),
        (401, {"error": {"statusCode": "401", "message": "JWT not present."}}, FatalSyncError, "secrets.access_key"),
        (500, {"error": {"code": "5001", "message": "Internal Error."}}, RetriableError, "Internal Error"),
        (503, "<html>down</html>", RetriableError, "HTTP 503"),
    ],
)
def test_karbon_refusals_become_the_hub_error_that_says_what_to_do(status, body, error, text):
    response = httpx.Response(status, json=body) if isinstance(body, dict) else httpx.Response(status, text=body)

    found = refusal(response, "PUT /v3/BusinessCards/K", CONNECTION)

    assert type(found) is error and text in str(found)


async def test_a_garbage_record_is_a_record_error_and_a_garbage_page_stops_the_run_to_resume_later():
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v3/Organizations":
            return httpx.Response(200, json={"value": [{"FullName": "No key"}]})
        return httpx.Response(200, text="<html>maintenance</html>")

    system = _system(answer)

    with pytest.raises(RecordError, match="not JSON"):
        await system.read("account", "k")
    with pytest.raises(RetriableError, match="lacking a OrganizationKey"):
        await system.list_page(PageRequest("account"))


async def test_a_timeout_is_retriable_and_a_next_link_to_another_host_is_refused():
    def answer(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(RetriableError, match="in time"):
        await _system(answer).update("account", RemoteRecord("k", {}), {"BusinessCard.WebSites[0]": "x"})
    with pytest.raises(FatalSyncError, match="refusing to send the access key"):
        await _system().list_page(PageRequest("account", token="https://evil.example/v3/Organizations?$skip=100"))


# --- names and addresses ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [
        ("Ada Lovelace", "Ada", "Lovelace"),
        ("Grace Brewster  Hopper", "Grace Brewster", "Hopper"),
        ("Cher", "Cher", "Cher"),
        ("  Ada  ", "Ada", "Ada"),
    ],
)
def test_a_contacts_name_is_split_at_its_last_word(name: str, first: str, last: str):
    assert split_name(name) == {"FirstName": first, "LastName": last}


def test_a_blank_contact_name_cannot_be_created():
    with pytest.raises(RecordError, match="name is blank"):
        split_name("   ")


address_parts = st.dictionaries(
    st.sampled_from(["lines", "city", "region", "postcode", "country"]),
    st.text(alphabet="ab1 ", min_size=1, max_size=8).filter(lambda text: text.strip() == text and text != ""),
)


@given(address_parts)
def test_an_address_survives_the_trip_to_karbon_and_back(home: dict[str, str]):
    assert KARBON_ADDRESS.to_home(KARBON_ADDRESS.to_remote(home)) == (home or None)


# --- the seed's rules over random values ------------------------------------------------------------------------

phones = st.sampled_from([None, "555 0100", "555 0200"])
websites = st.sampled_from([None, "a.example", "b.example"])
addresses = st.sampled_from([None, {"lines": "1 Hub St", "city": "Hubtown"}, {"lines": "9 Karbon Rd", "country": "AU"}])
titles = st.sampled_from([None, "CFO", "Partner"])
emails = st.sampled_from([None, "a@x.example", "b@x.example"])
FIELDS = {
    "account": {"phone": phones, "website": websites, "address": addresses},
    "contact": {"title": titles, "email": emails},
}
KEEP = "keep"


def _sides(strategies: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(strategies)


def _edits(strategies: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({name: st.one_of(st.just(KEEP), values) for name, values in strategies.items()})


def _card_fields(entity: str, values: dict[str, Any]) -> dict[str, Any]:
    """Karbon card fields holding the given home-form values (blank ones left empty)."""
    if entity == "account":
        address_value = KARBON_ADDRESS.to_remote(values["address"])
        return {
            "PhoneNumbers": [{"Number": values["phone"]}] if values["phone"] else [],
            "WebSites": [values["website"]] if values["website"] else [],
            "Addresses": [address_value] if address_value else [],
        }
    return {"RoleOrTitle": values["title"], "EmailAddresses": [values["email"]] if values["email"] else []}


def _karbon_values(entity: str, card: dict[str, Any]) -> dict[str, Any]:
    """A Karbon card's synced values in home form (None for blank)."""
    if entity == "account":
        return {
            "phone": (card["PhoneNumbers"] or [{}])[0].get("Number"),
            "website": (card["WebSites"] or [None])[0],
            "address": KARBON_ADDRESS.to_home((card["Addresses"] or [None])[0]),
        }
    return {"title": card["RoleOrTitle"], "email": (card["EmailAddresses"] or [None])[0]}


def _expected_after_first(home: Any, karbon: Any) -> Any:
    return home if home is not None else karbon


CASES = st.sampled_from(["as is", "lower", "upper", "title", "swapcase"])
PAIR_NAMES = {"account": [("Acme Pty",), ("Bolt & Co",)], "contact": [("Ada", "Lovelace"), ("Grace", "Hopper")]}
HOME_ONLY = {"account": ("Home Only Bakery",), "contact": ("Hedy", "Lamarr")}
KARBON_ONLY = {"account": ("Karbon Only Farms",), "contact": ("Katherine", "Johnson")}
UNMANAGED = {
    # What the hub never reads or writes: a second website, phone, address or email, social links, and on an
    # account's card the emails and title, on a contact's its phones, addresses and websites.
    "account": {
        "WebSites": ["second.example"],
        "PhoneNumbers": [{"Number": "555 9999", "Label": "Fax"}],
        "Addresses": [{"AddressLines": "PO Box 7", "City": "Mailtown", "Label": "Mailing"}],
        "EmailAddresses": ["info@org.example"],
        "RoleOrTitle": "Org title",
        "LinkedInLink": "linkedin.com/company/org",
    },
    "contact": {
        "EmailAddresses": ["second@x.example"],
        "PhoneNumbers": [{"Number": "555 7777", "Label": "Mobile"}],
        "Addresses": [{"AddressLines": "1 Home Rd", "Label": "Home"}],
        "WebSites": ["person.example"],
        "TwitterLink": "twitter.com/person",
    },
}
MANAGED_LISTS = {"account": ("WebSites", "PhoneNumbers", "Addresses"), "contact": ("EmailAddresses",)}


def _cased(text: str, case: str) -> str:
    return text if case == "as is" else getattr(text, case)()


def _seeded_card(entity: str, values: dict[str, Any], unmanaged: bool) -> dict[str, Any]:
    """A card with the synced values first in their lists and, if asked, data the hub does not manage after them."""
    fields = _card_fields(entity, values)
    if not unmanaged:
        return fields
    extra = UNMANAGED[entity]
    lists = {name: fields.get(name, []) + extra[name] for name in extra if isinstance(extra[name], list)}
    texts = {name: value for name, value in extra.items() if not isinstance(value, list)}
    return {**fields, **texts, **lists}


CARD_FIELD = {"phone": "PhoneNumbers", "website": "WebSites", "address": "Addresses", "title": "RoleOrTitle",
              "email": "EmailAddresses"}


def _karbon_edit(entity: str, card: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A Karbon user's edit of synced values: the first entry of each list changes, the rest stays as it is."""
    edit = {}
    for name, value in changes.items():
        field = CARD_FIELD[name]
        written = _card_fields(entity, {**dict.fromkeys(FIELDS[entity]), name: value})[field]
        edit[field] = written if field == "RoleOrTitle" else written + card[field][1:]
    return edit


def _unmanaged(entity: str, card: dict[str, Any]) -> dict[str, Any]:
    """A card less the values the hub syncs: the first entry of each synced list, and a contact's title."""
    rest = {name: value for name, value in card.items() if name not in MANAGED_LISTS[entity]}
    rest |= {name: card[name][1:] for name in MANAGED_LISTS[entity]}
    if entity == "contact":
        rest.pop("RoleOrTitle")
    return rest


def _first_entry_identity(card: dict[str, Any], name: str) -> dict[str, Any]:
    """The key and label of a card's first address or phone: a rewrite of its value keeps them."""
    return {k: card[name][0].get(k) for k in ("AddressKey", "PhoneNumberKey", "Label")}


pair = st.fixed_dictionaries(
    {
        "home_case": CASES,
        "karbon_case": CASES,
        "unmanaged": st.booleans(),
        "queued": st.booleans(),
    }
)


def _entity_draws(entity: str) -> st.SearchStrategy[dict[str, Any]]:
    fields = FIELDS[entity]
    one_pair = st.fixed_dictionaries(
        {"home": _sides(fields), "karbon": _sides(fields), "home_edits": _edits(fields),
         "karbon_edits": _edits(fields)}
    ).flatmap(lambda values: pair.map(lambda shape: {**values, **shape}))
    return st.fixed_dictionaries(
        {
            "pairs": st.lists(one_pair, min_size=1, max_size=2),
            "home_only": st.one_of(st.none(), _sides(fields)),
            "karbon_only": st.one_of(st.none(), _sides(fields)),
        }
    )


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(draws=st.fixed_dictionaries({entity: _entity_draws(entity) for entity in FIELDS}))
def test_each_synced_field_holds_what_the_seed_rules_say_after_a_first_and_a_later_sync(draws):
    """For random records on both sides, after a first sync and a later sync with random edits, each field holds
    exactly what the seed's rules say: names matched in any case, records on one side only left alone, hub edits
    queued or found by the sync, and whatever else the Karbon cards hold kept through every PUT."""
    asyncio.run(_round_trip(draws))


class _Pair:
    def __init__(self, entity: str, draw: dict[str, Any], home: Any, key: str) -> None:
        self.entity, self.draw, self.home, self.key = entity, draw, home, key


async def _seed(rig: KarbonRig, entity: str, name: tuple[str, ...], case: str, values: dict[str, Any],
                unmanaged: bool) -> str:
    card_fields = _seeded_card(entity, values, unmanaged)
    if entity == "account":
        return rig.seed_org(_cased(name[0], case), **card_fields)
    return rig.seed_person(_cased(name[0], case), _cased(name[1], case), **card_fields)


async def _load(rig: KarbonRig, entity: str, name: tuple[str, ...], case: str, values: dict[str, Any]) -> Any:
    return await rig.load(entity, _cased(" ".join(name), case), **{k: v for k, v in values.items() if v})


async def _round_trip(draws: dict[str, Any]) -> None:
    async with karbon_rig() as rig:
        pairs: list[_Pair] = []
        loners: list[tuple[Any, dict[str, Any]]] = []
        strangers: dict[str, str] = {}
        for entity, draw in draws.items():
            for index, one in enumerate(draw["pairs"]):
                name = PAIR_NAMES[entity][index]
                home = await _load(rig, entity, name, one["home_case"], one["home"])
                key = await _seed(rig, entity, name, one["karbon_case"], one["karbon"], one["unmanaged"])
                pairs.append(_Pair(entity, one, home, key))
            if draw["home_only"] is not None:
                values = draw["home_only"]
                loners.append((await _load(rig, entity, HOME_ONLY[entity], "as is", values), values))
            if draw["karbon_only"] is not None:
                key = await _seed(rig, entity, KARBON_ONLY[entity], "upper", draw["karbon_only"], True)
                strangers[key] = entity
        seeded_counts = (len(rig.sim.organizations), len(rig.sim.contacts))

        async def sync_and_check(expected: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> None:
            before = {p.key: rig.card_of(p.key) for p in pairs}
            strangers_before = {key: rig.card_of(key) for key in strangers}
            result = await rig.sync()
            assert ok(result), result.summary
            for p in pairs:
                hub_values, karbon_values = expected[p.key]
                assert await rig.linked_key(p.home) == p.key
                stored = (await rig.home(p.home)).fields
                assert {name: stored.get(name) or None for name in FIELDS[p.entity]} == hub_values, p.entity
                after = rig.card_of(p.key)
                assert _karbon_values(p.entity, after) == karbon_values, p.entity
                assert _unmanaged(p.entity, after) == _unmanaged(p.entity, before[p.key]), p.entity
                for name in ("Addresses", "PhoneNumbers"):
                    if before[p.key][name]:
                        assert _first_entry_identity(after, name) == _first_entry_identity(before[p.key], name)
            for home, values in loners:
                stored = await rig.home(home)
                assert await rig.linked_key(home) is None
                assert {k: v for k, v in stored.fields.items() if k in FIELDS[home.entity] and v} == {
                    k: v for k, v in values.items() if v
                }
            for key, entity in strangers.items():
                assert rig.card_of(key) == strangers_before[key]
                assert key in [row["remote_id"] for row in await rig.unlinked(entity)]
            assert (len(rig.sim.organizations), len(rig.sim.contacts)) == seeded_counts
            assert rig.violations == []

        # First sync: a value on one side only fills the other; where both have one, the hub's wins.
        expected = {}
        for p in pairs:
            karbon_now = _karbon_values(p.entity, rig.card_of(p.key))
            first = {name: _expected_after_first(p.draw["home"][name], karbon_now[name]) for name in FIELDS[p.entity]}
            expected[p.key] = (first, first)
        await sync_and_check(expected)

        # Edits on both sides, the hub's queued for Karbon or left for the sync to find.
        for p in pairs:
            hub_now = dict(expected[p.key][0])
            changes = {name: value for name, value in p.draw["home_edits"].items() if value != KEEP}
            if changes:
                await rig.edit_at_home(p.home, queued=p.draw["queued"], **changes)
                hub_now |= changes
            karbon_changes = {name: value for name, value in p.draw["karbon_edits"].items() if value != KEEP}
            if karbon_changes:
                rig.edit_card(p.key, **_karbon_edit(p.entity, rig.card_of(p.key), karbon_changes))
            karbon_now = _karbon_values(p.entity, rig.card_of(p.key))
            # Later: Karbon's values never come in; the hub's, where it has one, overwrite Karbon's.
            later = {name: hub_now[name] if hub_now[name] is not None else karbon_now[name]
                     for name in FIELDS[p.entity]}
            expected[p.key] = (hub_now, later)
        await sync_and_check(expected)

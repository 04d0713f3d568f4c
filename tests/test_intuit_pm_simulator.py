"""The Karbon API v3 simulator answers as Karbon does, and every answer matches KarbonAPI.json."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from karbon_openapi import (
    KARBON_BASE_URL,
    SpecCheckingTransport,
    SpecViolation,
    validate_request,
    validate_response,
    validate_webhook,
)
from starlette.applications import Starlette

from plugins.intuit_pm import simulator
from plugins.intuit_pm.simulator import create_app, karbon_time

AUTH = {"Authorization": "Bearer sim-app-id", "AccessKey": "sim-access-key"}
KEY = re.compile(r"[A-Za-z0-9]{12}")
CONFLICT_BODY = {
    "error": {
        "code": "4020",
        "message": "The resource was modified by another request. Refetch the latest version and retry.",
    }
}
SIGNING_KEY = "hub-signing-key_0123"

ACME = {
    "OrganizationKey": "AcmeOrgKey01",
    "FullName": "Acme Pty",
    "ContactType": "Client",
    "UserDefinedIdentifier": "ACME",
    "BusinessCards": [
        {
            "BusinessCardKey": "AcmeCardKey1",
            "IsPrimaryCard": True,
            "WebSites": ["acme.example", "shop.acme.example"],
            "EmailAddresses": ["info@acme.example"],
            "PhoneNumbers": [{"Number": "5550100", "CountryCode": "US", "Label": "Work"}],
            "Addresses": [
                {
                    "AddressLines": "1 Main St",
                    "City": "Springfield",
                    "StateProvinceCounty": "IL",
                    "ZipCode": "62701",
                    "CountryCode": "US",
                    "Label": "Physical",
                }
            ],
        }
    ],
}
JANE = {
    "ContactKey": "JaneContact1",
    "FirstName": "Jane",
    "LastName": "Smith",
    "PreferredName": "Jay",
    "ContactType": "Client",
    "BusinessCards": [
        {
            "BusinessCardKey": "JaneCardKey1",
            "IsPrimaryCard": True,
            "OrganizationKey": "AcmeOrgKey01",
            "RoleOrTitle": "CFO",
            "EmailAddresses": ["jane@acme.example"],
            "PhoneNumbers": [{"Number": "5550111", "CountryCode": "US", "Label": "Mobile"}],
            "Addresses": [{"AddressLines": "9 Elm Rd", "City": "Springfield", "Label": "Home"}],
        },
        {"BusinessCardKey": "JaneCardKey2", "EmailAddresses": ["jane@home.example"]},
    ],
}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Receiver:
    """The hub's webhook endpoint: records each delivery and answers `status`."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.status = 200

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status)

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(request.content) for request in self.requests]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def app(clock: Clock, receiver: Receiver) -> Starlette:
    return create_app(clock=clock, per_minute=1000, webhook_transport=httpx.MockTransport(receiver))


async def _client(app: Starlette, *, check_requests: bool) -> AsyncIterator[httpx.AsyncClient]:
    transport = SpecCheckingTransport(httpx.ASGITransport(app=app), check_requests=check_requests)
    async with httpx.AsyncClient(transport=transport, base_url=KARBON_BASE_URL, headers=AUTH) as client:
        yield client
    assert transport.violations == []


@pytest.fixture
async def karbon(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose every /v3/ request and response is checked against KarbonAPI.json."""
    async for client in _client(app, check_requests=True):
        yield client


@pytest.fixture
async def lenient(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The same, checking responses only: for requests the spec itself refuses."""
    async for client in _client(app, check_requests=False):
        yield client


async def _seed(client: httpx.AsyncClient, **data: Any) -> dict[str, list[str]]:
    response = await client.post("/_sim/seed", json=data)
    assert response.status_code == 200, response.text
    return response.json()


async def _subscribe(client: httpx.AsyncClient, target: str = "https://hub.example/hooks/karbon") -> None:
    body = {"WebhookType": "Contact", "TargetUrl": target, "SigningKey": SIGNING_KEY}
    response = await client.post("/v3/WebhookSubscriptions", json=body)
    assert response.status_code == 201, response.text


async def _contact(client: httpx.AsyncClient, key: str, expand: bool = True) -> dict[str, Any]:
    params = {"$expand": "BusinessCards"} if expand else {}
    response = await client.get(f"/v3/Contacts/{key}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


# --- auth --------------------------------------------------------------------------------------------


async def test_a_call_without_access_key_is_refused_with_jwt_not_present(lenient: httpx.AsyncClient) -> None:
    response = await lenient.get("/v3/Contacts", headers={"AccessKey": ""})
    assert response.status_code == 401
    assert response.json() == {"error": {"statusCode": "401", "message": "JWT not present."}}


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer someone-else"},
        {"Authorization": "sim-app-id"},
        {"AccessKey": "stolen-key"},
    ],
)
async def test_a_call_with_a_wrong_app_id_or_key_is_refused(
    lenient: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await lenient.get("/v3/Contacts", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["statusCode"] == "401"


async def test_control_routes_need_no_credentials(app: Starlette) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=KARBON_BASE_URL) as anonymous:
        assert (await anonymous.get("/_sim/contacts")).json() == []


# --- create, read, update ----------------------------------------------------------------------------


async def test_creating_a_contact_creates_its_business_cards(karbon: httpx.AsyncClient) -> None:
    body = {
        "FirstName": "Ann",
        "LastName": "Lee",
        "BusinessCards": [{"EmailAddresses": ["ann@x.example"], "PhoneNumbers": [{"Number": "123", "Label": "Work"}]}],
    }
    response = await karbon.post("/v3/Contacts", json=body)
    assert response.status_code == 201
    created = response.json()
    key = created["ContactKey"]
    assert KEY.fullmatch(key)
    assert response.headers["Location"] == f"{KARBON_BASE_URL}/v3/Contacts('{key}')/KarbonService.ContactDTO"
    [card] = created["BusinessCards"]
    assert KEY.fullmatch(card["BusinessCardKey"])
    assert (card["EntityType"], card["EntityKey"], card["IsPrimaryCard"]) == ("Contact", key, True)
    assert card["PhoneNumbers"][0]["Number"] == "123"
    assert (await _contact(karbon, key))["BusinessCards"] == created["BusinessCards"]
    assert "BusinessCards" not in await _contact(karbon, key, expand=False)


@pytest.mark.parametrize(
    ("collection", "body", "payload"),
    [
        ("Contacts", {"FirstName": "Ann"}, "contact"),
        ("Contacts", {"FirstName": "Ann", "LastName": "  "}, "contact"),
        ("Organizations", {"ContactType": "Client"}, "organization"),
    ],
)
async def test_creating_without_the_required_names_is_a_400(
    lenient: httpx.AsyncClient, collection: str, body: dict[str, Any], payload: str
) -> None:
    response = await lenient.post(f"/v3/{collection}", json=body)
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "4005", "message": f"Required payload data is missing: {payload}"}}
    assert (await lenient.get(f"/_sim/{collection.lower()}")).json() == []


async def test_a_second_record_with_the_same_identifier_is_refused(karbon: httpx.AsyncClient) -> None:
    await _seed(karbon, Organizations=[ACME])
    response = await karbon.post("/v3/Organizations", json={"FullName": "Other", "UserDefinedIdentifier": "acme"})
    assert response.status_code == 500
    assert response.json()["error"] == {"code": "5001", "message": "User defined identifier already in use"}


async def test_organization_detail_expands_business_cards(karbon: httpx.AsyncClient) -> None:
    await _seed(karbon, Organizations=[ACME])
    plain = (await karbon.get("/v3/Organizations/AcmeOrgKey01")).json()
    assert "BusinessCards" not in plain
    expanded = (await karbon.get("/v3/Organizations/AcmeOrgKey01", params={"$expand": "BusinessCards"})).json()
    [card] = expanded["BusinessCards"]
    assert card["WebSites"] == ["acme.example", "shop.acme.example"]
    assert card["OrganizationKey"] is None
    assert expanded["FullName"] == "Acme Pty"


async def test_unknown_keys_answer_karbons_404s(lenient: httpx.AsyncClient) -> None:
    contact = await lenient.get("/v3/Contacts/NoSuchKey123")
    assert contact.json() == {"error": {"code": "4004", "message": "No Contact found for provided key"}}
    organization = await lenient.put("/v3/Organizations/NoSuchKey123", json={"FullName": "X"})
    assert organization.status_code == 404
    card = await lenient.get("/v3/BusinessCards/NoSuchKey123")
    assert card.json()["error"]["message"] == "Invalid businessCardPermaKey NoSuchKey123"
    assert (await lenient.patch("/v3/Contacts/NoSuchKey123", json={"FirstName": "X"})).status_code == 404


async def test_a_path_karbon_does_not_have_is_its_no_http_resource_404(app: Starlette) -> None:
    # No operation in the spec to check this against: the body is the spec's HTTP_Resource_Not_Found example.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=KARBON_BASE_URL, headers=AUTH) as client:
        response = await client.delete("/v3/Contacts/JaneContact1")
    assert response.status_code == 404
    uri = f"{KARBON_BASE_URL}/v3/Contacts/JaneContact1"
    assert response.json()["error"] == {
        "code": "4002",
        "message": f"No HTTP resource was found that matches the request URI '{uri}'",
    }


async def test_a_contact_is_found_by_its_user_defined_identifier(karbon: httpx.AsyncClient) -> None:
    await _seed(karbon, Contacts=[JANE | {"UserDefinedIdentifier": "JSMITH"}])
    found = await karbon.get("/v3/Contacts/GetContactByUserDefinedIdentifier(UserDefinedIdentifier='jsmith')")
    assert found.json()["ContactKey"] == "JaneContact1"
    missing = await karbon.get("/v3/Contacts/GetContactByUserDefinedIdentifier(UserDefinedIdentifier='NOPE')")
    assert missing.status_code == 404


async def test_put_replaces_the_fields_and_leaves_cards_alone_when_omitted(
    karbon: httpx.AsyncClient, clock: Clock
) -> None:
    await _seed(karbon, Organizations=[ACME], Contacts=[JANE])
    before = await _contact(karbon, "JaneContact1")
    clock.advance(5)
    response = await karbon.put("/v3/Contacts/JaneContact1", json={"FirstName": "Janet", "LastName": "Smith"})
    assert response.status_code == 204
    after = await _contact(karbon, "JaneContact1")
    assert (after["FirstName"], "PreferredName" in after, "ContactType" in after) == ("Janet", False, False)
    assert after["BusinessCards"] == before["BusinessCards"]
    assert after["LastModifiedDateTime"] == karbon_time(clock.now) != before["LastModifiedDateTime"]


async def test_put_with_business_cards_replaces_the_set_of_cards(karbon: httpx.AsyncClient) -> None:
    await _seed(karbon, Organizations=[ACME], Contacts=[JANE])
    cards = [
        {
            "BusinessCardKey": "JaneCardKey2",
            "EntityType": "Contact",
            "EntityKey": "JaneContact1",
            "IsPrimaryCard": True,
        },
        {"EmailAddresses": ["new@x.example"]},
    ]
    body = {"FirstName": "Jane", "LastName": "Smith", "BusinessCards": cards}
    assert (await karbon.put("/v3/Contacts/JaneContact1", json=body)).status_code == 204
    after = (await _contact(karbon, "JaneContact1"))["BusinessCards"]
    assert [(card["BusinessCardKey"], card["IsPrimaryCard"]) for card in after] == [
        ("JaneCardKey2", True),
        (after[1]["BusinessCardKey"], False),
    ]
    assert after[1]["EmailAddresses"] == ["new@x.example"]
    assert (await karbon.get("/v3/BusinessCards/JaneCardKey1")).status_code == 404


async def test_patch_changes_only_the_fields_karbon_lets_it(karbon: httpx.AsyncClient) -> None:
    await _seed(karbon, Organizations=[ACME], Contacts=[JANE])
    response = await karbon.patch("/v3/Contacts/JaneContact1", json={"Suffix": "Jr.", "PreferredName": "J"})
    assert response.status_code == 200
    assert (response.json()["Suffix"], response.json()["ContactType"]) == ("Jr.", "Client")
    refused = await karbon.patch("/v3/Contacts/JaneContact1", json={"ContactType": "Prospect"})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "4002"
    assert "Only FirstName, MiddleName" in refused.json()["error"]["message"]
    renamed = await karbon.patch("/v3/Organizations/AcmeOrgKey01", json={"FullName": "Acme Inc"})
    assert renamed.json()["FullName"] == "Acme Inc"
    org_refused = await karbon.patch("/v3/Organizations/AcmeOrgKey01", json={"UserDefinedIdentifier": "X"})
    assert org_refused.json()["error"]["message"] == (
        "Invalid property to update. Only FullName and RestrictionLevel can be patched."
    )


async def test_business_card_put_replaces_the_whole_card_and_touches_its_owner(
    karbon: httpx.AsyncClient, clock: Clock
) -> None:
    await _seed(karbon, Organizations=[ACME], Contacts=[JANE])
    clock.advance(30)
    body = {"EntityType": "Contact", "EntityKey": "JaneContact1", "IsPrimaryCard": True, "RoleOrTitle": "CEO"}
    assert (await karbon.put("/v3/BusinessCards/JaneCardKey1", json=body)).status_code == 204
    card = (await karbon.get("/v3/BusinessCards/JaneCardKey1")).json()
    assert card["RoleOrTitle"] == "CEO"
    assert (card["EmailAddresses"], card["PhoneNumbers"], "OrganizationKey" in card) == ([], [], False)
    assert (await _contact(karbon, "JaneContact1"))["LastModifiedDateTime"] == karbon_time(clock.now)


async def test_a_write_that_loses_a_race_is_a_409_and_a_reread_sees_the_winner(karbon: httpx.AsyncClient) -> None:
    await _seed(karbon, Organizations=[ACME], Contacts=[JANE])
    rival = {"key": "JaneContact1", "count": 1, "edit": {"LastName": "Smythe"}}
    assert (await karbon.post("/_sim/conflict", json=rival)).status_code == 200
    body = {"FirstName": "Janet", "LastName": "Smith"}
    lost = await karbon.put("/v3/Contacts/JaneContact1", json=body)
    assert (lost.status_code, lost.json()) == (409, CONFLICT_BODY)
    assert (await _contact(karbon, "JaneContact1"))["LastName"] == "Smythe"
    assert (await karbon.put("/v3/Contacts/JaneContact1", json=body)).status_code == 204


async def test_conflicts_also_hit_patches_and_card_writes(karbon: httpx.AsyncClient) -> None:
    await _seed(karbon, Organizations=[ACME], Contacts=[JANE])
    await karbon.post("/_sim/conflict", json={"key": "AcmeOrgKey01", "count": 2})
    await karbon.post("/_sim/conflict", json={"key": "JaneCardKey1"})
    for _ in range(2):
        assert (await karbon.patch("/v3/Organizations/AcmeOrgKey01", json={"FullName": "A"})).status_code == 409
    assert (await karbon.patch("/v3/Organizations/AcmeOrgKey01", json={"FullName": "A"})).status_code == 200
    assert (await karbon.put("/v3/BusinessCards/JaneCardKey1", json={"IsPrimaryCard": True})).status_code == 409


# --- lists -------------------------------------------------------------------------------------------


async def test_list_items_carry_the_primary_cards_details(karbon: httpx.AsyncClient) -> None:
    await _seed(karbon, Organizations=[ACME], Contacts=[JANE])
    [jane] = (await karbon.get("/v3/Contacts")).json()["value"]
    assert jane["FullName"] == "Jane Smith"
    assert (jane["EmailAddress"], jane["PhoneNumber"], jane["RoleOrTitle"]) == ("jane@acme.example", "5550111", "CFO")
    assert jane["Address"] == "9 Elm Rd, Springfield"
    [acme] = (await karbon.get("/v3/Organizations")).json()["value"]
    assert (acme["OrganizationKey"], acme["Website"], acme["EmailAddress"]) == (
        "AcmeOrgKey01",
        "acme.example",
        "info@acme.example",
    )


async def test_pages_follow_next_link_until_it_is_absent(karbon: httpx.AsyncClient) -> None:
    contacts = [{"FirstName": f"Person{number:03d}", "LastName": "Test"} for number in range(250)]
    await _seed(karbon, Contacts=contacts)
    url: str | None = "/v3/Contacts?$orderby=FullName"
    pages = []
    while url:
        page = (await karbon.get(url)).json()
        assert page["@odata.count"] == 250
        pages.append(page)
        url = page.get("@odata.nextLink")
    assert [len(page["value"]) for page in pages] == [100, 100, 50]
    assert pages[0]["@odata.nextLink"] == f"{KARBON_BASE_URL}/v3/Contacts?$orderby=FullName&$skip=100"
    names = [item["FullName"] for page in pages for item in page["value"]]
    assert names == sorted(f"Person{number:03d} Test" for number in range(250))


async def test_top_above_100_is_refused(karbon: httpx.AsyncClient) -> None:
    response = await karbon.get("/v3/Contacts", params={"$top": "130"})
    assert response.status_code == 400
    assert "The limit of '100' for Top query has been exceeded" in response.json()["error"]["message"]


async def test_top_and_skip_pick_a_page(karbon: httpx.AsyncClient) -> None:
    await _seed(karbon, Contacts=[{"FirstName": name, "LastName": "X"} for name in "ABCDE"])
    page = (await karbon.get("/v3/Contacts", params={"$orderby": "FullName desc", "$top": 2, "$skip": 1})).json()
    assert [item["FullName"] for item in page["value"]] == ["D X", "C X"]
    assert page["@odata.nextLink"].endswith("$top=2&$skip=3")


async def test_orderby_last_modified_desc_puts_the_latest_edit_first(karbon: httpx.AsyncClient, clock: Clock) -> None:
    await _seed(karbon, Organizations=[ACME], Contacts=[JANE, {"FirstName": "Al", "LastName": "B"}])
    clock.advance(60)
    await karbon.post("/_sim/edit/Contacts/JaneContact1", json={"MiddleName": "Q"})
    page = (await karbon.get("/v3/Contacts", params={"$orderby": "LastModifiedDateTime desc"})).json()
    assert [item["FullName"] for item in page["value"]] == ["Jane Q Smith", "Al B"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"$orderby": "ContactType"}, "The property 'ContactType' cannot be used in the $orderby query option."),
        ({"$select": "FullName"}, "Query option '$select' is not allowed."),
        ({"$filter": "Website eq 'x'"}, "Could not find a property named 'Website' on type"),
        ({"$filter": "FullName eq 'a' or FullName eq 'b'"}, "Logical operator 'Or' is not allowed."),
    ],
)
async def test_unsupported_query_options_are_refused(
    lenient: httpx.AsyncClient, options: dict[str, str], message: str
) -> None:
    response = await lenient.get("/v3/Contacts", params=options)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(message)


async def test_filter_combines_eq_contains_and_and(karbon: httpx.AsyncClient) -> None:
    await _seed(karbon, Organizations=[ACME], Contacts=[JANE, {"FirstName": "Janet", "LastName": "Jones"}])
    cases = {
        "FullName eq 'jane smith'": ["Jane Smith"],
        "(contains(FullName, 'Jane'))": ["Jane Smith", "Janet Jones"],
        "EmailAddress eq 'jane@acme.example'": ["Jane Smith"],
        "contains(FullName, 'Jan') and PhoneNumber eq '5550111'": ["Jane Smith"],
        "ContactType eq 'Prospect'": [],
    }
    for expression, names in cases.items():
        page = (await karbon.get("/v3/Contacts", params={"$filter": expression, "$orderby": "FullName"})).json()
        assert [item["FullName"] for item in page["value"]] == names, expression
        assert page["@odata.count"] == len(names)


@settings(max_examples=40, deadline=None)
@given(
    names=st.lists(st.text(alphabet="ab' ", min_size=1, max_size=6).filter(str.strip), min_size=1, max_size=5),
    part=st.text(alphabet="ab'", min_size=1, max_size=3),
)
def test_contains_matches_exactly_the_names_holding_the_text(names: list[str], part: str) -> None:
    async def run() -> None:
        app = create_app()
        app.state.sim.seed({"Organizations": [{"FullName": name} for name in names]})
        quoted = part.replace("'", "''")
        async for client in _client(app, check_requests=True):
            page = (await client.get("/v3/Organizations", params={"$filter": f"contains(FullName, '{quoted}')"})).json()
            found = sorted(item["FullName"] for item in page["value"])
            assert found == sorted(name for name in names if part in name)

    asyncio.run(run())


# --- rate limits and injected failures ---------------------------------------------------------------


async def test_more_than_per_minute_calls_in_a_rolling_minute_are_a_429(clock: Clock) -> None:
    app = create_app(clock=clock, per_minute=3)
    async for client in _client(app, check_requests=True):
        for _ in range(3):
            assert (await client.get("/v3/Contacts")).status_code == 200
            clock.advance(10)
        refused = await client.get("/v3/Contacts")
        assert (refused.status_code, refused.headers["Retry-After"]) == (429, "10")
        assert refused.json() == {"statusCode": "429", "message": "Rate limit is exceeded. Try again in 10 seconds."}
        clock.advance(30)  # the first call is now a minute old
        assert (await client.get("/v3/Contacts")).status_code == 200
        assert (await client.get("/v3/Contacts")).status_code == 429


async def test_throttle_and_fail_force_the_next_answers(karbon: httpx.AsyncClient) -> None:
    await karbon.post("/_sim/throttle", json={"count": 1})
    await karbon.post("/_sim/fail", json={"status": 500, "count": 1})
    await karbon.post("/_sim/fail", json={"status": 503, "count": 1})
    statuses = [(await karbon.get("/v3/Contacts")).status_code for _ in range(4)]
    assert statuses == [429, 500, 503, 200]
    calls = (await karbon.get("/_sim/calls")).json()
    assert [call["status"] for call in calls] == statuses
    assert calls[0]["path"] == "/v3/Contacts"


# --- webhooks ----------------------------------------------------------------------------------------


async def test_a_subscription_is_created_read_and_deleted(karbon: httpx.AsyncClient) -> None:
    await _subscribe(karbon)
    read = await karbon.get("/v3/WebhookSubscriptions/Contact")
    assert (read.json()["TargetUrl"], read.json()["WebhookType"]) == ("https://hub.example/hooks/karbon", "Contact")
    assert "SigningKey" not in read.json()
    again = await karbon.post(
        "/v3/WebhookSubscriptions", json={"WebhookType": "Contact", "TargetUrl": "https://other.example/"}
    )
    assert again.status_code == 400
    assert (await karbon.delete("/v3/WebhookSubscriptions/Contact")).status_code == 204
    gone = await karbon.get("/v3/WebhookSubscriptions/Contact")
    assert gone.json() == {"error": {"code": "4004", "message": "No existing webhook subscription for Contact"}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"WebhookType": "Contact", "TargetUrl": "http://hub.example/k"}, "Target URL must begin with https://"),
        ({"WebhookType": "Contact", "TargetUrl": "HTTPS://hub.example/k"}, "Target URL must begin with https://"),
        ({"WebhookType": "Contact", "TargetUrl": "http://127.0.0.1:8000/k"}, "Target URL must begin with https://"),
        ({"WebhookType": "Contact", "TargetUrl": "https://h.example/", "SigningKey": "short"}, "SigningKey must"),
        ({"WebhookType": "Contact", "TargetUrl": "https://h.example/", "SigningKey": "a" * 15 + "!"}, "SigningKey"),
        ({"WebhookType": "Clients", "TargetUrl": "https://h.example/"}, "No Webhook Type found"),
    ],
)
async def test_bad_subscriptions_are_refused(lenient: httpx.AsyncClient, body: dict[str, Any], message: str) -> None:
    response = await lenient.post("/v3/WebhookSubscriptions", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(message)


async def test_local_http_targets_are_allowed_only_when_asked_for() -> None:
    app = create_app(allow_http_localhost=True)
    async for client in _client(app, check_requests=True):
        await _subscribe(client, "http://127.0.0.1:8000/hooks/karbon")
        await client.delete("/v3/WebhookSubscriptions/Contact")
        await _subscribe(client, "http://localhost/hooks/karbon")
        await client.delete("/v3/WebhookSubscriptions/Contact")
        refused = await client.post(
            "/v3/WebhookSubscriptions", json={"WebhookType": "Contact", "TargetUrl": "http://localhost.evil.example/"}
        )
        assert refused.status_code == 400


async def test_changes_are_coalesced_then_delivered_signed(
    karbon: httpx.AsyncClient, clock: Clock, receiver: Receiver
) -> None:
    await _subscribe(karbon)
    created = (await karbon.post("/v3/Contacts", json={"FirstName": "Ann", "LastName": "Lee"})).json()
    clock.advance(40)
    await karbon.patch(f"/v3/Contacts/{created['ContactKey']}", json={"LastName": "Li"})
    clock.advance(40)  # 80 s after the insert, but only 40 s after the last change
    assert (await karbon.post("/_sim/webhooks/flush")).json()["delivered"] == 0
    clock.advance(20)
    assert (await karbon.post("/_sim/webhooks/flush")).json() == {
        "delivered": 1,
        "failed": 0,
        "cancelled": False,
        "pending": 0,
    }
    [delivery] = receiver.requests
    assert receiver.payloads() == [
        {
            "ResourcePermaKey": created["ContactKey"],
            "ResourceType": "Contact",
            "ActionType": "Inserted",
            "TimeStamp": "2026-11-02T09:00:40Z",
        }
    ]
    expected = hmac.new(SIGNING_KEY.encode(), delivery.content, hashlib.sha256).hexdigest()
    assert delivery.headers["Signature"] == expected
    validate_webhook(delivery)


async def test_organization_and_card_changes_arrive_as_contact_updates(
    karbon: httpx.AsyncClient, receiver: Receiver
) -> None:
    await _seed(karbon, Organizations=[ACME])
    await _subscribe(karbon)
    card = ACME["BusinessCards"][0] | {"PhoneNumbers": [{"Number": "5550199", "Label": "Work"}]}
    assert (await karbon.put("/v3/BusinessCards/AcmeCardKey1", json=card)).status_code == 204
    await karbon.post("/_sim/webhooks/flush", json={"all": True})
    assert [(p["ResourcePermaKey"], p["ResourceType"], p["ActionType"]) for p in receiver.payloads()] == [
        ("AcmeOrgKey01", "Contact", "Updated")
    ]


async def test_an_edit_to_an_unwatched_field_stamps_the_record_but_sends_nothing(
    karbon: httpx.AsyncClient, clock: Clock, receiver: Receiver
) -> None:
    await _seed(karbon, Organizations=[ACME], Contacts=[JANE])
    await _subscribe(karbon)
    clock.advance(5)
    edited = (await karbon.post("/_sim/edit/Contacts/JaneContact1", json={"PreferredName": "JJ"})).json()
    assert edited["LastModifiedDateTime"] == karbon_time(clock.now)
    await karbon.post("/_sim/edit/BusinessCards/JaneCardKey2", json={"EmailAddresses": ["x@y.example"]})
    assert (await karbon.post("/_sim/webhooks/flush", json={"all": True})).json()["delivered"] == 0
    assert receiver.requests == []


async def test_a_karbon_user_delete_sends_deleted(karbon: httpx.AsyncClient, receiver: Receiver) -> None:
    await _seed(karbon, Organizations=[ACME], Contacts=[JANE])
    await _subscribe(karbon)
    await karbon.post("/_sim/edit/Contacts/JaneContact1", json={"LastName": "Smythe"})
    assert (await karbon.post("/_sim/delete/Contacts/JaneContact1")).status_code == 200
    assert (await karbon.get("/v3/BusinessCards/JaneCardKey1")).status_code == 404
    await karbon.post("/_sim/webhooks/flush", json={"all": True})
    assert [payload["ActionType"] for payload in receiver.payloads()] == ["Deleted"]


async def test_changes_before_a_subscription_exists_are_never_sent(
    karbon: httpx.AsyncClient, receiver: Receiver
) -> None:
    await karbon.post("/v3/Organizations", json={"FullName": "Early Bird"})
    await _subscribe(karbon)
    await karbon.post("/_sim/webhooks/flush", json={"all": True})
    assert receiver.requests == []


async def test_ten_failed_deliveries_cancel_the_subscription(karbon: httpx.AsyncClient, receiver: Receiver) -> None:
    await _subscribe(karbon)
    await karbon.post("/v3/Organizations", json={"FullName": "Flaky"})
    receiver.status = 500
    reports = [(await karbon.post("/_sim/webhooks/flush", json={"all": True})).json() for _ in range(10)]
    assert [report["cancelled"] for report in reports] == [False] * 9 + [True]
    assert len(receiver.requests) == 10
    assert (await karbon.get("/v3/WebhookSubscriptions/Contact")).status_code == 404


async def test_a_delivery_that_fails_once_is_retried_on_the_next_flush(
    karbon: httpx.AsyncClient, receiver: Receiver
) -> None:
    await _subscribe(karbon)
    await karbon.post("/v3/Organizations", json={"FullName": "Flaky"})
    receiver.status = 503
    assert (await karbon.post("/_sim/webhooks/flush", json={"all": True})).json()["failed"] == 1
    assert (await karbon.get("/_sim/webhooks")).json()["pending"][0]["Attempts"] == 1
    receiver.status = 200
    assert (await karbon.post("/_sim/webhooks/flush", json={"all": True})).json()["delivered"] == 1
    assert len({request.content for request in receiver.requests}) == 1


# --- control surface ---------------------------------------------------------------------------------


async def test_seed_views_and_reset(karbon: httpx.AsyncClient) -> None:
    keys = await _seed(karbon, Organizations=[ACME], Contacts=[JANE])
    assert keys == {"Organizations": ["AcmeOrgKey01"], "Contacts": ["JaneContact1"]}
    [jane] = (await karbon.get("/_sim/contacts")).json()
    assert [card["BusinessCardKey"] for card in jane["BusinessCards"]] == ["JaneCardKey1", "JaneCardKey2"]
    assert len((await karbon.get("/_sim/organizations")).json()) == 1
    assert len((await karbon.get("/_sim/businesscards")).json()) == 3
    await karbon.get("/v3/Contacts")
    assert len((await karbon.get("/_sim/calls")).json()) == 1
    await karbon.post("/_sim/reset")
    assert (await karbon.get("/_sim/contacts")).json() == []
    assert (await karbon.get("/_sim/calls")).json() == []


async def test_control_routes_name_unknown_keys(karbon: httpx.AsyncClient) -> None:
    await _seed(karbon, Organizations=[ACME])
    assert (await karbon.post("/_sim/edit/Contacts/AcmeOrgKey01", json={"FullName": "X"})).status_code == 404
    assert (await karbon.post("/_sim/conflict", json={"key": "nope"})).status_code == 404
    bad_field = await karbon.post("/_sim/edit/Organizations/AcmeOrgKey01", json={"Colour": "red"})
    assert bad_field.status_code == 400


def test_the_command_line_runs_the_app_under_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr(simulator.uvicorn, "run", lambda app, host, port: served.update(app=app, port=port))
    simulator.main(["--port", "9123", "--per-minute", "7", "--allow-http-localhost"])
    assert served["port"] == 9123
    assert served["app"].state.sim.per_minute == 7
    assert served["app"].state.sim.allow_http_localhost is True


# --- the spec checker itself -------------------------------------------------------------------------


def test_the_spec_checker_refuses_a_request_without_credentials() -> None:
    with pytest.raises(SpecViolation, match="Security"):
        validate_request(httpx.Request("GET", f"{KARBON_BASE_URL}/v3/Contacts"))
    validate_request(httpx.Request("GET", f"{KARBON_BASE_URL}/v3/Contacts?$skip=300", headers=AUTH))


def test_the_spec_checker_refuses_a_list_item_without_its_key() -> None:
    request = httpx.Request("GET", f"{KARBON_BASE_URL}/v3/Contacts", headers=AUTH)
    item = {
        "@odata.type": "#KarbonService.ContactSummaryDTO",
        "FullName": "A",
        "LastModifiedDateTime": "2026-01-01T00:00:00Z",
    }
    body = {"@odata.context": "c", "@odata.count": 1, "value": [item]}
    with pytest.raises(SpecViolation, match="ContactKey"):
        validate_response(httpx.Response(200, json=body, request=request))

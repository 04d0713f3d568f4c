"""The QuickBooks Online simulator answers as QuickBooks Online v3 does, over Intuit's JSON wire format."""

from __future__ import annotations

import asyncio
import base64
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
from starlette.applications import Starlette

from plugins.quickbooks import sim_query
from plugins.quickbooks.sim_entities import ENTITY_TYPES
from plugins.quickbooks.sim_state import QboSimulator
from plugins.quickbooks.sim_wire import QboFault
from plugins.quickbooks.simulator import create_app

REALM = "9341453000000000"
BASE = f"/v3/company/{REALM}"
AUTH = {"Authorization": "Bearer sim-access-token"}
META_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")
ENVELOPE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d")
STALE_FAULT = {
    "Error": [
        {
            "Message": "Stale Object Error",
            "Detail": "Stale Object Error : You and root were working on this at the same time. "
            "root finished before you did, so your work was not saved.",
            "code": "5010",
            "element": "",
        }
    ],
    "type": "ValidationFault",
}
THROTTLE_FAULT = {
    "Error": [
        {
            "Message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
            "Detail": "The request limit was reached.",
            "code": "3001",
        }
    ],
    "type": "SERVICE",
}
INVOICE_LINE = {
    "Amount": 150.0,
    "DetailType": "SalesItemLineDetail",
    "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
}


class Clock:
    """A clock the tests move by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 10, 17, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(clock: Clock) -> Starlette:
    return create_app(clock=clock)


@pytest.fixture
def sim(app: Starlette) -> QboSimulator:
    return app.state.sim


def _client(app: Starlette, headers: dict[str, str] | None = AUTH) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://quickbooks.api.intuit.com", headers=headers
    )


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app) as client:
        yield client


async def post(client: httpx.AsyncClient, entity: str, body: dict[str, Any], **params: str) -> httpx.Response:
    return await client.post(f"{BASE}/{entity}", params={"minorversion": "75", **params}, json=body)


async def create(client: httpx.AsyncClient, entity: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await post(client, entity.lower(), body)
    assert response.status_code == 200, response.text
    return response.json()[entity]


async def query(client: httpx.AsyncClient, statement: str) -> httpx.Response:
    return await client.get(f"{BASE}/query", params={"query": statement, "minorversion": "75"})


def fault_of(response: httpx.Response) -> dict[str, Any]:
    return response.json()["Fault"]["Error"][0]


def sales_account(sim: QboSimulator, name: str = "Sales of Product Income") -> dict[str, Any]:
    """An income account in the company, as the reference an Item carries."""
    (account_id,) = sim.seed({"Account": [{"Name": name, "AccountType": "Income"}]})["Account"]
    return {"IncomeAccountRef": {"value": account_id}}


# --- Authentication and request parameters ---------------------------------------------------------


@pytest.mark.parametrize("headers", [None, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"}])
async def test_a_call_without_a_bearer_token_gets_intuits_authentication_fault(
    app: Starlette, headers: dict[str, str] | None
) -> None:
    async with _client(app, headers) as client:
        response = await client.get(f"{BASE}/customer/1")
    assert response.status_code == 401
    error = response.json()["fault"]["error"][0]
    assert error["message"] == "message=AuthenticationFailed; errorCode=003200; statusCode=401"
    assert error["code"] == "3200"
    assert response.json()["fault"]["type"] == "AUTHENTICATION"


async def test_an_unknown_realm_gets_the_authentication_fault(client: httpx.AsyncClient) -> None:
    response = await client.get("/v3/company/123/customer/1")
    assert response.status_code == 401
    assert response.json()["fault"]["error"][0]["code"] == "3200"


async def test_a_non_integer_minorversion_is_a_400_fault(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{BASE}/query", params={"query": "select * from Customer", "minorversion": "x"})
    assert response.status_code == 400
    assert fault_of(response)["code"] == "2010"
    accepted = await client.get(f"{BASE}/query", params={"query": "select * from Customer", "minorversion": "70"})
    assert accepted.status_code == 200


async def test_an_unknown_resource_is_an_unsupported_operation(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{BASE}/department/1")
    assert response.status_code == 400
    assert fault_of(response)["code"] == "500"
    assert fault_of(response)["Message"] == "Unsupported Operation"


# --- Create, read, update ---------------------------------------------------------------------------


async def test_create_assigns_id_sync_token_and_local_metadata_times(client: httpx.AsyncClient) -> None:
    response = await post(client, "customer", {"DisplayName": "Amy's Bird Sanctuary"})
    assert response.status_code == 200
    assert ENVELOPE_TIME.fullmatch(response.json()["time"])
    customer = response.json()["Customer"]
    assert customer["Id"] == "1"
    assert customer["SyncToken"] == "0"
    assert customer["Active"] is True
    assert customer["FullyQualifiedName"] == "Amy's Bird Sanctuary"
    assert customer["domain"] == "QBO"
    assert customer["MetaData"] == {
        "CreateTime": "2026-03-10T10:00:00-07:00",
        "LastUpdatedTime": "2026-03-10T10:00:00-07:00",
    }


async def test_customers_vendors_and_employees_share_one_id_sequence_and_items_their_own(
    client: httpx.AsyncClient, sim: QboSimulator
) -> None:
    customer = await create(client, "Customer", {"DisplayName": "A"})
    vendor = await create(client, "Vendor", {"DisplayName": "B"})
    item = await create(client, "Item", {"Name": "Consulting", "Type": "Service", **sales_account(sim)})
    assert (customer["Id"], vendor["Id"], item["Id"]) == ("1", "2", "1")


async def test_display_name_is_built_from_name_parts_when_absent(client: httpx.AsyncClient) -> None:
    customer = await create(client, "Customer", {"Title": "Dr", "GivenName": "Ada", "FamilyName": "Lovelace"})
    assert customer["DisplayName"] == "Dr Ada Lovelace"
    response = await post(client, "customer", {"Notes": "no name at all"})
    assert fault_of(response)["code"] == "2020"


async def test_empty_strings_and_nulls_are_not_stored(client: httpx.AsyncClient) -> None:
    customer = await create(
        client, "Customer", {"DisplayName": "Ann", "Notes": "", "Title": None, "BillAddr": {"Line1": ""}}
    )
    assert "Notes" not in customer and "Title" not in customer and "BillAddr" not in customer


async def test_read_returns_the_record_and_an_unknown_id_is_fault_610(client: httpx.AsyncClient) -> None:
    created = await create(client, "Customer", {"DisplayName": "Ann"})
    read = await client.get(f"{BASE}/customer/{created['Id']}", params={"minorversion": "75"})
    assert read.json()["Customer"] == created
    missing = await client.get(f"{BASE}/customer/999")
    assert missing.status_code == 400
    assert fault_of(missing)["code"] == "610"
    assert fault_of(missing)["Message"] == "Object Not Found"


async def test_full_update_clears_omitted_fields_and_bumps_sync_token(client: httpx.AsyncClient, clock: Clock) -> None:
    created = await create(client, "Customer", {"DisplayName": "Ann", "Notes": "VIP", "CompanyName": "Ann Co"})
    clock.advance(minutes=5)
    updated = await create(
        client,
        "Customer",
        {"Id": created["Id"], "SyncToken": created["SyncToken"], "DisplayName": "Ann", "Notes": "new"},
    )
    assert updated["SyncToken"] == "1"
    assert updated["Notes"] == "new"
    assert "CompanyName" not in updated
    assert updated["MetaData"]["CreateTime"] == created["MetaData"]["CreateTime"]
    assert updated["MetaData"]["LastUpdatedTime"] == "2026-03-10T10:05:00-07:00"


async def test_sparse_update_changes_only_the_fields_sent(client: httpx.AsyncClient) -> None:
    created = await create(client, "Customer", {"DisplayName": "Ann", "Notes": "VIP", "CompanyName": "Ann Co"})
    updated = await create(
        client, "Customer", {"Id": created["Id"], "SyncToken": "0", "sparse": True, "Notes": "regular", "Title": ""}
    )
    assert updated["Notes"] == "regular"
    assert updated["CompanyName"] == "Ann Co"
    assert updated["SyncToken"] == "1"


async def test_a_stale_sync_token_is_fault_5010_with_intuits_body(client: httpx.AsyncClient) -> None:
    created = await create(client, "Customer", {"DisplayName": "Ann"})
    await create(client, "Customer", {"Id": created["Id"], "SyncToken": "0", "sparse": True, "Notes": "first"})
    response = await post(client, "customer", {"Id": created["Id"], "SyncToken": "0", "sparse": True, "Notes": "late"})
    assert response.status_code == 400
    assert response.json()["Fault"] == STALE_FAULT
    assert ENVELOPE_TIME.fullmatch(response.json()["time"])


async def test_an_update_without_sync_token_is_a_required_param_fault(client: httpx.AsyncClient) -> None:
    created = await create(client, "Customer", {"DisplayName": "Ann"})
    response = await post(client, "customer", {"Id": created["Id"], "DisplayName": "Ann B"})
    assert fault_of(response)["code"] == "2020"


async def test_display_names_are_unique_across_customers_vendors_and_employees(client: httpx.AsyncClient) -> None:
    customer = await create(client, "Customer", {"DisplayName": "Acme Ltd"})
    for entity in ("vendor", "employee", "customer"):
        response = await post(client, entity, {"DisplayName": " acme ltd "})
        assert response.status_code == 400
        assert fault_of(response)["code"] == "6240"
        assert fault_of(response)["Message"] == "Duplicate Name Exists Error"
        assert fault_of(response)["Detail"].endswith(f"Id={customer['Id']}")


async def test_item_names_are_unique_among_items_only(client: httpx.AsyncClient, sim: QboSimulator) -> None:
    await create(client, "Customer", {"DisplayName": "Audit"})
    account = sales_account(sim)
    item = await create(client, "Item", {"Name": "Audit", **account})
    duplicate = await post(client, "item", {"Name": "AUDIT", **account})
    assert (fault_of(duplicate)["code"], fault_of(duplicate)["Detail"]) == (
        "6240",
        f"The name supplied already exists. : Id={item['Id']}",
    )


async def test_a_renamed_record_frees_its_old_name(client: httpx.AsyncClient) -> None:
    created = await create(client, "Customer", {"DisplayName": "Old Name"})
    await create(client, "Customer", {"Id": created["Id"], "SyncToken": "0", "sparse": True, "DisplayName": "New Name"})
    assert (await post(client, "vendor", {"DisplayName": "Old Name"})).status_code == 200
    assert (await post(client, "vendor", {"DisplayName": "New Name"})).status_code == 400


async def test_an_item_without_an_account_is_refused_with_intuits_fault(client: httpx.AsyncClient) -> None:
    response = await post(client, "item", {"Name": "Consulting", "Type": "Service"})
    assert response.status_code == 400
    assert response.json()["Fault"] == {
        "Error": [
            {
                "Message": "Required param missing, need to supply the required value for the API",
                "Detail": "Required parameter ExpenseAccountRef or IncomeAccountRef is missing in the request",
                "code": "2020",
                "element": "",
            }
        ],
        "type": "ValidationFault",
    }


async def test_an_item_names_an_active_account_and_gets_its_name(client: httpx.AsyncClient, sim: QboSimulator) -> None:
    account = sales_account(sim)
    item = await create(client, "Item", {"Name": "Consulting", "Type": "Service", **account})
    named = {"value": account["IncomeAccountRef"]["value"], "name": "Sales of Product Income"}
    assert item["IncomeAccountRef"] == named
    missing = await post(client, "item", {"Name": "Audit", "IncomeAccountRef": {"value": "99"}})
    assert (fault_of(missing)["code"], fault_of(missing)["element"]) == ("2500", "IncomeAccountRef")


async def test_an_inventory_item_needs_its_asset_and_cost_accounts_and_a_start(
    client: httpx.AsyncClient, sim: QboSimulator
) -> None:
    accounts = {
        **sales_account(sim),
        "ExpenseAccountRef": sales_account(sim, "Cost of Goods Sold")["IncomeAccountRef"],
        "AssetAccountRef": sales_account(sim, "Inventory Asset")["IncomeAccountRef"],
    }
    stock = {"TrackQtyOnHand": True, "QtyOnHand": 0, "InvStartDate": "2026-03-10"}
    without_asset = {key: value for key, value in accounts.items() if key != "AssetAccountRef"}
    refused = await post(client, "item", {"Name": "Bolt", "Type": "Inventory", **without_asset, **stock})
    assert fault_of(refused)["Detail"] == "Required parameter AssetAccountRef is missing in the request"
    item = await create(client, "Item", {"Name": "Bolt", "Type": "Inventory", **accounts, **stock})
    assert item["AssetAccountRef"]["name"] == "Inventory Asset"


@pytest.mark.parametrize("name", ["Acme: East", "Acme\tEast", "Acme\nEast"])
async def test_names_with_colon_tab_or_newline_are_refused(client: httpx.AsyncClient, name: str) -> None:
    for entity, field in (("customer", "DisplayName"), ("vendor", "GivenName"), ("item", "Name")):
        response = await post(client, entity, {field: name})
        assert response.status_code == 400
        assert response.json()["Fault"]["type"] == "ValidationFault"


@given(st.text(alphabet=st.characters(blacklist_characters="@,"), max_size=30))
@settings(max_examples=50)
def test_an_email_without_an_at_sign_is_refused(address: str) -> None:
    sim = QboSimulator()
    body = {"DisplayName": "X", "PrimaryEmailAddr": {"Address": address + "x"}}
    with pytest.raises(QboFault, match="Invalid Email Address format"):
        sim.create(sim.realm(), ENTITY_TYPES["Customer"], body)


async def test_an_email_needs_a_dot_in_its_domain(client: httpx.AsyncClient) -> None:
    refused = await post(client, "customer", {"DisplayName": "A", "PrimaryEmailAddr": {"Address": "ann@localhost"}})
    assert refused.status_code == 400
    assert refused.json()["Fault"]["type"] == "ValidationFault"
    accepted = await post(client, "customer", {"DisplayName": "A", "PrimaryEmailAddr": {"Address": "ann@example.com"}})
    assert accepted.status_code == 200


async def test_a_field_the_entity_does_not_have_is_fault_2010(client: httpx.AsyncClient) -> None:
    response = await post(client, "customer", {"DisplayName": "Ann", "EmailAddress": "ann@example.com"})
    assert fault_of(response)["code"] == "2010"
    assert 'Unrecognized field "EmailAddress"' in fault_of(response)["Detail"]


async def test_a_malformed_body_is_fault_2010(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{BASE}/customer", content=b"{not json", headers={"content-type": "application/json"})
    assert fault_of(response)["code"] == "2010"


async def test_a_sub_customer_gets_a_colon_joined_full_name_and_level(client: httpx.AsyncClient) -> None:
    parent = await create(client, "Customer", {"DisplayName": "Smith"})
    job = await create(client, "Customer", {"DisplayName": "Smith kitchen", "ParentRef": {"value": parent["Id"]}})
    assert job["FullyQualifiedName"] == "Smith:Smith kitchen"
    assert (job["Job"], job["Level"]) == (True, 1)
    missing = await post(client, "customer", {"DisplayName": "Orphan", "ParentRef": {"value": "99"}})
    assert fault_of(missing)["code"] == "2500"


# --- Deactivation and deletion ----------------------------------------------------------------------


async def test_list_entities_cannot_be_deleted_only_deactivated(client: httpx.AsyncClient) -> None:
    created = await create(client, "Customer", {"DisplayName": "Ann"})
    refused = await post(client, "customer", {"Id": created["Id"], "SyncToken": "0"}, operation="delete")
    assert refused.status_code == 400
    assert fault_of(refused)["code"] == "500"
    inactive = await create(
        client, "Customer", {"Id": created["Id"], "SyncToken": "0", "sparse": True, "Active": False}
    )
    assert inactive["Active"] is False


async def test_deleting_an_invoice_leaves_a_deleted_marker_for_cdc(client: httpx.AsyncClient, clock: Clock) -> None:
    customer = await create(client, "Customer", {"DisplayName": "Ann"})
    invoice = await create(client, "Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [INVOICE_LINE]})
    stale = await post(client, "invoice", {"Id": invoice["Id"], "SyncToken": "7"}, operation="delete")
    assert stale.json()["Fault"] == STALE_FAULT
    clock.advance(minutes=1)
    deleted = await post(client, "invoice", {"Id": invoice["Id"], "SyncToken": "0"}, operation="delete")
    assert deleted.json()["Invoice"] == {"status": "Deleted", "domain": "QBO", "Id": invoice["Id"]}
    assert fault_of(await client.get(f"{BASE}/invoice/{invoice['Id']}"))["code"] == "610"
    assert (await query(client, "select * from Invoice")).json()["QueryResponse"] == {}
    cdc = await client.get(f"{BASE}/cdc", params={"entities": "Invoice", "changedSince": "2026-03-10T10:00:30-07:00"})
    (marker,) = cdc.json()["CDCResponse"][0]["QueryResponse"][0]["Invoice"]
    assert marker == {
        "domain": "QBO",
        "status": "Deleted",
        "Id": invoice["Id"],
        "MetaData": {"LastUpdatedTime": "2026-03-10T10:01:00-07:00"},
    }


async def test_an_invoice_needs_a_live_customer_and_gets_totals_and_a_number(client: httpx.AsyncClient) -> None:
    assert fault_of(await post(client, "invoice", {"Line": [INVOICE_LINE]}))["code"] == "2020"
    bad_ref = await post(client, "invoice", {"CustomerRef": {"value": "42"}, "Line": [INVOICE_LINE]})
    assert fault_of(bad_ref)["code"] == "2500"
    customer = await create(client, "Customer", {"DisplayName": "Ann"})
    discount = {"Amount": 15.0, "DetailType": "DiscountLineDetail", "DiscountLineDetail": {"PercentBased": False}}
    invoice = await create(
        client, "Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [INVOICE_LINE, discount]}
    )
    assert invoice["CustomerRef"] == {"value": customer["Id"], "name": "Ann"}
    assert (invoice["TotalAmt"], invoice["Balance"]) == (135.0, 135.0)
    assert invoice["DocNumber"] == "1001"
    assert invoice["TxnDate"] == "2026-03-10"
    assert [line["Id"] for line in invoice["Line"]] == ["1", "2"]


async def test_a_bill_needs_a_vendor(client: httpx.AsyncClient) -> None:
    line = {"Amount": 20.0, "DetailType": "AccountBasedExpenseLineDetail", "AccountBasedExpenseLineDetail": {}}
    assert fault_of(await post(client, "bill", {"Line": [line]}))["code"] == "2020"
    vendor = await create(client, "Vendor", {"DisplayName": "Paper Co"})
    bill = await create(client, "Bill", {"VendorRef": {"value": vendor["Id"]}, "Line": [line]})
    assert bill["TotalAmt"] == 20.0


# --- Query ------------------------------------------------------------------------------------------


async def seed_people(sim: QboSimulator, count: int = 5) -> None:
    sim.seed(
        {
            "Customer": [
                {
                    "DisplayName": f"Person {n}",
                    "CompanyName": f"Firm {n % 2}",
                    "Active": n != 3,
                    "MetaData": {"LastUpdatedTime": f"2026-03-0{n}T12:00:00-07:00"},
                }
                for n in range(1, count + 1)
            ]
        }
    )


async def test_query_by_get_and_by_post_as_application_text(client: httpx.AsyncClient, sim: QboSimulator) -> None:
    await seed_people(sim)
    by_get = await query(client, "SELECT * FROM Customer WHERE CompanyName = 'Firm 1'")
    by_post = await client.post(
        f"{BASE}/query",
        params={"minorversion": "75"},
        content=b"select * from Customer where CompanyName = 'Firm 1'",
        headers={"Content-Type": "application/text"},
    )
    assert by_get.json()["QueryResponse"] == by_post.json()["QueryResponse"]
    assert by_get.json()["QueryResponse"] == {
        "Customer": by_get.json()["QueryResponse"]["Customer"],
        "startPosition": 1,
        "maxResults": 2,
    }
    assert [row["DisplayName"] for row in by_get.json()["QueryResponse"]["Customer"]] == ["Person 1", "Person 5"]


@pytest.mark.parametrize(
    ("where", "names"),
    [
        ("DisplayName = 'person 2'", ["Person 2"]),
        ("DisplayName IN ('Person 1', 'Person 4', 'Nobody')", ["Person 1", "Person 4"]),
        ("DisplayName LIKE 'Person%'", ["Person 1", "Person 2", "Person 4", "Person 5"]),
        ("DisplayName LIKE '%son 5'", ["Person 5"]),
        ("MetaData.LastUpdatedTime > '2026-03-02T12:00:00-07:00'", ["Person 4", "Person 5"]),
        ("Metadata.LastUpdatedTime >= '2026-03-02T19:00:00Z'", ["Person 2", "Person 4", "Person 5"]),
        ("MetaData.LastUpdatedTime < '2026-03-02'", ["Person 1"]),
        ("MetaData.LastUpdatedTime <= '2026-03-02T12:00:00'", ["Person 1", "Person 2"]),
        ("Id > '3'", ["Person 4", "Person 5"]),
        ("Active = false", ["Person 3"]),
        ("Active IN (true, false) AND CompanyName = 'Firm 1'", ["Person 1", "Person 3", "Person 5"]),
    ],
)
async def test_query_operators(client: httpx.AsyncClient, sim: QboSimulator, where: str, names: list[str]) -> None:
    await seed_people(sim)
    response = await query(client, f"select * from Customer where {where}")
    assert response.status_code == 200, response.text
    rows = response.json()["QueryResponse"].get("Customer", [])
    assert [row["DisplayName"] for row in rows] == names


@pytest.mark.parametrize(
    ("where", "names"),
    [
        ("Id IN ('4', '2', '99')", ["Person 2", "Person 4"]),
        ("Id IN ('002', 5)", ["Person 2", "Person 5"]),
        ("Id = '3'", []),
        ("Id IN ('1', '3', '5') AND Active IN (true, false)", ["Person 1", "Person 3", "Person 5"]),
        ("Id IN ('1', '2', '5') AND CompanyName = 'Firm 1'", ["Person 1", "Person 5"]),
        ("Id IN ('1', '2', '5') ORDERBY DisplayName DESC", ["Person 5", "Person 2", "Person 1"]),
    ],
)
async def test_a_query_by_id_finds_the_ids_named_and_applies_the_other_conditions(
    client: httpx.AsyncClient, sim: QboSimulator, where: str, names: list[str]
) -> None:
    await seed_people(sim)
    response = await query(client, f"select * from Customer where {where}")
    assert response.status_code == 200, response.text
    assert [row["DisplayName"] for row in response.json()["QueryResponse"].get("Customer", [])] == names


async def test_a_query_by_id_reads_only_the_records_it_names(
    client: httpx.AsyncClient, sim: QboSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim.seed({"Customer": [{"DisplayName": f"C{n:04}"} for n in range(1, 2001)]})
    reads = 0
    real_resolve = sim_query.resolve

    def counting_resolve(data: dict[str, Any], path: tuple[str, ...]) -> Any:
        nonlocal reads
        reads += 1
        return real_resolve(data, path)

    monkeypatch.setattr(sim_query, "resolve", counting_resolve)
    response = await query(client, "select * from Customer where Id IN ('1999', '7', '1200')")
    assert [row["DisplayName"] for row in response.json()["QueryResponse"]["Customer"]] == ["C0007", "C1200", "C1999"]
    # The three records named, each tested against the three Ids and the implicit Active = true: not 2,000 of them.
    assert reads <= 3 * (3 + 1)


async def test_inactive_records_are_left_out_unless_the_query_mentions_active(
    client: httpx.AsyncClient, sim: QboSimulator
) -> None:
    await seed_people(sim)
    everyone = await query(client, "select count(*) from Customer")
    assert everyone.json()["QueryResponse"] == {"totalCount": 4}
    with_inactive = await query(client, "SELECT COUNT(*) FROM Customer WHERE Active IN (true, false)")
    assert with_inactive.json()["QueryResponse"] == {"totalCount": 5}


async def test_order_by_in_both_spellings_and_directions(client: httpx.AsyncClient, sim: QboSimulator) -> None:
    await seed_people(sim)
    for clause in ("ORDER BY DisplayName DESC", "orderby DisplayName desc", "ORDERBY CompanyName, DisplayName DESC"):
        response = await query(client, f"select * from Customer {clause}")
        names = [row["DisplayName"] for row in response.json()["QueryResponse"]["Customer"]]
        expected = (
            ["Person 4", "Person 2", "Person 5", "Person 1"]
            if "," in clause
            else ["Person 5", "Person 4", "Person 2", "Person 1"]
        )
        assert names == expected


async def test_paging_with_startposition_and_maxresults(client: httpx.AsyncClient, sim: QboSimulator) -> None:
    sim.seed({"Customer": [{"DisplayName": f"C{n:04}"} for n in range(1, 1201)]})
    first = (await query(client, "select * from Customer")).json()["QueryResponse"]
    assert (first["startPosition"], first["maxResults"], first["Customer"][0]["DisplayName"]) == (1, 100, "C0001")
    capped = (await query(client, "select * from Customer MAXRESULTS 5000")).json()["QueryResponse"]
    assert capped["maxResults"] == 1000
    page = (await query(client, "select * from Customer STARTPOSITION 1101 MAXRESULTS 50")).json()["QueryResponse"]
    assert (page["startPosition"], page["maxResults"], page["Customer"][0]["DisplayName"]) == (1101, 50, "C1101")
    past_the_end = await query(client, "select * from Customer STARTPOSITION 1201")
    assert past_the_end.json()["QueryResponse"] == {}


@pytest.mark.parametrize(
    "statement",
    [
        "select * from Customer where DisplayName = 'a' OR DisplayName = 'b'",
        "select * from Customer group by CompanyName",
        "select * from Customer join Vendor",
        "select DisplayName from Customer",
        "select * from Customer where DisplayName != 'a'",
        "select * from Customer where",
        'select * from Customer where DisplayName = "a"',
        "delete from Customer",
        "",
    ],
)
async def test_unsupported_query_syntax_is_a_query_parser_error(client: httpx.AsyncClient, statement: str) -> None:
    response = await query(client, statement)
    assert response.status_code == 400
    assert fault_of(response)["code"] == "4000"
    assert fault_of(response)["Detail"].startswith("QueryParserError: ")


async def test_the_entity_name_is_case_sensitive(client: httpx.AsyncClient) -> None:
    response = await query(client, "select * from customer")
    assert response.status_code == 400
    assert fault_of(response)["code"] == "4001"


@pytest.mark.parametrize(
    "statement",
    ["select * from Customer where Nickname = 'a'", "select * from Customer order by Nickname"],
)
async def test_a_property_the_entity_lacks_is_a_query_validation_error(
    client: httpx.AsyncClient, statement: str
) -> None:
    response = await query(client, statement)
    assert response.status_code == 400
    assert fault_of(response) == {
        "Message": "Invalid query",
        "Detail": "QueryValidationError: Property Nickname not found for Entity Customer",
        "code": "4001",
    }


async def test_item_query_accepts_the_extra_sku_column_python_quickbooks_sends(
    client: httpx.AsyncClient, sim: QboSimulator
) -> None:
    await create(client, "Item", {"Name": "Audit", "Sku": "A-1", **sales_account(sim)})
    response = await query(client, "SELECT *, Sku FROM Item MAXRESULTS 100")
    assert response.json()["QueryResponse"]["Item"][0]["Sku"] == "A-1"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40))
@settings(max_examples=60)
def test_any_display_name_can_be_found_by_an_escaped_literal(name: str) -> None:
    name = name.replace(":", "").strip() or "x"
    sim = QboSimulator()
    sim.seed({"Customer": [{"DisplayName": name}, {"DisplayName": name + " other"}]})
    literal = name.replace("\\", "\\\\").replace("'", "\\'")
    found = sim.query(sim.realm(), f"select * from Customer where DisplayName = '{literal}'")
    assert [row["DisplayName"] for row in found["Customer"]] == [name]


@given(
    updates=st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=60),
    page_size=st.integers(min_value=1, max_value=25),
    order=st.sampled_from(["", " ORDERBY MetaData.LastUpdatedTime", " ORDER BY DisplayName DESC"]),
)
@settings(max_examples=40, deadline=None)
def test_paging_visits_every_record_once_in_the_unpaged_order(updates: list[int], page_size: int, order: str) -> None:
    sim = QboSimulator()
    start = datetime(2026, 3, 1, tzinfo=UTC)
    sim.seed(
        {
            "Customer": [
                {
                    "DisplayName": f"C{index}",
                    "MetaData": {"LastUpdatedTime": (start + timedelta(minutes=m)).isoformat()},
                }
                for index, m in enumerate(updates)
            ]
        }
    )
    statement = f"select * from Customer where MetaData.LastUpdatedTime > '2026-02-01'{order}"
    everything = sim.query(sim.realm(), f"{statement} MAXRESULTS 1000")["Customer"]
    paged: list[dict[str, Any]] = []
    position = 1
    while page := sim.query(sim.realm(), f"{statement} STARTPOSITION {position} MAXRESULTS {page_size}"):
        paged.extend(page["Customer"])
        position += page_size
    assert [row["Id"] for row in paged] == [row["Id"] for row in everything]
    assert len({row["Id"] for row in paged}) == len(updates)
    if "LastUpdatedTime" in order:
        times = [row["MetaData"]["LastUpdatedTime"] for row in paged]
        assert [datetime.fromisoformat(t) for t in times] == sorted(datetime.fromisoformat(t) for t in times)


async def test_a_write_between_pages_is_seen_by_the_next_page(client: httpx.AsyncClient, sim: QboSimulator) -> None:
    sim.seed({"Customer": [{"DisplayName": f"C{n}"} for n in range(1, 5)]})
    await query(client, "select * from Customer STARTPOSITION 1 MAXRESULTS 2")
    await create(client, "Customer", {"DisplayName": "C5"})
    second = await query(client, "select * from Customer STARTPOSITION 3 MAXRESULTS 5")
    assert [row["DisplayName"] for row in second.json()["QueryResponse"]["Customer"]] == ["C3", "C4", "C5"]


# --- CDC --------------------------------------------------------------------------------------------


async def test_cdc_returns_changes_per_entity_in_intuits_shape(client: httpx.AsyncClient, clock: Clock) -> None:
    await create(client, "Customer", {"DisplayName": "Before"})
    clock.advance(hours=1)
    changed = await create(client, "Customer", {"DisplayName": "After"})
    response = await client.get(
        f"{BASE}/cdc", params={"entities": "Customer,Invoice", "changedSince": "2026-03-10T10:30:00-07:00"}
    )
    assert response.status_code == 200
    body = response.json()
    assert ENVELOPE_TIME.fullmatch(body["time"])
    assert body["CDCResponse"] == [
        {"QueryResponse": [{"Customer": [changed], "startPosition": 1, "maxResults": 1}, {}]}
    ]


async def test_cdc_refuses_a_lookback_beyond_30_days(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{BASE}/cdc", params={"entities": "Customer", "changedSince": "2026-02-07"})
    assert response.status_code == 400
    assert response.json()["Fault"]["type"] == "ValidationFault"
    ok = await client.get(f"{BASE}/cdc", params={"entities": "Customer", "changedSince": "2026-02-09"})
    assert ok.status_code == 200


async def test_cdc_returns_at_most_1000_objects_in_all_oldest_first(
    client: httpx.AsyncClient, sim: QboSimulator
) -> None:
    start = datetime(2026, 3, 5, tzinfo=UTC)

    def at(second: int) -> dict[str, str]:
        return {"LastUpdatedTime": (start + timedelta(seconds=second)).isoformat()}

    sim.seed(
        {
            "Customer": [{"DisplayName": f"C{n}", "MetaData": at(2 * n)} for n in range(600, 0, -1)],
            "Vendor": [{"DisplayName": f"V{n}", "MetaData": at(2 * n + 1)} for n in range(600, 0, -1)],
        }
    )
    response = await client.get(f"{BASE}/cdc", params={"entities": "Vendor,Customer", "changedSince": "2026-03-04"})
    vendors, customers = response.json()["CDCResponse"][0]["QueryResponse"]
    assert (vendors["maxResults"], customers["maxResults"]) == (500, 500)
    assert [row["DisplayName"] for row in customers["Customer"][:2]] == ["C1", "C2"]
    assert vendors["Vendor"][-1]["DisplayName"] == "V500"


async def test_cdc_shows_deactivated_list_records_in_full(client: httpx.AsyncClient, sim: QboSimulator) -> None:
    created = await create(client, "Customer", {"DisplayName": "Ann"})
    sim.edit("Customer", created["Id"], {"Active": False})
    response = await client.get(f"{BASE}/cdc", params={"entities": "Customer", "changedSince": "2026-03-10"})
    (row,) = response.json()["CDCResponse"][0]["QueryResponse"][0]["Customer"]
    assert (row["Active"], row["DisplayName"], row["SyncToken"]) == (False, "Ann", "1")


# --- Batch ------------------------------------------------------------------------------------------


async def test_batch_answers_each_item_with_its_entity_query_or_fault(client: httpx.AsyncClient) -> None:
    existing = await create(client, "Customer", {"DisplayName": "Existing"})
    items = [
        {"bId": "b1", "operation": "create", "Customer": {"DisplayName": "New one"}},
        {"bId": "b2", "operation": "create", "Vendor": {"DisplayName": "Existing"}},
        {
            "bId": "b3",
            "operation": "update",
            "Customer": {"Id": existing["Id"], "SyncToken": "0", "sparse": True, "Notes": "x"},
        },
        {"bId": "b4", "Query": "select * from Customer where DisplayName = 'Existing'"},
        {"bId": "b5", "operation": "update", "Customer": {"Id": existing["Id"], "SyncToken": "0", "DisplayName": "Z"}},
    ]
    response = await client.post(f"{BASE}/batch", params={"minorversion": "75"}, json={"BatchItemRequest": items})
    assert response.status_code == 200
    answers = {answer["bId"]: answer for answer in response.json()["BatchItemResponse"]}
    assert answers["b1"]["Customer"]["DisplayName"] == "New one"
    assert answers["b2"]["Fault"]["Error"][0]["code"] == "6240"
    assert answers["b3"]["Customer"]["Notes"] == "x"
    assert answers["b4"]["QueryResponse"]["Customer"][0]["Id"] == existing["Id"]
    assert answers["b5"]["Fault"] == STALE_FAULT


async def test_a_batch_of_more_than_30_items_is_refused_whole(client: httpx.AsyncClient) -> None:
    items = [{"bId": str(n), "operation": "create", "Customer": {"DisplayName": f"C{n}"}} for n in range(31)]
    response = await client.post(f"{BASE}/batch", json={"BatchItemRequest": items})
    assert response.status_code == 400
    assert fault_of(response)["code"] == "1040"
    assert (await query(client, "select count(*) from Customer")).json()["QueryResponse"]["totalCount"] == 0


# --- Rate limits, injected faults, request ids ------------------------------------------------------


async def test_more_than_per_minute_requests_get_throttled_until_the_minute_rolls(clock: Clock) -> None:
    app = create_app(clock=clock, per_minute=3)
    async with _client(app) as client:
        statuses = [(await query(client, "select * from Customer")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = await query(client, "select * from Customer")
        assert refused.json()["Fault"] == THROTTLE_FAULT
        assert "retry-after" not in refused.headers
        clock.advance(seconds=61)
        assert (await query(client, "select * from Customer")).status_code == 200
    assert app.state.sim.calls["throttled"] == 2


async def test_the_retry_after_header_is_an_option(clock: Clock) -> None:
    app = create_app(clock=clock, per_minute=1, retry_after_header=True)
    async with _client(app) as client:
        await query(client, "select * from Customer")
        clock.advance(seconds=20)
        refused = await query(client, "select * from Customer")
    assert refused.headers["retry-after"] == "40"


async def test_more_than_in_flight_concurrent_requests_get_throttled(clock: Clock) -> None:
    app = create_app(clock=clock, in_flight=2, latency=0.05)
    async with _client(app) as client:
        responses = await asyncio.gather(*(query(client, "select * from Customer") for _ in range(4)))
    assert sorted(response.status_code for response in responses) == [200, 200, 429, 429]


async def test_injected_failures_hit_the_next_calls_only(client: httpx.AsyncClient, sim: QboSimulator) -> None:
    sim.fail_next(503, count=2)
    first, second, third = [await query(client, "select * from Customer") for _ in range(3)]
    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert first.json()["Fault"]["type"] == "SystemFault"
    sim.throttle_next(1)
    throttled = await query(client, "select * from Customer")
    assert (throttled.status_code, throttled.json()["Fault"]) == (429, THROTTLE_FAULT)


async def test_a_repeated_requestid_replays_the_first_response(client: httpx.AsyncClient, sim: QboSimulator) -> None:
    first = await post(client, "customer", {"DisplayName": "Once"}, requestid="r-1")
    again = await post(client, "customer", {"DisplayName": "Once"}, requestid="r-1")
    assert again.status_code == 200
    assert again.content == first.content
    assert len(sim.records("Customer")) == 1
    other = await post(client, "customer", {"DisplayName": "Once"}, requestid="r-2")
    assert fault_of(other)["code"] == "6240"


# --- Webhooks ---------------------------------------------------------------------------------------


def receiver() -> tuple[list[httpx.Request], httpx.MockTransport]:
    received: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200)

    return received, httpx.MockTransport(handle)


def signature_of(body: bytes, token: str) -> str:
    return base64.b64encode(hmac.new(token.encode(), body, hashlib.sha256).digest()).decode()


async def test_changes_queue_events_and_a_flush_delivers_signed_cloudevents(clock: Clock) -> None:
    received, transport = receiver()
    app = create_app(clock=clock, webhook_url="https://hub.example/webhooks/qbo", webhook_transport=transport)
    async with _client(app) as client:
        customer = await create(client, "Customer", {"DisplayName": "Ann"})
        await create(client, "Customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Notes": "x"})
        await create(client, "Customer", {"Id": customer["Id"], "SyncToken": "1", "sparse": True, "Active": False})
        pending = (await client.get("/_sim/webhooks/pending")).json()["events"]
        assert [event["operation"] for event in pending] == ["Create", "Update", "Delete"]
        outcome = (await client.post("/_sim/webhooks/flush")).json()
    assert outcome == {"delivered": 3, "status": 200}
    (delivery,) = received
    assert delivery.headers["intuit-signature"] == signature_of(delivery.content, "sim-verifier-token")
    events = json.loads(delivery.content)
    assert [event["type"] for event in events] == [
        "qbo.customer.created.v1",
        "qbo.customer.updated.v1",
        "qbo.customer.deleted.v1",
    ]
    assert events[0]["intuitaccountid"] == REALM
    assert events[0]["intuitentityid"] == customer["Id"]
    assert set(events[0]) == {
        "specversion",
        "id",
        "source",
        "type",
        "datacontenttype",
        "time",
        "intuitentityid",
        "intuitaccountid",
        "data",
    }
    assert app.state.sim.pending_events == []


async def test_a_flush_in_legacy_format_groups_entities_per_realm(clock: Clock) -> None:
    received, transport = receiver()
    app = create_app(
        clock=clock, webhook_url="https://hub.example/wh", webhook_transport=transport, webhook_format="legacy"
    )
    async with _client(app) as client:
        await create(client, "Vendor", {"DisplayName": "Paper Co"})
        await client.post("/_sim/webhooks/flush")
    assert json.loads(received[0].content) == {
        "eventNotifications": [
            {
                "realmId": REALM,
                "dataChangeEvent": {
                    "entities": [
                        {"name": "Vendor", "id": "1", "operation": "Create", "lastUpdated": "2026-03-10T10:00:00-0700"}
                    ]
                },
            }
        ]
    }


async def test_an_unacknowledged_delivery_keeps_events_pending(clock: Clock) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(500))
    app = create_app(clock=clock, webhook_url="https://hub.example/wh", webhook_transport=transport)
    async with _client(app) as client:
        await create(client, "Customer", {"DisplayName": "Ann"})
        outcome = (await client.post("/_sim/webhooks/flush", json={"format": "legacy"})).json()
    assert outcome == {"delivered": 0, "status": 500}
    assert len(app.state.sim.pending_events) == 1


async def test_flushing_without_a_webhook_url_is_a_conflict(client: httpx.AsyncClient) -> None:
    response = await client.post("/_sim/webhooks/flush")
    assert response.status_code == 409


# --- Control surface --------------------------------------------------------------------------------


async def test_seed_keeps_explicit_times_and_sends_no_webhooks(client: httpx.AsyncClient, sim: QboSimulator) -> None:
    seeded = await client.post(
        "/_sim/seed",
        json={
            "Customer": [{"DisplayName": "Old", "MetaData": {"LastUpdatedTime": "2025-01-02T03:04:05-08:00"}}],
            "Item": [{"Name": "Audit"}],
        },
    )
    assert seeded.json() == {"Customer": ["1"], "Item": ["1"]}
    record = (await client.get(f"{BASE}/customer/1")).json()["Customer"]
    assert record["MetaData"]["LastUpdatedTime"] == "2025-01-02T04:04:05-07:00"
    assert META_TIME.fullmatch(record["MetaData"]["CreateTime"])
    assert sim.pending_events == []


async def test_seeding_an_unknown_entity_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/_sim/seed", json={"Department": [{"Name": "North"}]})
    assert response.status_code == 400
    assert "Department" in response.json()["error"]


async def test_records_lists_inactive_records_and_deletion_markers(
    client: httpx.AsyncClient, sim: QboSimulator
) -> None:
    customer = await create(client, "Customer", {"DisplayName": "Ann"})
    invoice = await create(client, "Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [INVOICE_LINE]})
    await client.post(f"/_sim/delete/Invoice/{invoice['Id']}")
    await client.post(f"/_sim/delete/Customer/{customer['Id']}")
    customers = (await client.get("/_sim/records/Customer")).json()["Customer"]
    invoices = (await client.get("/_sim/records/Invoice")).json()["Invoice"]
    assert customers[0]["Active"] is False
    assert invoices[0]["status"] == "Deleted"
    assert (await client.get("/_sim/records/Nonsense")).status_code == 404


async def test_an_edit_behaves_like_a_quickbooks_user(
    client: httpx.AsyncClient, clock: Clock, sim: QboSimulator
) -> None:
    customer = await create(client, "Customer", {"DisplayName": "Ann"})
    clock.advance(minutes=3)
    edited = await client.post(f"/_sim/edit/Customer/{customer['Id']}", json={"CompanyName": "Ann Co"})
    assert edited.status_code == 200
    assert (edited.json()["SyncToken"], edited.json()["CompanyName"]) == ("1", "Ann Co")
    assert edited.json()["MetaData"]["LastUpdatedTime"] == "2026-03-10T10:03:00-07:00"
    assert [event.operation for event in sim.pending_events] == ["Create", "Update"]
    stale = await post(client, "customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Notes": "x"})
    assert stale.json()["Fault"] == STALE_FAULT
    invalid = await client.post(f"/_sim/edit/Customer/{customer['Id']}", json={"DisplayName": "A:B"})
    assert invalid.status_code == 400


async def test_fail_and_throttle_over_http(client: httpx.AsyncClient) -> None:
    await client.post("/_sim/fail", json={"status": 500, "count": 1})
    await client.post("/_sim/throttle", json={"count": 1})
    statuses = [(await query(client, "select * from Customer")).status_code for _ in range(3)]
    assert statuses == [500, 429, 200]


@pytest.mark.parametrize(
    ("path", "body"),
    [("/_sim/fail", {"count": 2}), ("/_sim/throttle", {"count": "many"}), ("/_sim/webhooks/flush", {"format": "xml"})],
)
async def test_a_malformed_control_order_is_a_400(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == 400
    assert response.json()["error"]


async def test_calls_are_counted_by_kind(client: httpx.AsyncClient) -> None:
    customer = await create(client, "Customer", {"DisplayName": "Ann"})
    await client.get(f"{BASE}/customer/{customer['Id']}")
    await query(client, "select * from Customer")
    await client.get(f"{BASE}/cdc", params={"entities": "Customer", "changedSince": "2026-03-09"})
    await client.post(f"{BASE}/batch", json={"BatchItemRequest": []})
    calls = (await client.get("/_sim/calls")).json()
    assert calls == {"write": 1, "read": 1, "query": 1, "cdc": 1, "batch": 1, "total": 5}


async def test_reset_forgets_everything(client: httpx.AsyncClient, sim: QboSimulator) -> None:
    await create(client, "Customer", {"DisplayName": "Ann"})
    await client.post("/_sim/reset")
    assert sim.records("Customer") == []
    assert sim.pending_events == []
    assert (await client.get("/_sim/calls")).json() == {}
    assert (await create(client, "Customer", {"DisplayName": "Ann"}))["Id"] == "1"


async def test_a_second_realm_is_separate(client: httpx.AsyncClient, sim: QboSimulator) -> None:
    sim.add_realm("123145")
    await client.post("/_sim/seed?realm=123145", json={"Customer": [{"DisplayName": "Elsewhere"}]})
    assert (await query(client, "select count(*) from Customer")).json()["QueryResponse"] == {"totalCount": 0}
    other = await client.get("/v3/company/123145/query", params={"query": "select count(*) from Customer"})
    assert other.json()["QueryResponse"] == {"totalCount": 1}

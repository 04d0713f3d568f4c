"""The QuickBooks Online plugin driven through the hub, as a user would, against the QBO simulator.

Tests are named after the rules of seed 003 (WorkSpace: contact import, export, match, pull, sync) and
seed 004 (All Orders: the sync queue, Send All, NC Only, ship docs, work orders, proxies, selective sync).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Route

from hub import outbox
from hub.config import Connection
from hub.credentials import StoredTokens
from hub.engine import Scope
from hub.errors import MalformedPayload, RecordError, RetriableError
from hub.intake import receive_webhook
from hub.local import edit_record
from hub.secrets import TokenCipher
from hub.status import connection_status
from hub.store import HomeRecord
from hub.testing import conformance_tests
from hub.types import PageRequest
from hub.views import import_candidates
from hub.workers import process_due
from plugins.quickbooks.sim_entities import ENTITY_TYPES
from plugins.quickbooks.simulator import create_app
from plugins.quickbooks.system import QuickBooks
from plugins.quickbooks.transforms import BillLines, InvoiceLines
from tests.quickbooks_fixtures import CONNECTION, ENV, OAUTH_SECRETS, REALM, SALE, QboRig, qbo_rig

CUSTOMERS = Scope(entities=("customer",))


@pytest.fixture
async def rig():
    async with qbo_rig() as opened:
        yield opened


@pytest.fixture
async def sending_all():
    async with qbo_rig(options={"send_all": True}) as opened:
        yield opened


async def linked_customer(rig: QboRig, name: str, **remote: Any) -> tuple[HomeRecord, str]:
    """A customer in both places, linked by an exact-name match; returns the home record and its QBO Id.

    The QuickBooks record is the newer, so the first sync fills the home record from it.
    """
    home = await rig.load("customer", name, hidden=False)
    remote_id = rig.customer(name, **remote)
    result = await rig.sync(CUSTOMERS)
    assert await rig.remote_id(home) == remote_id, result
    return await rig.home(home), remote_id


# --- seed 003: Contact Import ---------------------------------------------------------------------------------


async def test_import_lists_customers_never_brought_in(rig: QboRig):
    acme = rig.customer("Acme Ltd")
    inactive = rig.customer("Bolt Inc", Active=False)
    await linked_customer(rig, "Cog Co")

    default = await import_candidates(rig.hub, CONNECTION, "customer")
    with_hidden = await import_candidates(rig.hub, CONNECTION, "customer", show_hidden=True)
    everyone = await import_candidates(rig.hub, CONNECTION, "customer", show_synced=True, show_hidden=True)

    assert [(c["remote_id"], c["name"]) for c in default] == [(acme, "Acme Ltd")]
    assert [(c["name"], c["hidden"]) for c in with_hidden] == [("Acme Ltd", False), ("Bolt Inc", True)]
    assert inactive in {c["remote_id"] for c in with_hidden}
    assert [(c["name"], c["synced"]) for c in everyone] == [
        ("Acme Ltd", False), ("Bolt Inc", False), ("Cog Co", True)]


async def test_import_selected_brings_in_only_the_chosen_customers(rig: QboRig):
    acme = rig.customer(
        "Acme Ltd", PrimaryEmailAddr={"Address": "ap@acme.example"}, BillAddr={"Line1": "1 Quay St", "City": "Leeds"}
    )
    rig.customer("Bolt Inc")
    cog = rig.customer("Cog Co", Mobile={"FreeFormNumber": "07700 900123"})

    result = await rig.sync(Scope(entities=("customer",), create_home=True, remote_ids=(acme, cog)))

    assert result.status == "success", result
    (imported,) = await rig.home_named("customer", "Acme Ltd")
    assert imported.fields["email"] == "ap@acme.example"
    assert (imported.fields["billing_street"], imported.fields["billing_city"]) == ("1 Quay St", "Leeds")
    assert (await rig.home_named("customer", "Cog Co"))[0].fields["mobile"] == "07700 900123"
    assert await rig.home_named("customer", "Bolt Inc") == []
    assert [c["name"] for c in await import_candidates(rig.hub, CONNECTION, "customer")] == ["Bolt Inc"]


async def test_an_inactive_customer_is_imported_as_hidden(rig: QboRig):
    inactive = rig.customer("Dormant Ltd", Active=False)

    await rig.sync(Scope(entities=("customer",), create_home=True, remote_ids=(inactive,)))

    (imported,) = await rig.home_named("customer", "Dormant Ltd")
    assert imported.hidden and imported.fields["hidden"] is True
    assert rig.remote("Customer", inactive)["Active"] is False


async def test_import_links_an_exact_name_match_instead_of_duplicating(rig: QboRig):
    home = await rig.load("customer", "Cog Co", hidden=False)
    cog = rig.customer("Cog Co", Notes="From QuickBooks")
    near_miss = rig.customer("COG CO.")

    result = await rig.sync(Scope(entities=("customer",), create_home=True, remote_ids=(cog, near_miss)))

    assert await rig.remote_id(home) == cog
    assert len(await rig.home_named("customer", "Cog Co")) == 1
    assert (await rig.home(home)).fields["notes"] == "From QuickBooks"
    # The seed's warning: a name that is not a 100% match is imported as a record of its own.
    assert len(await rig.home_named("customer", "COG CO.")) == 1
    reasons = {i["remote_id"]: i["reason"] for i in await rig.items(result)}
    assert reasons[cog].startswith("linked: exact name 'Cog Co'")


async def test_a_row_that_fails_shows_its_error_and_the_others_import(rig: QboRig):
    acme, dyna = rig.customer("Acme Ltd"), rig.customer("Dyna Corp")
    await rig.load("customer", "Dyna Corp", email="accounts at dyna", hidden=False)

    result = await rig.sync(Scope(entities=("customer",), create_home=True, remote_ids=(acme, dyna)))

    assert result.status == "completed with 1 error", result
    (failed,) = [i for i in await rig.items(result) if i["action"] == "failed"]
    assert failed["remote_id"] == dyna
    assert "Invalid Email Address format" in failed["error"]
    assert "accounts at dyna" in failed["error"]
    assert len(await rig.home_named("customer", "Acme Ltd")) == 1


# --- seed 003: export, match, pull and sync one contact -----------------------------------------------------


async def test_export_selected_creates_the_chosen_contacts_and_shows_each_error(rig: QboRig):
    rig.seed("Vendor", {"DisplayName": "Harbour Supplies"})
    ada = await rig.load("customer", "Ada Lovelace", email="ada@example.com", phone="0113 496 0000", hidden=False)
    clash = await rig.load("customer", "Harbour Supplies", hidden=False)
    unchosen = await rig.load("customer", "Not Chosen", hidden=False)

    result = await rig.sync(Scope(entities=("customer",), create_remote=True, record_ids=(ada.id, clash.id)))

    assert result.status == "completed with 1 error", result
    (exported,) = rig.remote_named("Customer", "Ada Lovelace")
    assert exported["PrimaryEmailAddr"] == {"Address": "ada@example.com"}
    assert exported["PrimaryPhone"] == {"FreeFormNumber": "0113 496 0000"}
    assert await rig.remote_id(ada) == exported["Id"]
    (failed,) = [i for i in await rig.items(result) if i["action"] == "failed"]
    assert failed["home_id"] == clash.id
    assert "Duplicate Name Exists Error" in failed["error"]
    assert rig.remote_named("Customer", "Not Chosen") == [] and await rig.remote_id(unchosen) is None


async def test_auto_match_with_no_result_leaves_the_record_unlinked(rig: QboRig):
    rig.customer("Acme Ltd")
    zed = rig.customer("Zed Holdings")
    acme = await rig.load("customer", "Acme Ltd", hidden=False)

    result = await rig.sync(CUSTOMERS)

    assert await rig.remote_id(acme) is not None
    assert await rig.home_named("customer", "Zed Holdings") == []
    (unmatched,) = [i for i in await rig.items(result) if i["remote_id"] == zed]
    assert unmatched["action"] == "skipped" and unmatched["reason"].startswith("unmatched")
    assert [row["remote_id"] for row in await rig.hub.store.unlinked_remote(CONNECTION, "customer")] == [zed]


async def test_matched_customers_leave_the_import_list_unless_show_synced(rig: QboRig):
    _home, acme = await linked_customer(rig, "Acme Ltd")
    zed = rig.customer("Zed Holdings")

    unsynced = await import_candidates(rig.hub, CONNECTION, "customer")
    everyone = await import_candidates(rig.hub, CONNECTION, "customer", show_synced=True)

    assert [c["remote_id"] for c in unsynced] == [zed]
    assert {c["remote_id"]: c["synced"] for c in everyone} == {acme: True, zed: False}


async def test_pull_current_contact_overwrites_the_home_contact(rig: QboRig):
    home, remote_id = await linked_customer(rig, "Acme Ltd", WebAddr={"URI": "https://acme.example"})
    rig.edit_remote("Customer", remote_id, PrimaryEmailAddr={"Address": "new@acme.example"}, WebAddr=None)
    # Changed at home after the QuickBooks edit, and not queued: a normal sync would keep it; a pull does not.
    await edit_record(rig.hub.store, home.id, {"notes": "home only"}, actor="tester", at=rig.clock(), connections=[])
    writes = len(rig.writes())

    result = await rig.sync(Scope(entities=("customer",), mode="pull", record_ids=(home.id,)))

    pulled = await rig.home(home)
    assert result.status == "success", result
    assert pulled.fields["email"] == "new@acme.example"
    assert pulled.fields["website"] is None
    assert pulled.fields["notes"] is None
    assert len(rig.writes()) == writes


async def test_sync_current_contact_copies_the_newer_side(rig: QboRig):
    home, remote_id = await linked_customer(rig, "Acme Ltd", Notes="agreed terms")
    rig.edit_remote("Customer", remote_id, Notes="changed in QuickBooks")
    home = await rig.edit_at_home(home, email="home@acme.example")

    await rig.sync(Scope(entities=("customer",), mode="newest", record_ids=(home.id,)))

    # The hub's side changed last: all of it goes to QuickBooks, the older QuickBooks note included.
    assert rig.remote("Customer", remote_id)["PrimaryEmailAddr"] == {"Address": "home@acme.example"}
    assert rig.remote("Customer", remote_id)["Notes"] == "agreed terms"

    rig.edit_remote("Customer", remote_id, Notes="QuickBooks again", PrimaryEmailAddr=None)
    await rig.sync(Scope(entities=("customer",), mode="newest", record_ids=(home.id,)))

    synced = await rig.home(home)
    assert (synced.fields["notes"], synced.fields["email"]) == ("QuickBooks again", None)


# --- seed 004: the sync, Send All, NC Only, ship docs and work orders ---------------------------------------


async def test_a_sync_flushes_the_queue_then_brings_changes_in_then_records_transactions(sending_all: QboRig):
    rig = sending_all
    acme, acme_id = await linked_customer(rig, "Acme Ltd")
    bolt, bolt_id = await linked_customer(rig, "Bolt Inc")
    await rig.sync()
    await rig.edit_at_home(acme, phone="0113 496 0001")
    rig.edit_remote("Customer", bolt_id, Notes="changed in QuickBooks")
    invoice = await rig.load("invoice", "INV-1001", customer=acme.id, txn_date="2026-11-01", lines=[SALE])
    start = len(rig.transport.calls)

    result = await rig.sync()

    calls = rig.transport.calls[start:]
    flushed = next(n for n, c in enumerate(calls) if c.resource == "customer" and c.method == "POST")
    pulled = next(n for n, c in enumerate(calls) if c.resource == "cdc" and c.params["entities"] == "Customer")
    recorded = next(n for n, c in enumerate(calls) if c.resource == "invoice" and c.method == "POST")
    assert flushed < pulled < recorded, result
    assert rig.remote("Customer", acme_id)["PrimaryPhone"] == {"FreeFormNumber": "0113 496 0001"}
    assert (await rig.home(bolt)).fields["notes"] == "changed in QuickBooks"
    (sent,) = rig.remote_named("Invoice", "INV-1001", key="DocNumber")
    assert sent["CustomerRef"]["value"] == acme_id
    assert (sent["TotalAmt"], sent["TxnDate"]) == (150.0, "2026-11-01")

    await rig.sync()

    assert len(rig.sim.records("Invoice")) == 1
    assert await rig.remote_id(invoice) == sent["Id"]


async def test_a_transaction_recorded_by_a_sync_is_linked_when_the_run_ends(sending_all: QboRig):
    rig = sending_all
    acme, _acme_id = await linked_customer(rig, "Acme Ltd")
    invoice = await rig.load("invoice", "INV-1001", customer=acme.id, lines=[SALE])

    await rig.sync()

    assert await rig.remote_id(invoice) is not None


async def test_without_send_all_a_transaction_is_recorded_only_on_request(rig: QboRig):
    acme, _acme_id = await linked_customer(rig, "Acme Ltd")
    invoice = await rig.load("invoice", "INV-1002", customer=acme.id, lines=[SALE])

    await rig.sync()
    assert rig.sim.records("Invoice") == []

    result = await rig.sync(Scope(entities=("invoice",), create_remote=True, record_ids=(invoice.id,)))

    assert result.counts["created"] == 1, result
    assert [row["DocNumber"] for row in rig.sim.records("Invoice")] == ["INV-1002"]


async def test_nc_only_transactions_are_never_sent_by_send_all(sending_all: QboRig):
    rig = sending_all
    acme, _acme_id = await linked_customer(rig, "Acme Ltd")
    await rig.load("invoice", "INV-NC", customer=acme.id, lines=[SALE], nc_only=True)
    await rig.load("bill", "BILL-NC", lines=[{"account": "60", "amount": 12}], nc_only=True)

    await rig.sync()

    assert rig.sim.records("Invoice") == [] and rig.sim.records("Bill") == []


async def test_an_nc_only_transaction_is_not_sent_when_triggered_and_says_why(rig: QboRig):
    acme, _acme_id = await linked_customer(rig, "Acme Ltd")
    nc_only = await rig.load("invoice", "INV-NC", customer=acme.id, lines=[SALE], nc_only=True)

    asked = await rig.sync(Scope(entities=("invoice",), create_remote=True, record_ids=(nc_only.id,)))

    assert rig.sim.records("Invoice") == []
    (item,) = await rig.items(asked, "invoice")
    assert (item["action"], item["reason"]) == ("skipped", "not sent: excluded: nc_only is True")


@pytest.mark.parametrize(
    ("entity", "flag", "number"), [("ship_doc", "shipped", "SD-D-7"), ("work_order", "finished", "WO-D-7")]
)
async def test_a_ship_doc_once_shipped_and_a_work_order_once_finished_are_recorded_as_invoices(
    sending_all: QboRig, entity: str, flag: str, number: str
):
    rig = sending_all
    acme, acme_id = await linked_customer(rig, "Acme Ltd")
    document = await rig.load(entity, "D-7", customer=acme.id, lines=[SALE], **{flag: False})

    await rig.sync()
    assert rig.sim.records("Invoice") == []

    await rig.edit_at_home(document, **{flag: True})
    await rig.sync()

    (recorded,) = rig.sim.records("Invoice")
    assert (recorded["DocNumber"], recorded["CustomerRef"]["value"]) == (number, acme_id)
    assert await rig.remote_id(document) == recorded["Id"]


async def test_a_queued_nc_only_invoice_is_never_sent(sending_all: QboRig):
    rig = sending_all
    acme, _acme_id = await linked_customer(rig, "Acme Ltd")
    await rig.create_at_home("invoice", "INV-NC", customer=acme.id, lines=[SALE], nc_only=True)

    await rig.sync()

    assert rig.sim.records("Invoice") == []


async def test_a_proxied_customer_is_not_created_and_its_invoices_go_to_the_proxy(sending_all: QboRig):
    rig = sending_all
    web, web_id = await linked_customer(rig, "Web Customer")
    jane = await rig.load("customer", "Jane Shopper", proxy_id=web.id, email="jane@example.com", hidden=False)
    await rig.load("invoice", "WEB-1", customer=jane.id, lines=[SALE])

    await rig.sync()

    assert rig.remote_named("Customer", "Jane Shopper") == []
    assert await rig.remote_id(jane) is None
    (invoice,) = rig.sim.records("Invoice")
    assert invoice["CustomerRef"] == {"value": web_id, "name": "Web Customer"}


async def test_edits_while_disconnected_are_queued_and_flushed_in_order(rig: QboRig):
    acme, acme_id = await linked_customer(rig, "Acme Ltd")
    bolt, bolt_id = await linked_customer(rig, "Bolt Inc")
    rig.transport.offline = True
    acme = await rig.edit_at_home(acme, email="ap@acme.example")
    await rig.edit_at_home(bolt, phone="0113 496 0002")
    await rig.edit_at_home(acme, phone="0113 496 0003")

    cut_off = await rig.sync(CUSTOMERS)

    assert cut_off.status == "interrupted", cut_off
    assert len(await outbox.entries(rig.hub.store, CONNECTION)) == 3
    assert (await rig.home(acme)).pending
    assert "PrimaryEmailAddr" not in rig.remote("Customer", acme_id)

    rig.transport.offline = False
    start = len(rig.transport.calls)
    reconnected = await rig.sync(CUSTOMERS)

    assert reconnected.status == "success", reconnected
    writes = [c.json()["Id"] for c in rig.transport.calls[start:] if c.resource == "customer" and c.method == "POST"]
    assert writes == [acme_id, bolt_id]
    assert rig.remote("Customer", acme_id)["PrimaryEmailAddr"] == {"Address": "ap@acme.example"}
    assert rig.remote("Customer", acme_id)["PrimaryPhone"] == {"FreeFormNumber": "0113 496 0003"}
    assert rig.remote("Customer", bolt_id)["PrimaryPhone"] == {"FreeFormNumber": "0113 496 0002"}
    assert await outbox.entries(rig.hub.store, CONNECTION) == []
    assert not (await rig.home(acme)).pending


async def test_selective_sync_brings_in_only_the_chosen_lists(rig: QboRig):
    acme, acme_id = await linked_customer(rig, "Acme Ltd")
    (bolt_id,) = rig.seed("Item", {"Name": "Bolt", "UnitPrice": 2.5})
    bolt = await rig.load("item", "Bolt", hidden=False)
    await rig.sync(Scope(entities=("item",)))
    rig.edit_remote("Customer", acme_id, Notes="customer edit")
    rig.edit_remote("Item", bolt_id, UnitPrice=3.0)
    start = len(rig.transport.calls)

    await rig.sync(Scope(entities=("item",)))

    assert (await rig.home(bolt)).fields["unit_price"] == 3.0
    assert (await rig.home(acme)).fields.get("notes") is None
    assert {c.params.get("entities") for c in rig.transport.calls[start:] if c.resource == "cdc"} == {"Item"}


async def test_selective_sync_of_records_modified_since_a_date(rig: QboRig):
    now = rig.clock.now

    def customer_changed(days: int) -> str:
        stamp = (now - timedelta(days=days)).isoformat()
        return rig.seed(
            "Customer",
            {"DisplayName": f"Changed {days} days ago", "MetaData": {"CreateTime": stamp, "LastUpdatedTime": stamp}},
        )[0]

    _old, month, week = customer_changed(60), customer_changed(25), customer_changed(5)

    beyond_cdc = await rig.sync(Scope(entities=("customer",), since=now - timedelta(days=40)))
    within_cdc = await rig.sync(Scope(entities=("customer",), since=now - timedelta(days=10)))

    assert {i["remote_id"] for i in await rig.items(beyond_cdc)} == {month, week}
    assert {i["remote_id"] for i in await rig.items(within_cdc)} == {week}
    statements = [c.body.decode() for c in rig.calls("query")]
    assert any("MetaData.LastUpdatedTime >= " in text for text in statements)
    assert len(rig.calls("cdc")) == 1


async def test_a_stale_sync_token_mid_sync_is_reread_and_reapplied(rig: QboRig):
    home, remote_id = await linked_customer(rig, "Acme Ltd")
    await rig.edit_at_home(home, email="ap@acme.example")
    rig.transport.before_write = lambda _call: rig.edit_remote("Customer", remote_id, Notes="typed in QuickBooks")

    result = await rig.sync(CUSTOMERS)

    assert result.status == "success", result
    stored = rig.remote("Customer", remote_id)
    assert stored["PrimaryEmailAddr"] == {"Address": "ap@acme.example"}
    assert stored["Notes"] == "typed in QuickBooks"
    assert (await rig.home(home)).fields["notes"] == "typed in QuickBooks"
    tokens = [c.json()["SyncToken"] for c in rig.calls("customer", "POST")]
    assert tokens[-2:] == ["0", "1"]
    assert any("re-read after a conflicting remote write" in i["reason"] for i in await rig.items(result))


async def test_an_edit_to_one_address_line_keeps_the_rest_of_the_address(rig: QboRig):
    home, remote_id = await linked_customer(
        rig, "Acme Ltd", BillAddr={"Line1": "1 Quay St", "City": "Leeds", "PostalCode": "LS1 4AP"}
    )
    await rig.edit_at_home(home, billing_city="Bradford")

    await rig.sync(CUSTOMERS)

    assert rig.remote("Customer", remote_id)["BillAddr"] == {
        "Line1": "1 Quay St",
        "City": "Bradford",
        "PostalCode": "LS1 4AP",
    }
    (write,) = [c for c in rig.calls("customer", "POST") if c.json().get("sparse")][-1:]
    assert write.params["minorversion"] == "75" and write.params["requestid"]


# --- webhooks ---------------------------------------------------------------------------------------------------


async def delivered(rig: QboRig, fmt: str) -> list[tuple[bytes, dict[str, str]]]:
    """What the simulator delivers when it flushes its pending webhooks in one format."""
    bodies: list[tuple[bytes, dict[str, str]]] = []

    def receive(request: httpx.Request) -> httpx.Response:
        bodies.append((request.content, dict(request.headers)))
        return httpx.Response(200)

    rig.sim.webhook_url = "https://hub.example/webhooks/qbo"
    rig.sim.webhook_transport = httpx.MockTransport(receive)
    await rig.sim.flush_webhooks(fmt)  # type: ignore[arg-type]
    return bodies


@pytest.mark.parametrize("fmt", ["legacy", "cloudevents"])
async def test_webhooks_in_both_formats_become_events_for_this_company_only(rig: QboRig, fmt: str):
    acme_id = rig.customer("Acme Ltd")
    rig.edit_remote("Customer", acme_id, Notes="edited")
    rig.sim.add_realm("1234")
    (elsewhere,) = rig.sim.seed({"Customer": [{"DisplayName": "Elsewhere"}]}, "1234")["Customer"]
    rig.sim.edit("Customer", elsewhere, {"Notes": "another company's edit"}, realm_id="1234")
    invoice = {"CustomerRef": {"value": acme_id}, "Line": [{"Amount": 5, "DetailType": "SalesItemLineDetail"}]}
    rig.sim.create(rig.sim.realm(), ENTITY_TYPES["Invoice"], invoice)
    ((body, headers),) = await delivered(rig, fmt)

    contract = rig.hub.registry.contracts["quickbooks"]
    rig.hub.registry.verifiers[contract.webhook_verifier].verify(body, headers, rig.system.webhook_secrets())
    events = rig.system.parse_webhook(body, headers)

    assert [(e.entity, e.remote_id, e.action, e.account) for e in events] == [
        ("customer", acme_id, "updated", REALM),
        ("invoice", "1", "created", REALM),
        ("ship_doc", "1", "created", REALM),
        ("work_order", "1", "created", REALM),
    ]
    assert all(e.occurred_at is not None and e.occurred_at.tzinfo is not None for e in events)
    assert len({e.event_id for e in events}) == 2
    if fmt == "cloudevents":
        ours = [event["id"] for event in json.loads(body) if event["intuitaccountid"] == REALM]
        assert list(dict.fromkeys(e.event_id for e in events)) == ours
    else:
        assert [e.event_id for e in rig.system.parse_webhook(body, headers)] == [e.event_id for e in events]


@pytest.mark.parametrize("fmt", ["legacy", "cloudevents"])
async def test_a_quickbooks_edit_announced_by_webhook_reaches_the_home_record(rig: QboRig, fmt: str):
    home, remote_id = await linked_customer(rig, "Acme Ltd")
    rig.edit_remote("Customer", remote_id, Notes="announced by webhook")
    intake = Starlette(routes=[Route("/webhooks/{connection}", receive_webhook, methods=["POST"])])
    intake.state.hub = rig.hub
    rig.sim.webhook_url = f"http://hub.test/webhooks/{CONNECTION}"
    rig.sim.webhook_transport = httpx.ASGITransport(app=intake)

    delivery = await rig.sim.flush_webhooks(fmt)  # type: ignore[arg-type]
    await process_due(rig.hub)

    assert delivery == {"delivered": 1, "status": 200}
    assert (await rig.home(home)).fields["notes"] == "announced by webhook"
    assert [c.resource for c in rig.calls()][-1] == "query"


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        ({"eventNotifications": "none"}, "eventNotifications must be an array"),
        ({"eventNotifications": [{"dataChangeEvent": {"entities": []}}]}, "realmId"),
        (
            {"eventNotifications": [{"realmId": REALM, "dataChangeEvent": {"entities": [{"name": "Customer"}]}}]},
            "entities[0].id",
        ),
        ([{"type": "qbo.customer.updated.v1", "intuitaccountid": REALM, "intuitentityid": "1"}], "[0].id"),
        ([{"id": "e1", "type": "customer-updated", "intuitaccountid": REALM, "intuitentityid": "1"}], "[0].type"),
        ({"something": "else"}, "CloudEvents array or an object with eventNotifications"),
    ],
)
async def test_a_webhook_body_that_is_not_intuits_is_refused_naming_what_is_wrong(
    rig: QboRig, payload: Any, complaint: str
):
    with pytest.raises(MalformedPayload, match=complaint.replace("[", r"\[").replace("]", r"\]")):
        rig.system.parse_webhook(json.dumps(payload).encode(), {})


async def test_an_event_for_an_entity_the_contract_does_not_sync_is_dropped(rig: QboRig):
    body = json.dumps(
        [
            {"id": "e1", "type": "qbo.payment.created.v1", "intuitaccountid": REALM, "intuitentityid": "9"},
            {
                "id": "e2",
                "type": "qbo.bill.deleted.v1",
                "intuitaccountid": REALM,
                "intuitentityid": "8",
                "time": "2025-09-10T21:31:25.179851517Z",
            },
        ]
    ).encode()

    (event,) = rig.system.parse_webhook(body, {})

    assert (event.entity, event.remote_id, event.action, event.event_id) == ("bill", "8", "deleted", "e2")


# --- credentials ------------------------------------------------------------------------------------------------


async def test_oauth_tokens_are_refreshed_and_kept_encrypted_in_the_store():
    async with qbo_rig(secrets=OAUTH_SECRETS) as rig:
        rig.system.token_store = StoredTokens.from_env(rig.hub.store, ENV)
        rig.customer("Acme Ltd")

        result = await rig.sync(CUSTOMERS)

        assert result.status.startswith("completed"), result
        assert rig.transport.tokens.grants[0]["refresh_token"] == ["rt-initial"]
        kept = (await rig.hub.store.connection_state(CONNECTION))["tokens"]
        assert "rt-1" not in kept and "at-1" not in kept
        assert TokenCipher.from_env(ENV).decrypt(kept).refresh_token == "rt-1"


async def test_a_refused_refresh_fails_the_run_with_reauthorisation_required():
    async with qbo_rig(secrets=OAUTH_SECRETS) as rig:
        rig.system.token_store = StoredTokens.from_env(rig.hub.store, ENV)
        rig.transport.tokens.refuse = True

        result = await rig.sync(CUSTOMERS)

        assert result.status == "re-authorisation required"
        assert result.summary.startswith("re-authorisation required")
        assert rig.calls() == []
        status = await connection_status(rig.hub, CONNECTION)
        assert status["state"] == "re-authorisation required"
        activity = await rig.hub.store.activity(connection=CONNECTION)
        assert activity[0]["kind"] == "re-authorisation required"


# --- the wire: listing, faults -----------------------------------------------------------------------------------


def standalone(handler: Any) -> QuickBooks:
    """A QuickBooks system whose HTTP answers come from ``handler``."""
    connection = Connection(CONNECTION, "quickbooks", options={"realm_id": REALM}, secrets={"access_token": "token"})
    return QuickBooks(connection, httpx.AsyncClient(transport=httpx.MockTransport(handler)))


async def test_a_full_listing_pages_by_id_and_notices_a_record_deleted_between_pages(rig: QboRig):
    (customer,) = rig.seed("Customer", {"DisplayName": "Acme Ltd"})
    line = [{"Amount": 1, "DetailType": "SalesItemLineDetail"}]
    ids = rig.seed("Invoice", *({"CustomerRef": {"value": customer}, "Line": line} for _ in range(1003)))

    first = await rig.system.list_page(PageRequest("invoice"))
    rig.sim.remove("Invoice", ids[10])
    second = await rig.system.list_page(PageRequest("invoice", token=first.next_token))

    assert [r.id for r in first.records] == ids[:1000] and first.enumerates_all
    assert [r.id for r in second.records] == ids[1000:]
    assert second.next_token is None and not second.enumerates_all


async def test_cdc_past_its_cap_falls_back_to_a_query_on_last_updated_time(rig: QboRig):
    rig.seed("Customer", *({"DisplayName": f"C{n:04}"} for n in range(1001)))
    since = rig.clock.now - timedelta(hours=1)

    first = await rig.system.list_page(PageRequest("customer", since=since))
    second = await rig.system.list_page(PageRequest("customer", since=since, token=first.next_token))

    assert [c.resource for c in rig.calls()] == ["cdc", "query", "query"]
    assert len(first.records) + len(second.records) == 1001
    assert not first.enumerates_all


async def test_a_deleted_invoice_in_the_change_feed_is_a_deleted_record(rig: QboRig):
    (customer,) = rig.seed("Customer", {"DisplayName": "Acme Ltd"})
    (invoice,) = rig.seed(
        "Invoice", {"CustomerRef": {"value": customer}, "Line": [{"Amount": 1, "DetailType": "SalesItemLineDetail"}]}
    )
    since = rig.clock()
    rig.sim.remove("Invoice", invoice)

    page = await rig.system.list_page(PageRequest("work_order", since=since))

    (record,) = page.records
    assert (record.id, record.deleted, record.version) == (invoice, True, None)


DUPLICATE_NAME = {
    "Message": "Duplicate Name Exists Error",
    "Detail": "The name supplied already exists. : Id=5",
    "code": "6240",
}


@pytest.mark.parametrize(
    ("answer", "error", "says"),
    [
        (httpx.Response(503, text="upstream down"), RetriableError, "HTTP 503"),
        (httpx.Response(200, text="<html>maintenance</html>"), RecordError, "not JSON"),
        (httpx.Response(200, json={"time": "now"}), RecordError, "without a Customer that has an Id"),
        (
            httpx.Response(400, json={"Fault": {"Error": [DUPLICATE_NAME], "type": "ValidationFault"}}),
            RecordError,
            "Duplicate Name Exists Error: The name supplied already exists. : Id=5 \\(fault 6240\\)",
        ),
    ],
)
async def test_each_kind_of_answer_becomes_the_error_the_engine_expects(answer: httpx.Response, error: type, says: str):
    system = standalone(lambda _request: answer)

    with pytest.raises(error, match=says):
        await system.create("customer", {"DisplayName": "Acme Ltd"})


async def test_a_transaction_deleted_in_quickbooks_is_delinked_by_a_targeted_pull(rig: QboRig):
    acme, _acme_id = await linked_customer(rig, "Acme Ltd")
    invoice = await rig.load("invoice", "INV-1003", customer=acme.id, lines=[SALE])
    await rig.sync(Scope(entities=("invoice",), create_remote=True, record_ids=(invoice.id,)))
    remote_id = await rig.remote_id(invoice)
    assert remote_id is not None
    rig.sim.remove("Invoice", remote_id)

    result = await rig.sync(Scope(entities=("invoice",), remote_ids=(remote_id,)))

    assert await rig.remote_id(invoice) is None
    (item,) = await rig.items(result)
    assert item["reason"] == "remote record deleted in the vendor's change feed: delinked"


@pytest.mark.parametrize(("status", "ends"), [(429, "paused until"), (503, "interrupted")])
async def test_a_throttled_or_failing_quickbooks_pauses_or_interrupts_the_run(rig: QboRig, status: int, ends: str):
    rig.customer("Acme Ltd")
    rig.sim.fail_next(status)

    result = await rig.sync(CUSTOMERS)

    assert result.status.startswith(ends), result


async def test_a_read_of_a_record_quickbooks_no_longer_has_is_none(rig: QboRig):
    assert await rig.system.read("customer", "999") is None


# --- transforms ---------------------------------------------------------------------------------------------------

money = st.floats(min_value=0, max_value=10_000, allow_nan=False).map(lambda x: round(x, 2))
invoice_lines = st.lists(
    st.fixed_dictionaries(
        {"amount": money},
        optional={
            "description": st.text(min_size=1, max_size=20),
            "quantity": st.integers(1, 50),
            "unit_price": money,
            "item": st.from_regex(r"[1-9][0-9]{0,3}", fullmatch=True),
        },
    ),
    max_size=5,
)


@given(invoice_lines)
@settings(max_examples=60)
def test_invoice_lines_survive_the_trip_to_quickbooks_and_back(lines: list[dict[str, Any]]):
    transform = InvoiceLines()
    remote = transform.to_remote(lines)
    with_subtotal = [*remote, {"Amount": 1, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}]

    assert transform.to_home(with_subtotal) == lines


def test_a_bill_line_is_item_or_account_based_and_a_line_without_either_is_refused():
    transform = BillLines()
    lines = [{"item": "7", "quantity": 2, "unit_price": 4.5, "amount": 9.0}, {"account": "60", "amount": 12}]

    remote = transform.to_remote(lines)

    assert [line["DetailType"] for line in remote] == ["ItemBasedExpenseLineDetail", "AccountBasedExpenseLineDetail"]
    assert transform.to_home(remote) == lines
    with pytest.raises(RecordError, match="bill line 1 names neither an item nor an account"):
        transform.to_remote([{"amount": 3}])


def test_a_line_amount_is_worked_out_from_quantity_and_price_or_refused():
    transform = InvoiceLines()

    (line,) = transform.to_remote([{"quantity": 3, "unit_price": 2.5}])

    assert line["Amount"] == 7.5
    with pytest.raises(RecordError, match="invoice line 2 has no amount"):
        transform.to_remote([SALE, {"description": "free text"}])


# --- the conformance kit -------------------------------------------------------------------------------------------


def _seed_conformance(app: Any, _hub: Any) -> None:
    app.state.sim.seed(
        {
            "Customer": [{"DisplayName": "Acme Ltd"}, {"DisplayName": "Bolt Inc", "Active": False}],
            "Item": [{"Name": "Consulting", "UnitPrice": 75}],
        }
    )


TestQuickBooksConformance = conformance_tests(
    system="quickbooks",
    simulator=lambda: create_app(realm_id=REALM),
    secrets={"access_token": "sim-access-token"},
    options={"realm_id": REALM},
    seed=_seed_conformance,
)

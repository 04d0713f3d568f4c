"""Seed 004's QuickBooks preferences and users, through the hub's API: NC Only's default per transaction type, a
disconnected user whose changes wait for the next sync, and (seed 003 beside 004) customers created only on export.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.app import create_app
from hub.config import load_config, parse_config
from hub.contracts import CONTRACTS_DIR, problems_in
from hub.errors import ConfigError
from hub.registry import build_registry, check_options
from hub.runtime import Hub
from plugins.quickbooks.simulator import create_app as qbo_simulator
from tests import quickbooks_fixtures as qbo
from tests.plugin_api_fixtures import QboApiRig, answer, bearer, item_of, qbo_api_rig
from tests.quickbooks_fixtures import SALE
from tests.test_audit_cli_config import AnyVariable
from tests.test_plugin_options import config_with
from tests.test_push_at_once import eventually

NC_ONLY_INVOICES = {"nc_only_default": {"invoice": True}}


def doc_numbers(rig: QboApiRig, entity: str = "Invoice") -> list[str]:
    """The numbers of the transactions QuickBooks holds."""
    return sorted(row["DocNumber"] for row in rig.sim.records(entity))


# --- NC Only's default (seed 004: "You can set the default values for 'NC Only' in QuickBooks Preferences") -------


async def test_an_invoice_created_without_nc_only_takes_the_default_and_send_all_never_sends_it():
    async with qbo_api_rig(options={**NC_ONLY_INVOICES, "send_all": True}) as rig:
        acme, _ = await rig.linked_customer("Acme Ltd")
        dray = await rig.load("vendor", "Dray Ltd")
        rig.seed("Vendor", {"DisplayName": "Dray Ltd"})
        await rig.sync_now(entities=["vendor"])

        invoice = await rig.create("invoice", name="INV-1", customer=acme, lines=[SALE])
        bill = await rig.create("bill", name="BILL-1", vendor=dray.id, lines=[{"account": "60", "amount": 12}])
        result = await rig.sync_now()

        assert result["status"] == "success", result["summary"]
        assert invoice["fields"]["nc_only"] is True
        assert invoice["provenance"]["nc_only"] == {
            "system": "hub", "actor": "sam", "rule": "default from connections.qbo.options.nc_only_default"}
        assert "nc_only" not in bill["fields"]  # the table names invoices only
        assert doc_numbers(rig) == [] and doc_numbers(rig, "Bill") == ["BILL-1"]


async def test_an_nc_only_default_invoice_exported_on_request_is_not_sent_and_says_why():
    async with qbo_api_rig(options=NC_ONLY_INVOICES) as rig:
        acme, _ = await rig.linked_customer("Acme Ltd")
        invoice = await rig.create("invoice", name="INV-2", customer=acme, lines=[SALE])

        exported = await rig.export_records("invoice", invoice["id"])

        item = item_of(exported, home_id=invoice["id"])
        assert (item["action"], item["reason"]) == ("skipped", "not sent: excluded: nc_only is True")
        assert doc_numbers(rig) == []


async def test_an_explicit_nc_only_false_overrides_the_default():
    async with qbo_api_rig(options={**NC_ONLY_INVOICES, "send_all": True}) as rig:
        acme, _ = await rig.linked_customer("Acme Ltd")

        invoice = await rig.create("invoice", name="INV-3", customer=acme, lines=[SALE], nc_only=False)
        await rig.sync_now()

        assert invoice["fields"]["nc_only"] is False
        assert invoice["provenance"]["nc_only"] == {"system": "hub", "actor": "sam"}
        assert doc_numbers(rig) == ["INV-3"]


async def test_the_default_leaves_transactions_already_in_the_hub_alone():
    async with qbo_api_rig(options={**NC_ONLY_INVOICES, "send_all": True}) as rig:
        acme, _ = await rig.linked_customer("Acme Ltd")
        earlier = await rig.load("invoice", "INV-0", customer=acme, lines=[SALE])

        await rig.sync_now()

        assert "nc_only" not in (await rig.get_record(earlier.id))["fields"]
        assert doc_numbers(rig) == ["INV-0"]


async def test_without_the_option_a_new_invoice_has_no_nc_only_and_send_all_sends_it():
    async with qbo_api_rig(options={"send_all": True}) as rig:
        acme, _ = await rig.linked_customer("Acme Ltd")

        invoice = await rig.create("invoice", name="INV-4", customer=acme, lines=[SALE])
        await rig.sync_now()

        assert "nc_only" not in invoice["fields"]
        assert doc_numbers(rig) == ["INV-4"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("nc_only_default = true", r"options\.nc_only_default: must be a table, as its default \{\} is; got true"),
        ("nc_only_default = { invoce = true }",
         r"options\.nc_only_default\.invoce: no entity type 'invoce' takes a default from nc_only_default \(it gives "
         r"one to: bill, invoice, ship_doc, work_order\)"),
        ('nc_only_default = { bill = "yes" }',
         r'options\.nc_only_default\.bill: must be one of true, false, got "yes"'),
        ('create_customers = "sometimes"',
         r'options\.create_customers: must be one of "auto", "on_request", got "sometimes"'),
        ("create_customers = false", r"options\.create_customers: must be text, as its default 'auto' is; got false"),
    ],
)
def test_a_wrong_preference_in_hub_toml_is_refused_naming_its_key(tmp_path: Path, line: str, message: str):
    config = load_config(config_with(tmp_path, "quickbooks", f'realm_id = "1"\n{line}'), AnyVariable())

    with pytest.raises(ConfigError, match=rf"connections\.c\.{message}"):
        check_options(build_registry({}), config)


def test_the_preferences_as_documented_are_accepted(tmp_path: Path):
    lines = ('realm_id = "1"\ncreate_customers = "on_request"\n'
             "nc_only_default = { invoice = true, bill = false, ship_doc = true, work_order = true }")
    check_options(build_registry({}), load_config(config_with(tmp_path, "quickbooks", lines), AnyVariable()))


# --- a disconnected user (seed 004: "You set the All Orders user as disconnected under Manage Users") --------------

CONNECTED_TOKEN = "connected-token-0123456789"
DISCONNECTED_TOKEN = "disconnected-token-0123456789"


@asynccontextmanager
async def two_users() -> AsyncIterator[tuple[QboApiRig, httpx.AsyncClient, httpx.AsyncClient]]:
    """A serving hub (background work on, as ``hub serve`` runs it) over QuickBooks, with the clients of ada, an
    admin working connected, and of dee, a standard user set as disconnected."""
    clock = qbo.Clock()
    simulator = qbo_simulator(clock=clock, realm_id=qbo.REALM, verifier_token=qbo.VERIFIER_TOKEN, per_minute=100_000)
    transport = qbo.SimTransport(simulator)
    env = {**qbo.ENV, "HUB_ADA_TOKEN": CONNECTED_TOKEN, "HUB_DEE_TOKEN": DISCONNECTED_TOKEN}
    document = {
        "hub": {"database": ":memory:"},
        "users": {
            "ada": {"role": "admin", "token_env": "HUB_ADA_TOKEN"},
            "dee": {"role": "standard", "token_env": "HUB_DEE_TOKEN", "disconnected": True},
        },
        "connections": {qbo.CONNECTION: {"plugin": "quickbooks", "options": {"realm_id": qbo.REALM},
                                         "secrets": qbo.TOKEN_SECRETS}},
    }
    hub = await Hub.open(parse_config(document, env), env=env, transport_for=lambda _c: transport, clock=clock)
    hub.system(qbo.CONNECTION).clock = clock  # type: ignore[attr-defined]
    app = create_app(hub, background=True)
    to_app = httpx.ASGITransport(app=app)
    try:
        async with app.router.lifespan_context(app), \
                httpx.AsyncClient(transport=to_app, base_url="http://hub", headers=bearer(CONNECTED_TOKEN)) as ada, \
                httpx.AsyncClient(transport=to_app, base_url="http://hub", headers=bearer(DISCONNECTED_TOKEN)) as dee:
            rig = QboApiRig(hub, simulator, transport, clock)
            rig.admin, rig.standard = ada, dee
            yield rig, ada, dee
    finally:
        await hub.close()


def test_disconnected_is_read_from_hub_toml_and_must_be_true_or_false():
    users = {"dee": {"token_env": "T", "disconnected": True}, "ada": {"token_env": "T"}}
    config = parse_config({"users": users}, {"T": "token"})
    assert (config.users["dee"].disconnected, config.users["ada"].disconnected) == (True, False)

    with pytest.raises(ConfigError, match=r"users\.dee\.disconnected: must be true or false, got 'yes'"):
        parse_config({"users": {"dee": {"token_env": "T", "disconnected": "yes"}}}, {"T": "token"})


async def test_a_disconnected_users_changes_wait_in_the_queue_and_the_next_sync_flushes_them_in_order():
    async with two_users() as (rig, ada, dee):
        acme, acme_id = await rig.linked_customer("Acme Ltd")
        bolt, bolt_id = await rig.linked_customer("Bolt Inc")

        # ada works connected: her edit goes to QuickBooks at once, nobody starting a sync.
        answer(await ada.patch(f"/api/records/{bolt}", json={"fields": {"phone": "0113 496 0001"}}))

        async def bolt_pushed() -> bool:
            shown = answer(await ada.get(f"/api/records/{bolt}"))
            sent = rig.remote("Customer", bolt_id).get("PrimaryPhone") == {"FreeFormNumber": "0113 496 0001"}
            return sent and not shown["pending"]

        await eventually(bolt_pushed, "the connected user's edit never reached QuickBooks")

        # dee works disconnected: an edit and a new customer are queued, Pending Sync, and stay there.
        edited = answer(await dee.patch(f"/api/records/{acme}", json={"fields": {"email": "ap@acme.example"}}))
        created = answer(await dee.post("/api/records", json={"entity": "customer", "fields": {"name": "Cog Co"}}),
                         201)
        await asyncio.sleep(0.3)  # room for a background push, were one started

        assert (edited["pending"], created["pending"]) == (True, True)
        assert [q["op"] for q in (await rig.get_record(acme))["queued"]] == ["update"]
        assert [q["op"] for q in (await rig.get_record(created["id"]))["queued"]] == ["create"]
        assert "PrimaryEmailAddr" not in rig.remote("Customer", acme_id)
        assert rig.remote_named("Customer", "Cog Co") == []
        assert answer(await ada.get(rig.at))["queued"] == 2
        runs = answer(await ada.get("/api/runs", params={"connection": qbo.CONNECTION}))
        assert [(r["trigger"], r["actor"]) for r in runs if r["trigger"] == "queue"] == [("queue", "ada")]

        # The next sync (here a manual one; a timed one the same) flushes the queue in order.
        start = len(rig.transport.calls)
        result = await rig.sync_now(entities=["customer"])

        assert result["status"] == "success", result["summary"]
        writes = [c.json() for c in rig.transport.calls[start:] if c.resource == "customer" and c.method == "POST"]
        assert [(w.get("Id"), w.get("DisplayName")) for w in writes] == [(acme_id, None), (None, "Cog Co")]
        assert rig.remote("Customer", acme_id)["PrimaryEmailAddr"] == {"Address": "ap@acme.example"}
        assert len(rig.remote_named("Customer", "Cog Co")) == 1
        assert answer(await ada.get(rig.at))["queued"] == 0
        assert not (await rig.get_record(acme))["pending"] and not (await rig.get_record(created["id"]))["pending"]


# --- customers created automatically (seed 004) or only on export (seed 003) ------------------------------------


async def test_with_create_customers_on_request_a_new_customer_is_not_queued_and_waits_for_an_export():
    async with qbo_api_rig(options={"create_customers": "on_request"}) as rig:
        await rig.sync_now()  # the connection's first sync: customers made after it are new to the hub

        cog = await rig.create("customer", name="Cog Co", email="ap@cog.example")
        synced = await rig.sync_now()

        assert (cog["pending"], cog["queued"]) == (False, [])
        assert synced["status"] == "success", synced["summary"]
        assert rig.remote_named("Customer", "Cog Co") == []
        assert [row["home_id"] for row in await rig.links(entity="customer", show="unmatched")] == [cog["id"]]

        exported = await rig.export_records("customer", cog["id"])

        assert exported["counts"]["created"] == 1
        (sent,) = rig.remote_named("Customer", "Cog Co")
        assert sent["PrimaryEmailAddr"] == {"Address": "ap@cog.example"}


async def test_with_create_customers_on_request_a_later_edit_of_an_exported_customer_is_queued_as_before():
    async with qbo_api_rig(options={"create_customers": "on_request"}) as rig:
        await rig.sync_now()
        cog = await rig.create("customer", name="Cog Co")
        await rig.export_records("customer", cog["id"])

        edited = await rig.edit(cog["id"], phone="0113 496 0009")
        await rig.sync_now()

        assert [q["op"] for q in edited["queued"]] == ["update"]
        (sent,) = rig.remote_named("Customer", "Cog Co")
        assert sent["PrimaryPhone"] == {"FreeFormNumber": "0113 496 0009"}


async def test_by_default_a_new_customer_is_queued_and_created_at_the_next_sync():
    async with qbo_api_rig() as rig:
        await rig.sync_now()

        cog = await rig.create("customer", name="Cog Co")
        synced = await rig.sync_now()

        assert [q["op"] for q in cog["queued"]] == ["create"]
        assert synced["status"] == "success", synced["summary"]
        assert len(rig.remote_named("Customer", "Cog Co")) == 1
        assert (await rig.get_record(cog["id"]))["pending"] is False


async def test_vendors_are_still_created_automatically_with_create_customers_on_request():
    async with qbo_api_rig(options={"create_customers": "on_request"}) as rig:
        await rig.sync_now()

        await rig.create("vendor", name="Dray Ltd")
        await rig.sync_now()

        assert len(rig.remote_named("Vendor", "Dray Ltd")) == 1


# --- the contract keys behind the options -------------------------------------------------------------------------


def quickbooks_contract() -> dict[str, Any]:
    """The QuickBooks contract as data, to be spoilt by a test."""
    return copy.deepcopy(json.loads((CONTRACTS_DIR / "quickbooks.json").read_text(encoding="utf-8")))


def test_a_to_remote_option_must_be_declared_list_create_rules_and_default_to_to_remote():
    data = quickbooks_contract()
    data["options"]["create_customers"] = {"default": "on_request", "description": "x"}
    data["entities"]["vendor"]["create"]["to_remote_option"] = "create_vendors"

    problems = problems_in(Path("q.json"), data)

    assert problems == [
        "q.json: /options/create_customers/values: option 'create_customers' picks a create rule, so list the rules "
        "it may take: some of auto, on_request, never",
        "q.json: /entities/customer/create/to_remote_option: option 'create_customers' defaults to 'on_request' but "
        "to_remote is 'auto'; make them the same",
        "q.json: /entities/vendor/create/to_remote_option: option 'create_vendors' is not declared under /options",
    ]


def test_a_home_default_must_name_a_declared_table_option():
    data = quickbooks_contract()
    data["entities"]["invoice"]["home_defaults"] = {"nc_only": {"option": "send_all"}}
    data["entities"]["bill"]["home_defaults"] = {"nc_only": {"option": "nc_default"}}

    problems = problems_in(Path("q.json"), data)

    assert problems == [
        "q.json: /entities/invoice/home_defaults/nc_only/option: option 'send_all' gives defaults by entity type, so "
        "its default must be a table such as {}",
        "q.json: /entities/bill/home_defaults/nc_only/option: option 'nc_default' is not declared under /options",
    ]

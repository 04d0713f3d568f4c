"""An Invoice webhook reaches whichever home type the Invoice is: an invoice, a ship doc or a work order.

QuickBooks signs and delivers the webhook (the simulator's flush) to the hub's own app; the inbox worker then
runs the targeted pulls, each type keeping only the Invoices with its own DocNumber prefix.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hub.app import create_app
from hub.config import parse_config
from hub.engine import Scope
from hub.store import HomeRecord
from hub.workers import process_due
from plugins.quickbooks.system import QuickBooks
from tests.quickbooks_fixtures import CONNECTION, ENV, REALM, SALE, TOKEN_SECRETS, QboRig, qbo_rig


@pytest.fixture
async def rig() -> AsyncIterator[QboRig]:
    async with qbo_rig(options={"send_all": True}) as opened:
        opened.sim.webhook_url = f"http://hub.test/webhooks/{CONNECTION}"
        opened.sim.webhook_transport = httpx.ASGITransport(app=create_app(opened.hub, background=False))
        yield opened


async def recorded(rig: QboRig) -> dict[str, HomeRecord]:
    """An invoice, a shipped ship doc and a finished work order, all numbered 1001, recorded by a sync."""
    rig.customer("Acme Ltd")
    acme = await rig.load("customer", "Acme Ltd", hidden=False)
    await rig.sync(Scope(entities=("customer",)))
    documents = {
        "invoice": await rig.load("invoice", "1001", customer=acme.id, lines=[SALE]),
        "ship_doc": await rig.load("ship_doc", "1001", customer=acme.id, lines=[SALE], shipped=True),
        "work_order": await rig.load("work_order", "1001", customer=acme.id, lines=[SALE], finished=True),
    }
    await rig.sync()
    await announce(rig, "cloudevents")  # the hub's own creates come back by webhook first, and change nothing
    return documents


async def announce(rig: QboRig, fmt: str) -> list[dict[str, Any]]:
    """QuickBooks delivers its pending events, signed, and the inbox worker syncs them; the runs' items."""
    before = {run["id"] for run in await rig.hub.store.runs(connection=CONNECTION)}
    delivery = await rig.sim.flush_webhooks(fmt)  # type: ignore[arg-type]
    assert delivery["status"] == 200, delivery
    await process_due(rig.hub)
    runs = [run for run in await rig.hub.store.runs(connection=CONNECTION) if run["id"] not in before]
    assert {run["trigger"] for run in runs} == {"webhook"}
    return [item for run in runs for item in await rig.hub.store.run_items(run["id"])]


@pytest.mark.parametrize("fmt", ["legacy", "cloudevents"])
async def test_a_quickbooks_edit_to_a_ship_docs_invoice_reaches_the_ship_doc_by_webhook(rig: QboRig, fmt: str):
    documents = await recorded(rig)
    shipped_id = await rig.remote_id(documents["ship_doc"])
    assert shipped_id is not None
    others = {entity: (await rig.home(documents[entity])).fields for entity in ("invoice", "work_order")}
    rig.edit_remote("Invoice", shipped_id, Line=[{"Amount": 90.0, "DetailType": "SalesItemLineDetail"}])

    items = await announce(rig, fmt)

    assert (await rig.home(documents["ship_doc"])).fields["balance"] == 90.0
    assert {entity: (await rig.home(documents[entity])).fields for entity in others} == others
    assert [(item["entity"], item["remote_id"], item["action"]) for item in items] == [
        ("ship_doc", shipped_id, "updated")
    ]


async def test_a_work_order_deleted_in_quickbooks_is_delinked_by_webhook_and_nothing_else(rig: QboRig):
    documents = await recorded(rig)
    links = {entity: await rig.remote_id(record) for entity, record in documents.items()}
    rig.sim.remove("Invoice", links["work_order"])

    items = await announce(rig, "legacy")

    assert await rig.remote_id(documents["work_order"]) is None
    assert [await rig.remote_id(documents[entity]) for entity in ("invoice", "ship_doc")] == [
        links["invoice"],
        links["ship_doc"],
    ]
    assert [(item["entity"], item["remote_id"], item["reason"]) for item in items] == [
        ("work_order", links["work_order"], "remote record deleted in the vendor's change feed: delinked")
    ]


async def test_an_edit_to_a_plain_invoice_leaves_the_ship_doc_and_work_order_as_they_are(rig: QboRig):
    documents = await recorded(rig)
    sold_id = await rig.remote_id(documents["invoice"])
    assert sold_id is not None
    rig.edit_remote("Invoice", sold_id, Line=[{"Amount": 40.0, "DetailType": "SalesItemLineDetail"}])

    items = await announce(rig, "cloudevents")

    assert (await rig.home(documents["invoice"])).fields["balance"] == 40.0
    assert [(item["entity"], item["action"]) for item in items] == [("invoice", "updated")]
    for entity in ("ship_doc", "work_order"):
        assert await rig.remote_id(documents[entity]) is not None
        assert await rig.hub.store.unlinked_remote(CONNECTION, entity) == []


def test_an_invoice_event_names_only_the_types_the_connection_syncs():
    settings = {
        "plugin": "quickbooks",
        "options": {"realm_id": REALM},
        "secrets": TOKEN_SECRETS,
        "entities": ["customer", "invoice", "work_order"],
    }
    config = parse_config({"hub": {"database": ":memory:"}, "connections": {CONNECTION: settings}}, ENV)
    system = QuickBooks(config.connection(CONNECTION), httpx.AsyncClient())
    event = {"id": "e1", "type": "qbo.invoice.updated.v1", "intuitaccountid": REALM, "intuitentityid": "7"}

    events = system.parse_webhook(json.dumps([event]).encode(), {})

    assert [(e.entity, e.remote_id, e.event_id) for e in events] == [("invoice", "7", "e1"), ("work_order", "7", "e1")]

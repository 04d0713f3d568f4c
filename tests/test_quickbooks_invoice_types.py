"""Invoices, ship docs and work orders are all QuickBooks Invoices: each home type sees only its own."""

from __future__ import annotations

import pytest

from hub.engine import Scope
from hub.types import PageRequest
from plugins.quickbooks.doc_numbers import DocNumbers
from tests.quickbooks_fixtures import CONNECTION, SALE, QboRig, qbo_rig

TRANSACTIONS = Scope(entities=("invoice", "ship_doc", "work_order"), full=True)


@pytest.fixture
async def rig():
    async with qbo_rig() as opened:
        yield opened


@pytest.fixture
async def sending_all():
    async with qbo_rig(options={"send_all": True}) as opened:
        yield opened


async def unmatched(rig: QboRig, entity: str) -> list[str]:
    """The names on a home type's unmatched list."""
    return sorted(row["name"] for row in await rig.hub.store.unlinked_remote(CONNECTION, entity))


def invoice(customer_id: str, number: str) -> dict[str, object]:
    """An Invoice body as a QuickBooks user would key it in."""
    line = {"Amount": 5, "DetailType": "SalesItemLineDetail"}
    return {"CustomerRef": {"value": customer_id}, "DocNumber": number, "Line": [line]}


async def linked_customer(rig: QboRig) -> str:
    """A customer in both places, linked by name; returns the home record's id."""
    rig.customer("Acme Ltd")
    acme = await rig.load("customer", "Acme Ltd", hidden=False)
    await rig.sync(Scope(entities=("customer",)))
    return acme.id


async def test_an_invoice_keyed_in_quickbooks_is_unmatched_under_invoices_only(rig: QboRig):
    acme_id = rig.customer("Acme Ltd")
    rig.seed("Invoice", invoice(acme_id, "1001"), invoice(acme_id, "SD-2001"), invoice(acme_id, "WO-3001"))

    await rig.sync(TRANSACTIONS)

    assert await unmatched(rig, "invoice") == ["1001"]
    assert await unmatched(rig, "ship_doc") == ["2001"]
    assert await unmatched(rig, "work_order") == ["3001"]


async def test_documents_the_hub_records_stay_with_their_own_type_even_when_numbers_coincide(sending_all: QboRig):
    rig = sending_all
    acme = await linked_customer(rig)
    sold = await rig.load("invoice", "1001", customer=acme, lines=[SALE])
    shipped = await rig.load("ship_doc", "1001", customer=acme, lines=[SALE], shipped=True)
    finished = await rig.load("work_order", "1001", customer=acme, lines=[SALE], finished=True)

    await rig.sync()
    await rig.sync(TRANSACTIONS)

    numbers = {row["Id"]: row["DocNumber"] for row in rig.sim.records("Invoice")}
    assert sorted(numbers.values()) == ["1001", "SD-1001", "WO-1001"]
    assert [numbers[await rig.remote_id(record)] for record in (sold, shipped, finished)] == [
        "1001",
        "SD-1001",
        "WO-1001",
    ]
    for entity in ("invoice", "ship_doc", "work_order"):
        assert await unmatched(rig, entity) == []


async def test_a_targeted_invoice_pull_neither_lists_nor_deletes_a_ship_docs_invoice(rig: QboRig):
    acme_id = rig.customer("Acme Ltd")
    (shipped_id,) = rig.seed("Invoice", invoice(acme_id, "SD-2001"))

    as_invoice = await rig.system.list_page(PageRequest("invoice", ids=(shipped_id,)))
    as_ship_doc = await rig.system.list_page(PageRequest("ship_doc", ids=(shipped_id,)))

    assert as_invoice.records == []
    assert [(r.id, r.data["DocNumber"], r.deleted) for r in as_ship_doc.records] == [(shipped_id, "2001", False)]
    assert await rig.system.read("invoice", shipped_id) is None


async def test_a_ship_doc_deleted_in_quickbooks_is_delinked(sending_all: QboRig):
    rig = sending_all
    acme = await linked_customer(rig)
    shipped = await rig.load("ship_doc", "D-9", customer=acme, lines=[SALE], shipped=True)
    await rig.sync()
    remote_id = await rig.remote_id(shipped)
    assert remote_id is not None

    rig.sim.remove("Invoice", remote_id)
    await rig.sync(Scope(entities=("ship_doc",)))

    assert await rig.remote_id(shipped) is None


def test_two_types_without_a_prefix_cannot_share_an_entity():
    with pytest.raises(ValueError, match="exactly one of them may go without a DocNumber prefix, not 2"):
        DocNumbers({"invoice": "Invoice", "sales_receipt": "Invoice", "ship_doc": "Invoice"})

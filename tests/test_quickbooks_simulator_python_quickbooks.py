"""python-quickbooks, unmodified, works against the QuickBooks Online simulator served on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import uvicorn
from quickbooks.batch import batch_create, batch_update
from quickbooks.cdc import change_data_capture
from quickbooks.client import QuickBooks
from quickbooks.exceptions import ObjectNotFoundException, QuickbooksException, ValidationException
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item

from plugins.quickbooks.sim_state import QboSimulator
from plugins.quickbooks.sim_wire import PACIFIC
from plugins.quickbooks.simulator import create_app

REALM = "9341453000000000"


@dataclass
class StubAuthClient:
    """The attributes python-quickbooks reads from intuitlib's AuthClient (which fetches a discovery document)."""

    environment: str = "production"
    client_id: str = "sim-client-id"
    access_token: str = "sim-access-token"
    refresh_token: str = "sim-refresh-token"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, QboSimulator]]:
    """The simulator under uvicorn on 127.0.0.1, on a port the OS picked."""
    app = create_app(realm_id=REALM)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the simulator did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v3", app.state.sim
    server.should_exit = True
    thread.join(timeout=10)
    listener.close()


@pytest.fixture
def sim(served: tuple[str, QboSimulator]) -> QboSimulator:
    served[1].reset()
    return served[1]


@pytest.fixture
def qb(served: tuple[str, QboSimulator], sim: QboSimulator, monkeypatch: pytest.MonkeyPatch) -> QuickBooks:
    # requests-oauthlib refuses to send a token over plain http; the simulator only listens on loopback.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    client = QuickBooks(
        auth_client=StubAuthClient(), refresh_token="sim-refresh-token", company_id=REALM, minorversion=75
    )
    client.api_url_v3 = served[0]
    return client


def new_customer(name: str, **fields: object) -> Customer:
    customer = Customer()
    customer.DisplayName = name
    for field, value in fields.items():
        setattr(customer, field, value)
    return customer


def test_save_creates_and_get_reads_a_customer(qb: QuickBooks) -> None:
    saved = new_customer("Amy's Bird Sanctuary", CompanyName="Amy's").save(qb=qb)
    assert saved.Id == "1"
    assert saved.SyncToken == "0"
    read = Customer.get(saved.Id, qb=qb)
    assert (read.DisplayName, read.CompanyName, read.Active) == ("Amy's Bird Sanctuary", "Amy's", True)
    with pytest.raises(ObjectNotFoundException):
        Customer.get("999", qb=qb)


def test_all_filter_where_query_and_count(qb: QuickBooks, sim: QboSimulator) -> None:
    sim.seed({"Customer": [{"DisplayName": f"Client {n}", "CompanyName": f"Firm {n % 2}"} for n in range(1, 6)]})
    sim.seed({"Customer": [{"DisplayName": "Gone", "Active": False}]})
    assert [c.DisplayName for c in Customer.all(qb=qb)] == [f"Client {n}" for n in range(1, 6)]
    assert [c.DisplayName for c in Customer.all(order_by="DisplayName DESC", max_results=2, qb=qb)] == [
        "Client 5",
        "Client 4",
    ]
    assert [c.DisplayName for c in Customer.filter(CompanyName="Firm 0", qb=qb)] == ["Client 2", "Client 4"]
    assert [c.DisplayName for c in Customer.filter(DisplayName="Amy's", qb=qb)] == []
    where = Customer.where("Active IN (true, false)", order_by="DisplayName", start_position=1, max_results=2, qb=qb)
    assert [c.DisplayName for c in where] == ["Client 1", "Client 2"]
    assert [c.DisplayName for c in Customer.query("SELECT * FROM Customer WHERE Active = false", qb=qb)] == ["Gone"]
    assert Customer.count(qb=qb) == 5
    assert Customer.count("DisplayName LIKE 'Client%'", qb=qb) == 5


def test_item_all_sends_its_extra_sku_column(qb: QuickBooks, sim: QboSimulator) -> None:
    sim.seed({"Item": [{"Name": "Audit", "Sku": "AUD-1", "Type": "Service"}]})
    assert [(item.Name, item.Sku) for item in Item.all(qb=qb)] == [("Audit", "AUD-1")]


def test_sparse_update_changes_what_was_set(qb: QuickBooks) -> None:
    saved = new_customer("Ann", CompanyName="Ann Co", Notes="first").save(qb=qb)
    customer = Customer.get(saved.Id, qb=qb)
    customer.sparse = True
    customer.Notes = "second"
    updated = customer.save(qb=qb)
    assert (updated.SyncToken, updated.Notes, updated.CompanyName) == ("1", "second", "Ann Co")
    assert Customer.get(saved.Id, qb=qb).Notes == "second"


def test_a_stale_sync_token_raises_with_code_5010(qb: QuickBooks) -> None:
    saved = new_customer("Ann").save(qb=qb)
    mine, theirs = Customer.get(saved.Id, qb=qb), Customer.get(saved.Id, qb=qb)
    theirs.Notes = "they were first"
    theirs.save(qb=qb)
    mine.Notes = "too late"
    with pytest.raises(QuickbooksException) as caught:
        mine.save(qb=qb)
    assert caught.value.error_code == 5010
    assert caught.value.message == "Stale Object Error"


def test_a_duplicate_name_raises_a_validation_exception(qb: QuickBooks) -> None:
    new_customer("Ann").save(qb=qb)
    with pytest.raises(QuickbooksException) as caught:
        new_customer("Ann").save(qb=qb)
    assert caught.value.error_code == 6240


def test_an_invoice_built_with_python_quickbooks_objects_is_accepted(qb: QuickBooks) -> None:
    customer = new_customer("Ann").save(qb=qb)
    detail = SalesItemLineDetail()
    detail.Qty, detail.UnitPrice = 2, 50
    line = SalesItemLine()
    line.Amount, line.SalesItemLineDetail = 100, detail
    invoice = Invoice()
    invoice.CustomerRef = customer.to_ref()
    invoice.Line = [line]
    saved = invoice.save(qb=qb)
    assert (saved.TotalAmt, saved.CustomerRef.value) == (100, customer.Id)
    with pytest.raises(ValidationException):
        Invoice().save(qb=qb)


def test_change_data_capture_returns_changed_customers_and_invoices(qb: QuickBooks) -> None:
    since = datetime.now(PACIFIC) - timedelta(minutes=5)
    customer = new_customer("Ann").save(qb=qb)
    invoice = Invoice()
    invoice.CustomerRef = customer.to_ref()
    line = SalesItemLine()
    line.Amount, line.SalesItemLineDetail = 40, SalesItemLineDetail()
    invoice.Line = [line]
    invoice.save(qb=qb)
    changes = change_data_capture([Customer, Invoice], since, qb=qb)
    assert [c.DisplayName for c in changes.Customer] == ["Ann"]
    assert [i.TotalAmt for i in changes.Invoice] == [40]
    with pytest.raises(QuickbooksException):
        change_data_capture([Customer], datetime.now(PACIFIC) - timedelta(days=31), qb=qb)


def test_batch_create_and_batch_update(qb: QuickBooks) -> None:
    created = batch_create([new_customer("B1"), new_customer("B2"), new_customer("B1")], qb=qb)
    assert sorted(c.DisplayName for c in created.successes) == ["B1", "B2"]
    assert [fault.Error[0].code for fault in created.faults] == ["6240"]
    for customer in created.successes:
        customer.Notes = f"batch note for {customer.DisplayName}"
    updated = batch_update(created.successes, qb=qb)
    assert sorted(c.Notes for c in updated.successes) == ["batch note for B1", "batch note for B2"]
    assert all(c.SyncToken == "1" for c in updated.successes)

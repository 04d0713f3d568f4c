"""Seed 004: a list record deleted in the hub is made inactive in QuickBooks, which never deletes list records.

`DELETE /api/records/{id}` delinks the record and queues `{"Id", "SyncToken", "sparse": true, "Active": false}` for
its QuickBooks copy (contract `on_home_delete: deactivate`); the sync queue carries it to QuickBooks at once, or at
the next sync if QuickBooks cannot be reached.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.plugin_api_fixtures import QboApiRig, answer, item_of, qbo_api_rig
from tests.test_push_at_once import eventually, serving

LIST_RECORDS = [("customer", "Customer", "DisplayName"), ("vendor", "Vendor", "DisplayName"), ("item", "Item", "Name")]
DEACTIVATED = "deactivated in QuickBooks Online: deleted in the hub"


@pytest.fixture
async def rig() -> AsyncIterator[QboApiRig]:
    async with qbo_api_rig() as opened:
        yield opened


async def linked(rig: QboApiRig, entity: str, remote_type: str, key: str, name: str) -> tuple[str, str]:
    """A list record in both places, linked by a sync of its type; the home id and the QuickBooks Id."""
    home = await rig.load(entity, name, hidden=False)
    (remote_id,) = rig.seed(remote_type, {key: name})
    await rig.sync_now(entities=[entity])
    assert await rig.remote_id(home) == remote_id
    return home.id, remote_id


async def candidates(rig: QboApiRig, entity: str = "customer", **flags: str) -> list[dict[str, Any]]:
    """The import list of a type, as seed 003's Contact Import shows it."""
    return answer(await rig.standard.get(f"{rig.at}/import-candidates", params={"entity": entity, **flags}))


def deactivations(rig: QboApiRig, start: int = 0) -> list[dict[str, Any]]:
    """The bodies of the writes since ``start`` that made a record inactive."""
    return [c.json() for c in rig.transport.calls[start:] if c.method == "POST" and c.resource != "query"
            and c.json().get("Active") is False]


@pytest.mark.parametrize(("entity", "remote_type", "key"), LIST_RECORDS)
async def test_deleting_a_linked_list_record_makes_it_inactive_in_quickbooks_at_the_next_sync(
    rig: QboApiRig, entity: str, remote_type: str, key: str
):
    home, remote_id = await linked(rig, entity, remote_type, key, "Acme Ltd")
    token = rig.remote(remote_type, remote_id)["SyncToken"]

    deleted = answer(await rig.admin.delete(f"/api/records/{home}"))

    gone = {"connection": rig.connection, "entity": entity, "remote_id": remote_id}
    assert (deleted["delinked"], deleted["deactivating"]) == ([gone], [gone])
    shown = await rig.get_record(home)
    assert shown["links"] == []
    assert [(q["op"], q["remote_id"]) for q in shown["queued"]] == [("deactivate", remote_id)]
    assert answer(await rig.standard.get(rig.at))["queued"] == 1
    assert rig.remote(remote_type, remote_id)["Active"] is True  # nothing goes before the queue is flushed
    start = len(rig.transport.calls)

    result = await rig.sync_now()

    assert result["status"] == "success", result["summary"]
    item = item_of(result, remote_id=remote_id, entity=entity)
    assert (item["action"], item["home_id"], item["reason"]) == ("updated", home, DEACTIVATED)
    assert deactivations(rig, start) == [{"Id": remote_id, "SyncToken": token, "sparse": True, "Active": False}]
    assert rig.remote(remote_type, remote_id)["Active"] is False
    assert answer(await rig.standard.get(rig.at))["queued"] == 0
    assert (await rig.get_record(home))["queued"] == []
    assert await rig.list_records(entity) == []


async def test_a_deactivated_customer_is_no_import_candidate_unless_show_hidden_and_stays_deleted(rig: QboApiRig):
    home, remote_id = await linked(rig, "customer", "Customer", "DisplayName", "Acme Ltd")
    answer(await rig.admin.delete(f"/api/records/{home}"))
    await rig.sync_now(entities=["customer"])

    assert await candidates(rig) == []
    (row,) = await candidates(rig, show_hidden="true")
    assert (row["remote_id"], row["hidden"], row["synced"]) == (remote_id, True, False)
    assert await rig.links(entity="customer", show="unmatched") == []
    (unmatched,) = await rig.links(entity="customer", show="unmatched", show_hidden="true")
    assert (unmatched["remote_id"], unmatched["hidden"]) == (remote_id, True)

    later = await rig.sync_now(entities=["customer"], since="2020-01-01")

    assert later["status"] == "success", later["summary"]  # the deactivation the hub made is no news to report
    assert await rig.list_records("customer") == []
    assert deactivations(rig)[1:] == []  # sent once


async def test_a_serving_hub_deactivates_a_deleted_customer_at_once(rig: QboApiRig):
    home, remote_id = await linked(rig, "customer", "Customer", "DisplayName", "Acme Ltd")

    async with serving(rig.hub) as client:
        answer(await client.delete(f"/api/records/{home}"))

        async def pushed() -> list[dict[str, Any]]:
            record = answer(await client.get(f"/api/records/{home}"))
            runs = answer(await client.get("/api/runs", params={"connection": rig.connection}))
            done = rig.remote("Customer", remote_id)["Active"] is False and record["queued"] == []
            return runs if done and runs[0]["status"] != "running" else []

        runs = await eventually(pushed, "the deactivation never reached QuickBooks")

    assert (runs[0]["trigger"], runs[0]["actor"], runs[0]["status"]) == ("queue", "ada", "success")
    assert item_of(await rig.run(runs[0]["id"]), remote_id=remote_id)["reason"] == DEACTIVATED


async def test_quickbooks_down_at_delete_time_the_deactivation_waits_and_goes_at_the_next_sync(rig: QboApiRig):
    home, remote_id = await linked(rig, "customer", "Customer", "DisplayName", "Acme Ltd")
    rig.transport.offline = True

    async with serving(rig.hub) as client:
        answer(await client.delete(f"/api/records/{home}"))

        async def tried() -> list[dict[str, Any]]:
            queued = answer(await client.get(f"/api/records/{home}"))["queued"]
            return queued if queued and queued[0]["attempts"] else []

        (waiting,) = await eventually(tried, "the push was never tried")

    assert (waiting["op"], waiting["remote_id"]) == ("deactivate", remote_id)
    assert "cannot be reached" in waiting["last_error"]
    assert rig.remote("Customer", remote_id)["Active"] is True

    rig.transport.offline = False
    result = await rig.sync_now()

    assert result["status"] == "success", result["summary"]
    assert item_of(result, remote_id=remote_id)["reason"] == DEACTIVATED
    assert rig.remote("Customer", remote_id)["Active"] is False
    assert answer(await rig.standard.get(rig.at))["queued"] == 0


async def test_a_stale_sync_token_is_reread_and_the_deactivation_sent_again(rig: QboApiRig):
    home, remote_id = await linked(rig, "customer", "Customer", "DisplayName", "Acme Ltd")
    answer(await rig.admin.delete(f"/api/records/{home}"))
    rig.transport.before_write = lambda _call: rig.edit_remote("Customer", remote_id, Notes="typed in QuickBooks")

    result = await rig.sync_now(entities=["customer"])

    assert result["status"] == "success", result["summary"]
    assert item_of(result, remote_id=remote_id)["reason"] == DEACTIVATED
    stored = rig.remote("Customer", remote_id)
    assert (stored["Active"], stored["Notes"]) == (False, "typed in QuickBooks")
    first, second = deactivations(rig)
    assert int(second["SyncToken"]) == int(first["SyncToken"]) + 1


async def test_a_refused_deactivation_is_a_failed_item_and_stays_queued_for_the_next_sync(rig: QboApiRig):
    home, remote_id = await linked(rig, "customer", "Customer", "DisplayName", "Acme Ltd")
    answer(await rig.admin.delete(f"/api/records/{home}"))
    rig.sim.fail_next(400, 1)

    refused = await rig.sync_now(entities=["customer"])

    assert refused["status"] == "completed with 1 error", refused["summary"]
    failed = item_of(refused, action="failed")
    assert (failed["remote_id"], failed["home_id"]) == (remote_id, home)
    assert failed["reason"].startswith("not deactivated in QuickBooks Online: QuickBooks Online refused the request")
    (waiting,) = (await rig.get_record(home))["queued"]
    assert (waiting["op"], waiting["attempts"]) == ("deactivate", 1) and waiting["last_error"] == failed["error"]
    assert rig.remote("Customer", remote_id)["Active"] is True

    again = await rig.sync_now(entities=["customer"])

    assert again["status"] == "success", again["summary"]
    assert rig.remote("Customer", remote_id)["Active"] is False


async def test_deleting_an_invoice_only_delinks_it_and_quickbooks_keeps_the_transaction(rig: QboApiRig):
    customer, _ = await linked(rig, "customer", "Customer", "DisplayName", "Acme Ltd")
    invoice = await rig.create("invoice", name="INV-7", customer=customer,
                               lines=[{"description": "Widgets", "amount": 10}])
    exported = await rig.export_records("invoice", invoice["id"])
    remote_id = item_of(exported, home_id=invoice["id"])["remote_id"]

    deleted = answer(await rig.admin.delete(f"/api/records/{invoice['id']}"))

    assert deleted["deactivating"] == [] and (await rig.get_record(invoice["id"]))["queued"] == []
    later = await rig.sync_now()
    assert item_of(later, remote_id=remote_id, entity="invoice")["reason"] == (
        "delinked by a person: link it by hand or import it")
    assert rig.remote("Invoice", remote_id).get("status") != "Deleted"
    assert deactivations(rig) == []


async def test_a_dry_run_plans_the_deactivation_and_sends_nothing(rig: QboApiRig):
    home, remote_id = await linked(rig, "customer", "Customer", "DisplayName", "Acme Ltd")
    answer(await rig.admin.delete(f"/api/records/{home}"))

    planned = await rig.sync_now(entities=["customer"], dry_run=True)

    assert item_of(planned, remote_id=remote_id, action="updated")["reason"] == DEACTIVATED
    assert rig.remote("Customer", remote_id)["Active"] is True
    assert answer(await rig.standard.get(rig.at))["queued"] == 1

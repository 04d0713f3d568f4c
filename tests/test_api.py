"""The JSON API as a person or a front end uses it, over the in-memory test system."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from hub import inbox
from hub.openapi import walk_routes
from hub.runs import start_run
from hub.store import iso
from hub.types import WebhookEvent
from tests.api_fixtures import ApiRig, open_rig


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[ApiRig]:
    async with open_rig(tmp_path) as opened:
        yield opened


async def linked_ada(rig: ApiRig) -> tuple[str, str]:
    """A home contact linked by name to a remote one; their ids."""
    home = await rig.home(name="Ada Lovelace", email="ada@home.example")
    remote_id = rig.remote.add("contact", {"Name": "Ada Lovelace", "Title": "Countess"})
    await rig.sync(entities=["contact"])
    return home.id, remote_id


# --- connections ------------------------------------------------------------------------------------------------


async def test_connections_list_their_plugin_schedule_entity_types_and_idle_state(rig: ApiRig):
    response = await rig.standard.get("/api/connections")
    assert response.status_code == 200
    rows = {row["connection"]: row for row in response.json()}
    assert set(rows) == {"careful", "mem", "mem2"}
    assert rows["mem"] | {"detail": ""} == {
        "connection": "mem",
        "plugin": "memory",
        "system": "Memory",
        "schedule": "15m",
        "state": "idle",
        "detail": "",
        "entities": ["contact", "staff", "item"],
    }
    assert rows["mem2"]["entities"] == ["contact"]


async def test_a_connection_shows_when_it_is_paused_needs_reauthorisation_or_runs(rig: ApiRig):
    until = rig.clock() + timedelta(minutes=30)
    await rig.hub.store.set_connection_state("mem", paused_until=iso(until), pause_reason="rate limit reached")
    await rig.hub.store.set_connection_state("mem2", reauth_required="the refresh token was refused")
    await start_run(
        rig.hub.store,
        connection="careful",
        entities=["contact"],
        trigger="manual",
        actor="ada",
        scope={},
        dry_run=False,
        now=rig.clock(),
    )
    rows = {row["connection"]: row for row in (await rig.admin.get("/api/connections")).json()}
    assert rows["mem"]["state"] == f"paused until {until.isoformat()}"
    assert rows["mem"]["detail"] == "rate limit reached"
    assert rows["mem2"]["state"] == "re-authorisation required"
    assert rows["careful"]["state"] == "running"


async def test_one_connection_shows_its_options_queue_and_last_run(rig: ApiRig):
    await rig.admin.post("/api/records", json={"entity": "contact", "fields": {"name": "Queued"}})
    response = await rig.admin.get("/api/connections/careful")
    assert response.status_code == 200
    body = response.json()
    assert body["options"] == {"refuse_first_sync_into_empty_home": True}
    assert (body["queued"], body["last_run"]) == (1, None)
    missing = await rig.admin.get("/api/connections/nope")
    assert missing.status_code == 404
    assert "no connection named 'nope'" in missing.json()["error"]


# --- manual syncs -----------------------------------------------------------------------------------------------


async def test_an_admin_syncs_a_connection_and_gets_every_decision_with_its_reason(rig: ApiRig):
    await rig.home(name="Ada Lovelace", email="ada@home.example")
    rig.remote.add("contact", {"Name": "ada lovelace", "Title": "Countess"})
    rig.remote.add("contact", {"Name": "Bob Remote"})
    result = await rig.sync()
    assert result["status"] == "completed with 1 skipped"
    assert result["run_id"] == 1 and result["dry_run"] is False
    by_name = {item["name"]: item for item in result["items"]}
    assert by_name["Ada Lovelace"]["action"] == "updated"
    assert "linked: exact name" in by_name["Ada Lovelace"]["reason"]
    assert by_name["Bob Remote"]["action"] == "skipped"
    assert rig.remote.by_name("contact", "ada lovelace")["Email"] == "ada@home.example"


async def test_every_manual_sync_request_is_logged_naming_who_asked(rig: ApiRig):
    home = await rig.home(name="Ada")
    await rig.sync(entities=["contact"])
    await rig.standard.post("/api/connections/mem/sync", json={"record_ids": [home.id]})
    activity = (await rig.admin.get("/api/activity?connection=mem")).json()
    requests = [(entry["actor"], entry["message"]) for entry in activity if entry["kind"] == "sync requested"]
    assert requests == [
        ("sam", "sam asked for a sync of mem (contact)"),
        ("ada", "ada asked for a sync of mem (contact)"),
    ]
    runs = (await rig.admin.get("/api/runs?connection=mem")).json()
    assert [(run["actor"], run["trigger"]) for run in runs] == [("sam", "manual"), ("ada", "manual")]


async def test_a_standard_user_syncs_one_record_and_only_that_record(rig: ApiRig):
    home_id, remote_id = await linked_ada(rig)
    rig.remote.add("contact", {"Name": "Someone Else"})
    rig.clock.tick()
    rig.remote.edit("contact", remote_id, {"Email": "changed@remote.example"})
    response = await rig.standard.post("/api/connections/mem/sync", json={"record_ids": [home_id]})
    assert response.status_code == 200, response.text
    assert [(item["remote_id"], item["action"]) for item in response.json()["items"]] == [(remote_id, "updated")]
    assert rig.remote.get("contact", remote_id)["Email"] == "ada@home.example"  # later syncs: the hub's wins
    unmatched = (await rig.admin.get("/api/connections/mem/links?show=unmatched")).json()
    assert "Someone Else" not in [row["remote_name"] for row in unmatched]


async def test_a_dry_run_answers_the_plan_and_writes_nothing(rig: ApiRig):
    await rig.home(name="Ada", email="ada@example")
    rig.remote.add("contact", {"Name": "Ada", "Title": "Dr"})
    result = await rig.sync(dry_run=True)
    assert result["run_id"] is None and result["dry_run"] is True
    assert [item["action"] for item in result["items"]] == ["updated"]
    assert (await rig.admin.get("/api/runs")).json() == []
    assert "Email" not in rig.remote.by_name("contact", "Ada")


async def test_a_sync_while_another_runs_is_refused_with_409(rig: ApiRig):
    await start_run(
        rig.hub.store,
        connection="mem",
        entities=["contact"],
        trigger="timer",
        actor="scheduler",
        scope={},
        dry_run=False,
        now=rig.clock(),
    )
    response = await rig.admin.post("/api/connections/mem/sync", json={"entities": ["contact"]})
    assert response.status_code == 409
    assert "already in progress (run 1)" in response.json()["error"]


async def test_a_first_sync_into_an_empty_hub_is_refused_until_allowed(rig: ApiRig):
    rig.remote.add("contact", {"Name": "Ada"})
    refused = await rig.admin.post("/api/connections/careful/sync", json={"entities": ["contact"]})
    assert refused.status_code == 409
    assert refused.json()["error"].startswith("refusing the first sync of careful")
    assert refused.json()["run"]["status"] == "refused"
    allowed = await rig.admin.post(
        "/api/connections/careful/sync", json={"entities": ["contact"], "allow_empty_home": True}
    )
    assert allowed.status_code == 200 and allowed.json()["status"] == "completed with 1 skipped"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"entities": ["invoice"]}, "entities: mem does not sync 'invoice'"),
        ({"mode": "sideways"}, "mode: 'sideways' is not one of"),
        ({"since": "last tuesday"}, "since: not a date or time"),
        ({"dry_run": "yes"}, "dry_run: 'yes' is not of type 'boolean'"),
        ({"record_ids": [7]}, "record_ids/0: 7 is not of type 'string'"),
        ({"colour": "red"}, "'colour' was unexpected"),
        ({"remote_ids": ["R1"]}, "entities: name the entity type the remote_ids belong to"),
        ({"entities": ["item"], "fields": ["email"]}, "fields: 'email' is not synced by mem (synced: price)"),
    ],
)
async def test_a_sync_request_with_bad_input_is_a_400_naming_the_field(rig: ApiRig, body: dict, named: str):
    response = await rig.admin.post("/api/connections/mem/sync", json=body)
    assert response.status_code == 400
    assert named in response.json()["error"]


async def test_a_body_that_is_not_a_json_object_is_a_400(rig: ApiRig):
    for content in (b"{not json", b"[1, 2]", b""):
        response = await rig.admin.post("/api/connections/mem/sync", content=content)
        assert response.status_code == 400, content
        assert response.json()["error"].startswith("body:")


async def test_syncing_records_that_do_not_exist_is_a_404(rig: ApiRig):
    response = await rig.admin.post("/api/connections/mem/sync", json={"record_ids": ["nope"]})
    assert response.status_code == 404
    assert "record_ids: no home record 'nope'" in response.json()["error"]


async def test_a_sync_since_a_date_only_lists_what_changed_since(rig: ApiRig):
    rig.remote.add("contact", {"Name": "Old"}, modified=rig.clock() - timedelta(days=30))
    rig.remote.add("contact", {"Name": "New"})
    since = (rig.clock() - timedelta(days=1)).date().isoformat()
    result = await rig.sync(entities=["contact"], since=since)
    assert [item["name"] for item in result["items"]] == ["New"]


# --- runs ---------------------------------------------------------------------------------------------------------


async def test_runs_are_listed_newest_first_and_shown_with_their_items(rig: ApiRig):
    await linked_ada(rig)
    await rig.sync(entities=["staff"])
    runs = (await rig.admin.get("/api/runs?limit=1")).json()
    assert [run["id"] for run in runs] == [2]
    shown = (await rig.admin.get("/api/runs/1")).json()
    assert shown["entities"] == ["contact"] and shown["actor"] == "ada"
    assert [item["name"] for item in shown["items"]] == ["Ada Lovelace"]
    for path in ("/api/runs/99", "/api/runs/abc"):
        response = await rig.admin.get(path)
        assert response.status_code == 404 and "no run" in response.json()["error"]


async def test_run_list_filters_are_checked(rig: ApiRig):
    assert (await rig.admin.get("/api/runs?limit=0")).json()["error"] == "limit: 0 is less than the minimum of 1"
    assert "limit: must be a whole number" in (await rig.admin.get("/api/runs?limit=ten")).json()["error"]
    assert (await rig.admin.get("/api/runs?connection=nope")).status_code == 404


# --- links ----------------------------------------------------------------------------------------------------------


async def test_the_links_list_filters_by_state_and_searches_names(rig: ApiRig):
    await linked_ada(rig)
    rig.remote.add("contact", {"Name": "Only Remote"})
    await rig.home(entity="item", name="Only At Home")
    await rig.sync(entities=["contact"])

    async def rows(query: str) -> list[tuple[str, str]]:
        response = await rig.standard.get(f"/api/connections/mem/links?{query}")
        assert response.status_code == 200, response.text
        return sorted((row["state"], row["home_name"] or row["remote_name"]) for row in response.json())

    assert await rows("entity=contact&show=linked") == [("linked (matched)", "Ada Lovelace")]
    assert await rows("entity=contact&show=unmatched") == [("unmatched remote", "Only Remote")]
    assert await rows("search=only") == [("unmatched home", "Only At Home"), ("unmatched remote", "Only Remote")]
    assert len(await rows("")) == 3
    bad = await rig.standard.get("/api/connections/mem/links?show=sideways")
    assert bad.status_code == 400 and bad.json()["error"].startswith("show:")


async def test_a_record_shared_by_several_names_waits_in_the_review_queue(rig: ApiRig):
    await rig.home(name="Sam Smith", email="a@example")
    await rig.home(name="sam smith", email="b@example")
    rig.remote.add("contact", {"Name": "SAM SMITH"})
    await rig.sync(entities=["contact"])
    (row,) = (await rig.admin.get("/api/connections/mem/links?show=review")).json()
    assert row["state"] == "review" and len(row["candidates"]) == 2


async def test_linking_by_hand_syncs_the_pair_under_the_first_sync_rules(rig: ApiRig):
    home = await rig.home(name="Ada Lovelace", title="Dr")
    remote_id = rig.remote.add("contact", {"Name": "A. Lovelace", "Email": "ada@remote.example", "Title": "Ms"})
    response = await rig.admin.post(
        "/api/connections/mem/links", json={"entity": "contact", "home_id": home.id, "remote_id": remote_id}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["link"]["how"] == "manual" and body["link"]["remote_name"] == "A. Lovelace"
    assert body["run"]["status"] == "success"
    shown = (await rig.admin.get(f"/api/records/{home.id}")).json()
    assert shown["fields"]["email"] == "ada@remote.example"  # blank at home: filled
    assert rig.remote.get("contact", remote_id)["Title"] == "Dr"  # both had one: the hub's overwrote
    activity = (await rig.admin.get("/api/activity")).json()
    assert any(entry["kind"] == "link" and entry["actor"] == "ada" for entry in activity)


async def test_linking_refuses_records_already_linked_or_missing(rig: ApiRig):
    home_id, remote_id = await linked_ada(rig)
    other = await rig.home(name="Other")
    spare = rig.remote.add("contact", {"Name": "Spare"})
    cases = [
        ({"home_id": home_id, "remote_id": spare}, 409, "already linked on mem; delink it first"),
        ({"home_id": other.id, "remote_id": remote_id}, 409, "already linked on mem; delink it first"),
        ({"home_id": "nope", "remote_id": spare}, 404, "home_id: no home contact with id 'nope'"),
        ({"home_id": other.id, "remote_id": "R999"}, 404, "remote_id: mem has no contact with id 'R999'"),
        ({"home_id": other.id}, 400, "'remote_id' is a required property"),
    ]
    for body, status, message in cases:
        response = await rig.admin.post("/api/connections/mem/links", json={"entity": "contact", **body})
        assert (response.status_code, message in response.json()["error"]) == (status, True), response.text


async def test_delinking_keeps_both_records_and_stops_their_sync(rig: ApiRig):
    home_id, remote_id = await linked_ada(rig)
    response = await rig.admin.delete(f"/api/connections/mem/links/contact/{home_id}")
    assert response.status_code == 200
    assert (response.json()["home_id"], response.json()["remote_id"]) == (home_id, remote_id)
    assert (await rig.admin.get(f"/api/records/{home_id}")).json()["links"] == []
    assert remote_id in rig.remote.records["contact"]
    again = await rig.admin.delete(f"/api/connections/mem/links/contact/{home_id}")
    assert again.status_code == 404


# --- import, export, pull, newest ---------------------------------------------------------------------------------


async def test_importing_creates_remote_only_records_at_home(rig: ApiRig):
    await rig.home(name="Keeps The Hub Busy")
    remote_id = rig.remote.add("contact", {"Name": "Nobody Here", "Email": "n@example"})
    rig.remote.add("contact", {"Name": "Not Asked For"})
    await rig.sync(entities=["contact"])
    response = await rig.admin.post(
        "/api/connections/mem/import", json={"entity": "contact", "remote_ids": [remote_id]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["counts"]["created"] == 1
    records = (await rig.admin.get("/api/records?entity=contact&search=nobody")).json()
    assert [(r["name"], r["fields"]["email"]) for r in records] == [("Nobody Here", "n@example")]
    assert (await rig.admin.get("/api/records?entity=contact&search=asked")).json() == []


async def test_import_and_export_are_refused_where_the_contract_never_creates(rig: ApiRig):
    item = await rig.home(entity="item", name="Widget")
    staff = await rig.home(entity="staff", name="Sam")
    refused_import = await rig.admin.post("/api/connections/mem/import", json={"entity": "item", "remote_ids": ["R1"]})
    assert refused_import.status_code == 409 and "never creates item records in the hub" in refused_import.text
    refused_export = await rig.admin.post(
        "/api/connections/mem/export", json={"entity": "staff", "record_ids": [staff.id]}
    )
    assert refused_export.status_code == 409 and "never creates staff records in Memory" in refused_export.text
    wrong_type = await rig.admin.post(
        "/api/connections/mem/export", json={"entity": "contact", "record_ids": [item.id]}
    )
    assert wrong_type.status_code == 404 and "record_ids: no home contact" in wrong_type.text
    empty = await rig.admin.post("/api/connections/mem/import", json={"entity": "contact", "remote_ids": []})
    assert empty.status_code == 400 and empty.json()["error"].startswith("remote_ids:")


async def test_exporting_creates_home_only_records_remotely_and_links_them(rig: ApiRig):
    widget = await rig.home(entity="item", name="Widget", price=12)
    await rig.home(entity="item", name="Not Exported", price=1)
    response = await rig.admin.post("/api/connections/mem/export", json={"entity": "item", "record_ids": [widget.id]})
    assert response.status_code == 200, response.text
    assert response.json()["counts"]["created"] == 1
    assert [(r["Name"], r["Price"]) for r in rig.remote.records["item"].values()] == [("Widget", 12)]
    (link,) = (await rig.admin.get(f"/api/records/{widget.id}")).json()["links"]
    assert (link["connection"], link["how"]) == ("mem", "created")


async def test_pull_overwrites_the_home_record_with_the_systems_values(rig: ApiRig):
    home_id, remote_id = await linked_ada(rig)
    rig.clock.tick()
    rig.remote.edit("contact", remote_id, {"Email": "new@remote.example"})
    # A normal sync keeps the hub's email (later syncs never overwrite it at home) ...
    await rig.sync(entities=["contact"])
    assert (await rig.admin.get(f"/api/records/{home_id}")).json()["fields"]["email"] == "ada@home.example"
    rig.clock.tick()
    rig.remote.edit("contact", remote_id, {"Email": "newer@remote.example"})
    # ... a pull, asked for by anyone, takes the system's.
    response = await rig.standard.post(f"/api/connections/mem/records/{home_id}/pull")
    assert response.status_code == 200, response.text
    shown = (await rig.admin.get(f"/api/records/{home_id}")).json()
    assert shown["fields"]["email"] == "newer@remote.example"
    assert shown["provenance"]["email"]["system"] == "mem"


async def test_newest_takes_the_side_changed_last(rig: ApiRig):
    home_id, remote_id = await linked_ada(rig)
    rig.clock.tick()
    await rig.admin.patch(f"/api/records/{home_id}", json={"fields": {"title": "Professor"}})
    rig.clock.tick()
    rig.remote.edit("contact", remote_id, {"Title": "Countess of Lovelace"})
    response = await rig.standard.post(f"/api/connections/mem/records/{home_id}/newest")
    assert response.status_code == 200, response.text
    assert (await rig.admin.get(f"/api/records/{home_id}")).json()["fields"]["title"] == "Countess of Lovelace"


async def test_pull_of_a_record_that_is_not_linked_or_not_there_is_refused(rig: ApiRig):
    alone = await rig.home(name="Alone")
    not_linked = await rig.admin.post(f"/api/connections/mem/records/{alone.id}/pull")
    assert not_linked.status_code == 409 and "is not linked on mem" in not_linked.json()["error"]
    missing = await rig.admin.post("/api/connections/mem/records/nope/newest")
    assert missing.status_code == 404
    item = await rig.home(entity="item", name="Widget")
    elsewhere = await rig.admin.post(f"/api/connections/mem2/records/{item.id}/pull")
    assert elsewhere.status_code == 409 and "mem2 does not sync 'item'" in elsewhere.json()["error"]


# --- records -------------------------------------------------------------------------------------------------------


async def test_a_record_made_in_the_hub_is_pending_and_queued_for_every_connection_that_creates_it(rig: ApiRig):
    response = await rig.standard.post(
        "/api/records", json={"entity": "contact", "fields": {"name": "New Here", "email": "n@x"}}
    )
    assert response.status_code == 201, response.text
    record = response.json()
    assert record["pending"] is True
    assert sorted(q["connection"] for q in record["queued"]) == ["careful", "mem", "mem2"]
    assert {q["op"] for q in record["queued"]} == {"create"}
    assert record["provenance"]["email"] == {"system": "hub", "actor": "sam"}
    await rig.sync(entities=["contact"])
    assert rig.remote.by_name("contact", "New Here")["Email"] == "n@x"
    after = (await rig.admin.get(f"/api/records/{record['id']}")).json()
    assert [q["connection"] for q in after["queued"]] == ["careful", "mem2"]
    assert after["pending"] is True


async def test_records_of_types_no_connection_writes_remotely_are_not_queued(rig: ApiRig):
    staff = await rig.admin.post("/api/records", json={"entity": "staff", "fields": {"name": "Sam"}})
    assert (staff.json()["pending"], staff.json()["queued"]) == (False, [])
    item = await rig.admin.post("/api/records", json={"entity": "item", "fields": {"name": "Widget"}})
    assert (item.json()["pending"], item.json()["queued"]) == (False, [])  # items go out by export only


async def test_editing_a_record_queues_the_change_where_it_syncs_and_marks_it_pending(rig: ApiRig):
    home_id, remote_id = await linked_ada(rig)
    rig.clock.tick()
    response = await rig.standard.patch(f"/api/records/{home_id}", json={"fields": {"title": "Professor"}})
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["pending"] is True and record["fields"]["title"] == "Professor"
    assert sorted((q["connection"], q["op"], tuple(q["fields"])) for q in record["queued"]) == [
        ("careful", "update", ("title",)),
        ("mem", "update", ("title",)),
        ("mem2", "update", ("title",)),
    ]
    await rig.sync(entities=["contact"])
    assert rig.remote.get("contact", remote_id)["Title"] == "Professor"


async def test_edits_of_an_item_go_only_where_it_is_linked(rig: ApiRig):
    widget = await rig.home(entity="item", name="Widget", price=12)
    await rig.admin.post("/api/connections/mem/export", json={"entity": "item", "record_ids": [widget.id]})
    rig.clock.tick()
    record = (await rig.admin.patch(f"/api/records/{widget.id}", json={"fields": {"price": 15}})).json()
    assert [q["connection"] for q in record["queued"]] == ["mem"]


async def test_record_requests_are_checked(rig: ApiRig):
    cases = [
        ("post", "/api/records", {"entity": "invoice", "fields": {}}, 400, "entity: no connection syncs 'invoice'"),
        ("post", "/api/records", {"entity": "contact", "fields": {"Bad Name": 1}}, 400, "fields:"),
        ("post", "/api/records", {"entity": "contact", "fields": {"name": 5}}, 400, "fields/name:"),
        ("patch", "/api/records/nope", {"fields": {"name": "x"}}, 404, "no home record with id 'nope'"),
        ("patch", "/api/records/nope", {"fields": {}}, 400, "fields:"),
    ]
    for method, path, body, status, message in cases:
        response = await rig.admin.request(method.upper(), path, json=body)
        assert response.status_code == status, (body, response.text)
        assert message in response.json()["error"], response.text
    assert (await rig.admin.get("/api/records")).json()["error"] == "entity: required"
    assert (await rig.admin.get("/api/records/nope")).status_code == 404


async def test_records_are_listed_by_name_and_searched(rig: ApiRig):
    for name in ("Carl", "ada", "Bob"):
        await rig.home(name=name)
    names = [r["name"] for r in (await rig.standard.get("/api/records?entity=contact")).json()]
    assert names == ["ada", "Bob", "Carl"]
    page = (await rig.standard.get("/api/records?entity=contact&limit=1&offset=1")).json()
    assert [r["name"] for r in page] == ["Bob"]
    assert [r["name"] for r in (await rig.standard.get("/api/records?entity=contact&search=AR")).json()] == ["Carl"]


# --- report, inbox, plugins ---------------------------------------------------------------------------------------


async def test_the_report_lists_linked_pairs_side_by_side_as_csv(rig: ApiRig):
    await linked_ada(rig)
    response = await rig.standard.get("/api/connections/mem/report.csv?entity=contact")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="mem-contact-links.csv"' in response.headers["content-disposition"]
    header, row = list(csv.reader(io.StringIO(response.text)))
    assert header[0] == "Hub Contact Name" and "Memory Contact Primary Email" in header
    assert row[0] == "Ada Lovelace" and "ada@home.example" in row
    assert (await rig.standard.get("/api/connections/mem/report.csv")).json()["error"] == "entity: required"


async def test_admins_list_the_inbox_and_replay_a_dead_event(rig: ApiRig):
    await inbox.accept(rig.hub.store, "mem", [WebhookEvent("contact", "R1", "update", "ev-1")], b"{}", at=rig.clock())
    (event,) = await inbox.claim(rig.hub.store, at=rig.clock())
    await inbox.fail(rig.hub.store, [{**event, "attempts": inbox.MAX_ATTEMPTS}], "boom", at=rig.clock())
    (dead,) = (await rig.admin.get("/api/inbox?status=dead")).json()
    assert (dead["remote_id"], dead["last_error"]) == ("R1", "boom")
    replayed = await rig.admin.post(f"/api/inbox/{dead['id']}/replay")
    assert replayed.status_code == 200 and replayed.json() == {"id": dead["id"], "status": "pending"}
    assert (await rig.admin.get("/api/inbox?status=dead")).json() == []
    again = await rig.admin.post(f"/api/inbox/{dead['id']}/replay")
    assert again.status_code == 409 and "is pending" in again.json()["error"]
    assert (await rig.admin.post("/api/inbox/999/replay")).status_code == 404


async def test_plugins_are_listed_with_their_entity_types(rig: ApiRig):
    plugins = {row["name"]: row for row in (await rig.standard.get("/api/plugins")).json()}
    assert plugins["memory"]["entities"] == ["contact", "item", "staff"]
    assert plugins["memory"]["status"] == "ok"


# --- the OpenAPI document -------------------------------------------------------------------------------------------


async def test_the_openapi_document_has_every_route_of_the_app_and_nothing_else(rig: ApiRig):
    document = (await rig.admin.get("/openapi.json")).json()
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    served = {(method, path) for method, path, _route in walk_routes(rig.app.routes)}
    assert documented == served
    assert ("POST", "/webhooks/{connection}") in documented and ("GET", "/api/plugins") in documented


async def test_the_openapi_document_says_which_routes_need_a_token_and_which_are_for_admins(rig: ApiRig):
    document = (await rig.admin.get("/openapi.json")).json()
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    paths = document["paths"]
    for path, method in (("/healthz", "get"), ("/webhooks/{connection}", "post"), ("/openapi.json", "get")):
        assert paths[path][method]["security"] == [], path
        assert "401" not in paths[path][method]["responses"] or path.startswith("/webhooks")
    for path, item in paths.items():
        for operation in item.values():
            if path.startswith("/api/"):
                assert "security" not in operation and "401" in operation["responses"], path
    replay = paths["/api/inbox/{id}/replay"]["post"]
    assert replay["x-roles"] == ["admin"] and "403" in replay["responses"]
    assert paths["/api/records"]["post"]["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "entity",
        "fields",
    ]

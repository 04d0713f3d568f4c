"""The built-in plugins' contracts: they validate, they say what the seed documents say, and bad ones are refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.contracts import CONTRACTS_DIR, Contract, EntityContract, load_contract, problems_in
from hub.errors import ContractError
from hub.merge import Side, decide, writes
from hub.transforms import build_transform
from hub.types import Phase

TRANSFORMS = frozenset({"karbon_address", "qbo_lines", "qbo_bill_lines", "enterprise_components", "xpm_custom_fields"})
"""Every plugin transform the built-in contracts name."""

VERIFIERS = frozenset({"intuit-signature", "karbon-signature", "standard-webhooks"})

BUILT_IN = ("enterprise", "intuit_pm", "quickbooks", "xpm")
RULES = ("never", "fill_blank", "overwrite", "newest", "mirror")

# The pairs docs/contracts.md allows: each write needs something the other rules out.
ALLOWED_PAIRS = (
    {("fill_blank", "fill_blank"), ("newest", "newest"), ("fill_blank", "overwrite"), ("overwrite", "fill_blank")}
    | {(r, "never") for r in RULES}
    | {("never", r) for r in RULES}
)

EARLIER = datetime(2026, 1, 1, tzinfo=UTC)
LATER = EARLIER + timedelta(hours=1)


def load(plugin: str) -> Contract:
    """A built-in contract, loaded the way the hub loads it."""
    return load_contract(CONTRACTS_DIR / f"{plugin}.json", transforms=TRANSFORMS, verifiers=VERIFIERS)


def outcome(
    entity: EntityContract,
    home_field: str,
    phase: Phase,
    home: Any,
    remote: Any,
    home_at: datetime | None = EARLIER,
    remote_at: datetime | None = EARLIER,
) -> tuple[str | None, Any]:
    """Which way one field's value travels under the contract, and the value it ends with."""
    mapping = entity.name_sync if home_field == "name" else entity.field(home_field)
    assert mapping is not None
    rules = mapping.rules(phase)
    decision = decide(home_field, phase, rules.to_home, rules.to_remote, Side(home, home_at), Side(remote, remote_at))
    return decision.direction, decision.after


def write_contract(tmp_path: Path, data: Any) -> Path:
    """Write a contract document to a file and return its path."""
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def raw(plugin: str) -> dict[str, Any]:
    """A fresh copy of a built-in contract's JSON, to mutate."""
    return json.loads((CONTRACTS_DIR / f"{plugin}.json").read_text(encoding="utf-8"))


# --- every contract validates -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", sorted(p for p in CONTRACTS_DIR.glob("*.json") if p.name != "contract.schema.json"), ids=lambda p: p.stem
)
def test_every_contract_in_the_contracts_folder_validates(path: Path):
    contract = load_contract(path, transforms=TRANSFORMS, verifiers=VERIFIERS)
    assert contract.plugin == path.stem


def test_each_built_in_plugin_has_its_contract():
    assert {p.stem for p in CONTRACTS_DIR.glob("*.json")} >= set(BUILT_IN)


def test_built_in_contracts_name_only_the_transforms_the_plugins_register():
    named = {
        mapping.transform["name"]
        for plugin in BUILT_IN
        for entity in load(plugin).entities.values()
        for mapping in entity.fields
        if mapping.transform and mapping.transform["type"] == "plugin"
    }
    assert named == TRANSFORMS


# --- intuit_pm: seed 002 ------------------------------------------------------------------------------------------

KARBON_FIELDS = {"account": ("address", "phone", "website"), "contact": ("title", "email")}


def test_karbon_syncs_exactly_the_seed_fields():
    karbon = load("intuit_pm")
    assert {name: tuple(m.home for m in entity.fields) for name, entity in karbon.entities.items()} == KARBON_FIELDS


@pytest.mark.parametrize(("entity", "home_field"), [(e, f) for e, fs in KARBON_FIELDS.items() for f in fs])
def test_first_karbon_sync_fills_the_blank_side_and_liscio_wins_where_both_have_values(entity: str, home_field: str):
    account = load("intuit_pm").entity(entity)
    assert outcome(account, home_field, "first", None, "karbon") == ("to_home", "karbon")
    assert outcome(account, home_field, "first", "liscio", "") == ("to_remote", "liscio")
    assert outcome(account, home_field, "first", "liscio", "karbon") == ("to_remote", "liscio")


@pytest.mark.parametrize(("entity", "home_field"), [(e, f) for e, fs in KARBON_FIELDS.items() for f in fs])
def test_later_karbon_syncs_send_liscio_values_and_never_bring_karbon_edits_in(entity: str, home_field: str):
    contract = load("intuit_pm").entity(entity)
    assert outcome(contract, home_field, "later", None, "karbon", remote_at=LATER) == (None, None)
    assert outcome(contract, home_field, "later", "liscio", None) == ("to_remote", "liscio")
    assert outcome(contract, home_field, "later", "liscio", "karbon", remote_at=LATER) == ("to_remote", "liscio")


def test_karbon_account_address_rules_are_fill_blank_then_overwrite_out():
    address = load("intuit_pm").entity("account").field("address")
    assert (address.first_sync.to_home, address.first_sync.to_remote) == ("fill_blank", "overwrite")
    assert (address.later_sync.to_home, address.later_sync.to_remote) == ("never", "overwrite")
    assert address.remote == "BusinessCard.Addresses[0]"
    assert address.transform == {"type": "plugin", "name": "karbon_address"}


@pytest.mark.parametrize("entity", ["account", "contact"])
def test_record_names_and_relationships_never_sync_with_karbon(entity: str):
    contract = load("intuit_pm").entity(entity)
    assert contract.name_sync is None
    assert "name" in contract.never_sync_fields
    assert all(m.home != "name" for m in contract.fields)
    assert raw("intuit_pm")["entities"][entity]["never_sync"]["relationships"]


@pytest.mark.parametrize("entity", ["account", "contact"])
def test_karbon_records_link_to_hub_records_with_the_same_name_whatever_the_case(entity: str):
    assert load("intuit_pm").entity(entity).match == ({"type": "exact_name", "case_insensitive": True},)


@pytest.mark.parametrize("entity", ["account", "contact"])
def test_karbon_records_come_in_only_on_request_but_hub_records_go_out_automatically(entity: str):
    contract = load("intuit_pm").entity(entity)
    assert (contract.create_to_home, contract.create_rule_to_remote({})) == ("on_request", "auto")


def test_a_first_karbon_sync_into_an_empty_hub_is_refused_unless_turned_off():
    assert load("intuit_pm").default_options()["refuse_first_sync_into_empty_home"] is True


def test_karbon_names_its_vendor_fields_and_webhook_scheme():
    karbon = load("intuit_pm")
    assert karbon.entity("account").remote_id == "OrganizationKey"
    assert karbon.entity("contact").field("email").remote == "BusinessCard.EmailAddresses[0]"
    assert karbon.entity("account").remote_modified == "LastModifiedDateTime"
    assert karbon.webhook_verifier == "karbon-signature"


# --- quickbooks: seeds 003 and 004 --------------------------------------------------------------------------------

LISTS = ("customer", "vendor", "item")
TRANSACTIONS = ("invoice", "bill", "ship_doc", "work_order")


@pytest.mark.parametrize("entity", LISTS)
def test_quickbooks_list_records_take_whichever_side_changed_last(entity: str):
    contract = load("quickbooks").entity(entity)
    for mapping in (*contract.fields, contract.name_sync):
        assert mapping is not None
        for phase in ("first", "later"):
            rules = mapping.rules(phase)
            assert (rules.to_home, rules.to_remote) == ("newest", "newest"), (mapping.home, phase)
    assert outcome(contract, "name", "later", "Old", "New", remote_at=LATER) == ("to_home", "New")
    assert outcome(contract, "name", "later", "Newer", "Old", home_at=LATER) == ("to_remote", "Newer")


def test_inactive_in_quickbooks_is_hidden_at_home_and_back():
    hidden = load("quickbooks").entity("customer").field("hidden")
    transform = build_transform(hidden.transform, {})
    assert hidden.remote == "Active"
    assert transform.to_home(False) is True
    assert transform.to_remote(True) is False


def test_customers_link_only_when_the_names_match_exactly():
    assert load("quickbooks").entity("customer").match == ({"type": "exact_name", "case_insensitive": False},)


@pytest.mark.parametrize("entity", LISTS)
def test_quickbooks_list_records_are_imported_on_request_and_exported_through_the_sync_queue(entity: str):
    contract = load("quickbooks").entity(entity)
    assert (contract.create_to_home, contract.create_to_remote) == ("on_request", "auto")


@pytest.mark.parametrize("entity", LISTS)
def test_a_proxy_stands_in_for_a_customer_vendor_or_item(entity: str):
    assert load("quickbooks").entity(entity).proxy_field == "proxy_id"


@pytest.mark.parametrize("entity", TRANSACTIONS)
def test_nc_only_transactions_never_go_to_quickbooks(entity: str):
    assert {"field": "nc_only", "equals": True} in load("quickbooks").entity(entity).exclude_when


def test_ship_docs_wait_until_shipped_and_work_orders_until_finished():
    quickbooks = load("quickbooks")
    assert quickbooks.entity("ship_doc").available_when == ({"field": "shipped", "equals": True},)
    assert quickbooks.entity("work_order").available_when == ({"field": "finished", "equals": True},)
    assert quickbooks.entity("invoice").available_when == ()
    assert {quickbooks.entity(e).remote_type for e in ("invoice", "ship_doc", "work_order")} == {"Invoice"}


@pytest.mark.parametrize("entity", TRANSACTIONS)
def test_transactions_are_recorded_when_triggered_or_by_every_sync_with_send_all(entity: str):
    quickbooks = load("quickbooks")
    contract = quickbooks.entity(entity)
    assert contract.create_rule_to_remote(quickbooks.default_options()) == "on_request"
    assert contract.create_rule_to_remote({"send_all": True}) == "auto"
    assert contract.create_to_home == "never"


def test_transactions_name_their_customer_or_vendor_by_its_quickbooks_id():
    quickbooks = load("quickbooks")
    customer = quickbooks.entity("invoice").field("customer")
    vendor = quickbooks.entity("bill").field("vendor")
    assert (customer.remote, customer.transform) == ("CustomerRef.value", {"type": "reference", "entity": "customer"})
    assert (vendor.remote, vendor.transform) == ("VendorRef.value", {"type": "reference", "entity": "vendor"})


@pytest.mark.parametrize("entity", TRANSACTIONS)
def test_transaction_lines_name_home_items_which_the_engine_sends_as_their_quickbooks_items(entity: str):
    lines = load("quickbooks").entity(entity).field("lines")
    name = "qbo_bill_lines" if entity == "bill" else "qbo_lines"
    assert lines.transform == {"type": "plugin", "name": name, "references": {"item": "item"}}
    assert lines.references == {"item": "item"}


def test_quickbooks_never_deletes_list_records_but_a_deleted_transaction_is_delinked():
    quickbooks = load("quickbooks")
    assert {quickbooks.entity(e).remote_deletes for e in LISTS} == {"ignore"}
    assert {quickbooks.entity(e).remote_deletes for e in TRANSACTIONS} == {"unlink"}


def test_a_list_record_deleted_at_home_is_made_inactive_in_quickbooks_but_a_transaction_is_only_delinked():
    quickbooks = load("quickbooks")
    assert {quickbooks.entity(e).on_home_delete for e in LISTS} == {"deactivate"}
    assert {quickbooks.entity(e).on_home_delete for e in TRANSACTIONS} == {"delink"}
    assert {e.on_home_delete for e in load("intuit_pm").entities.values()} == {"delink"}


def test_quickbooks_writes_carry_the_sync_token_and_stay_inside_the_limits():
    quickbooks = load("quickbooks")
    for entity in quickbooks.entities.values():
        assert (entity.remote_version, entity.remote_modified) == ("SyncToken", "MetaData.LastUpdatedTime")
    assert quickbooks.limits == {"per_minute": 500, "in_flight": 10, "page_size": 1000}
    assert quickbooks.webhook_verifier == "intuit-signature"
    assert quickbooks.entity("customer").field("email").remote == "PrimaryEmailAddr.Address"


# --- xpm: seed 001 ------------------------------------------------------------------------------------------------


def test_xpm_speaks_xml_has_no_webhooks_and_stays_inside_its_rate_limits():
    xpm = load("xpm")
    assert xpm.raw["wire_format"] == "xml"
    assert xpm.webhook_verifier is None
    assert xpm.limits == {"per_minute": 60, "per_day": 5000, "in_flight": 5, "page_size": 500}


@pytest.mark.parametrize("entity", ["staff", "custom_field_definition", "tax_return"])
def test_staff_field_definitions_and_tax_returns_only_come_in_from_xpm(entity: str):
    contract = load("xpm").entity(entity)
    assert contract.pull_only
    assert contract.create_to_remote == "never"


def test_xpm_client_changes_come_in_and_nothing_goes_out():
    client = load("xpm").entity("client")
    assert outcome(client, "email", "later", "old@hub", "new@xpm") == ("to_home", "new@xpm")
    assert outcome(client, "email", "later", "hub@only", None) == ("to_home", None)
    assert all(m.rules(p).to_remote == "never" for m in client.fields for p in ("first", "later"))
    assert client.create_to_remote == "never"
    assert client.remote_modified is None


def test_job_edits_go_both_ways_and_the_latest_change_wins():
    job = load("xpm").entity("job")
    for home_field in ("name", "state", "manager", "partner", "budget", "start_date", "due_date"):
        assert outcome(job, home_field, "later", "hub", "xpm", home_at=LATER) == ("to_remote", "hub"), home_field
        assert outcome(job, home_field, "later", "hub", "xpm", remote_at=LATER) == ("to_home", "xpm"), home_field


def test_tax_returns_sync_only_while_tax_assessments_are_imported_and_say_their_wire_format_is_the_hubs():
    xpm = load("xpm")
    tax_return = xpm.entity("tax_return")
    assert not tax_return.enabled(xpm.default_options())
    assert tax_return.enabled({**xpm.default_options(), "import_tax_assessments": True})
    assert "HUB-DEFINED" in xpm.raw["entities"]["tax_return"]["description"]


@pytest.mark.parametrize("entity", ["client", "custom_field_definition"])
def test_clients_and_field_definitions_stop_coming_from_xpm_when_the_hub_is_primary(entity: str):
    xpm = load("xpm")
    contract = xpm.entity(entity)
    assert contract.enabled(xpm.default_options())
    assert not contract.enabled({"hub_primary_for_client_maintenance": True})


# --- enterprise: seed 000 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("entity", ["billable_item", "package"])
def test_enterprise_items_are_linked_only_by_replication_key(entity: str):
    contract = load("enterprise").entity(entity)
    assert contract.match == ({"type": "link_key"},)
    assert (contract.link_key_home, contract.link_key_remote, contract.link_key_assigned_by) == (
        "replication_key",
        "ReplicationKey",
        "home",
    )


@pytest.mark.parametrize("entity", ["billable_item", "package"])
def test_a_missing_item_is_created_at_the_practice_with_all_its_properties(entity: str):
    contract = load("enterprise").entity(entity)
    assert (contract.create_rule_to_remote({}), contract.create_with_all_fields) == ("auto", True)
    assert contract.create_to_home == "never"


@pytest.mark.parametrize("entity", ["billable_item", "package"])
def test_practice_edits_never_come_back_to_the_enterprise(entity: str):
    contract = load("enterprise").entity(entity)
    for mapping in (*contract.fields, contract.name_sync):
        assert mapping is not None
        assert {mapping.first_sync.to_home, mapping.later_sync.to_home} == {"never"}
    assert outcome(contract, "code", "later", "VAC-1", "VAC-01", remote_at=LATER) == ("to_remote", "VAC-1")


SEED_COMPONENT_PROPERTIES = (
    "Quantity",
    "Minimum Quantity (Estimate)",
    "Maximum Quantity (Estimate)",
    "Service Fee Quantity",
    "Service Fee Min Quantity (Estimate)",
    "Service Fee Max Quantity (Estimate)",
    "Price Override",
    "Min Price (Estimate)",
    "Max Price (Estimate)",
)


def test_package_components_carry_the_nine_seed_properties():
    components = raw("enterprise")["entities"]["package"]["fields"]
    (spec,) = [f for f in components if f["home"] == "components"]
    for prop in SEED_COMPONENT_PROPERTIES:
        assert prop in spec["description"]
    assert spec["transform"] == {"type": "plugin", "name": "enterprise_components"}


def test_enterprise_is_hub_defined_signs_webhooks_and_declares_its_seed_options():
    enterprise = load("enterprise")
    assert (enterprise.api, enterprise.webhook_verifier) == ("hub-defined", "standard-webhooks")
    assert enterprise.default_options() == {"create_linked_items": False, "segment": None}


# --- invalid contracts: every problem, each as FILE: /pointer: message ----------------------------------------------


def _unknown_key(data: dict[str, Any]) -> None:
    data["entities"]["account"]["colour"] = "blue"


def _bad_rule(data: dict[str, Any]) -> None:
    data["entities"]["account"]["fields"][1]["later_sync"]["to_home"] = "sometimes"


def _clash(data: dict[str, Any]) -> None:
    data["entities"]["account"]["fields"][2]["later_sync"] = {"to_home": "overwrite", "to_remote": "overwrite"}


def _link_key_without_key(data: dict[str, Any]) -> None:
    data["entities"]["contact"]["match"] = [{"type": "link_key"}]


def _unknown_transform(data: dict[str, Any]) -> None:
    data["entities"]["account"]["fields"][0]["transform"]["name"] = "karbon_adress"


def _unknown_referenced_entity(data: dict[str, Any]) -> None:
    data["entities"]["account"]["fields"][0]["transform"]["references"] = {"country": "country"}


MUTATIONS = [
    (_unknown_key, "/entities/account", "'colour' was unexpected"),
    (_bad_rule, "/entities/account/fields/1/later_sync/to_home", "'sometimes' is not one of"),
    (_clash, "/entities/account/fields/2/later_sync", "can both write in one sync"),
    (_link_key_without_key, "/entities/contact/match/0", "declares no link_key"),
    (_unknown_transform, "/entities/account/fields/0/transform/name", "no plugin registers a transform named"),
    (_unknown_referenced_entity, "/entities/account/fields/0/transform/references/country",
     "no entity type 'country' in this contract; a reference names one of: account, contact"),
]


@pytest.mark.parametrize(("mutate", "pointer", "words"), MUTATIONS, ids=lambda v: getattr(v, "__name__", None))
def test_a_broken_contract_names_the_file_the_place_and_the_rule(tmp_path: Path, mutate, pointer: str, words: str):
    data = raw("intuit_pm")
    mutate(data)
    path = write_contract(tmp_path, data)
    with pytest.raises(ContractError) as caught:
        load_contract(path, transforms=TRANSFORMS, verifiers=VERIFIERS)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}: {pointer}: ")
    assert words in problem


def test_every_problem_of_a_contract_is_listed_at_once(tmp_path: Path):
    data = raw("intuit_pm")
    for mutate, _, _ in MUTATIONS:
        mutate(data)
    path = write_contract(tmp_path, data)
    with pytest.raises(ContractError) as caught:
        load_contract(path, transforms=TRANSFORMS, verifiers=VERIFIERS)
    problems = caught.value.problems
    assert all(p.startswith(f"{path}: /") for p in problems)
    assert sorted(p.split(": ")[1] for p in problems) == sorted(pointer for _, pointer, _ in MUTATIONS)
    assert str(caught.value) == "\n".join(problems)


def test_an_unreadable_contract_is_refused_with_its_file_named(tmp_path: Path):
    path = tmp_path / "half.json"
    path.write_text('{"plugin": ', encoding="utf-8")
    with pytest.raises(ContractError) as caught:
        load_contract(path)
    assert caught.value.problems[0].startswith(f"{path}: /: not JSON")


def test_name_rules_that_fight_are_refused_like_a_fields(tmp_path: Path):
    data = raw("quickbooks")
    data["entities"]["customer"]["name"]["later_sync"] = {"to_home": "mirror", "to_remote": "overwrite"}
    problems = problems_in(Path("q.json"), data, transforms=TRANSFORMS, verifiers=VERIFIERS)
    assert len(problems) == 1
    assert problems[0].startswith("q.json: /entities/customer/name/later_sync: to_home 'mirror' and to_remote ")


def test_a_name_listed_as_never_synced_cannot_have_rules_that_write_it():
    data = raw("intuit_pm")
    data["entities"]["account"]["name"].update(
        first_sync={"to_home": "never", "to_remote": "overwrite"}, later_sync={"to_home": "never", "to_remote": "never"}
    )
    problems = problems_in(Path("k.json"), data, transforms=TRANSFORMS, verifiers=VERIFIERS)
    assert problems == [
        "k.json: /entities/account/name: the name is listed under never_sync/fields, yet its rules "
        "write it; drop one of them"
    ]


def test_name_rules_come_in_pairs_of_phases():
    data = raw("intuit_pm")
    data["entities"]["account"]["name"]["later_sync"] = {"to_home": "never", "to_remote": "never"}
    data["entities"]["account"]["never_sync"]["fields"] = []
    (problem,) = problems_in(Path("k.json"), data)
    assert problem.startswith("k.json: /entities/account/name: 'first_sync' is a dependency of 'later_sync'")


def test_an_entity_gated_by_an_undeclared_option_is_refused():
    data = raw("xpm")
    del data["options"]["import_tax_assessments"]
    assert problems_in(Path("x.json"), data) == [
        "x.json: /entities/tax_return/sync_when_option/option: option 'import_tax_assessments' is not declared "
        "under /options"
    ]


def test_a_pull_only_entity_that_writes_remotely_is_refused():
    data = raw("xpm")
    data["entities"]["staff"]["fields"][0]["later_sync"] = {"to_home": "never", "to_remote": "overwrite"}
    data["entities"]["staff"]["create"]["to_remote"] = "auto"
    assert sorted(problems_in(Path("x.json"), data)) == [
        "x.json: /entities/staff/create/to_remote: a pull_only entity cannot create remote records; use 'never'",
        "x.json: /entities/staff/fields/0/later_sync/to_remote: a pull_only entity writes nothing remotely; use "
        "'never'",
    ]


def test_a_pull_only_entity_cannot_deactivate_remote_records_when_home_ones_are_deleted():
    data = raw("xpm")
    data["entities"]["staff"]["on_home_delete"] = "deactivate"
    assert problems_in(Path("x.json"), data) == [
        "x.json: /entities/staff/on_home_delete: a pull_only entity writes nothing remotely; use 'delink'"
    ]


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"webhook": "x", "options": [], "entities": []},
        {"entities": {"a": {"fields": ["oops", {"transform": "x", "first_sync": 1}], "create": 3, "name": []}}},
        {"entities": {"a": {"match": "nope", "never_sync": {"fields": "name"}, "pull_only": "yes"}}},
    ],
)
def test_a_contract_of_the_wrong_shape_gets_its_problems_listed_not_a_crash(document: Any):
    problems = problems_in(Path("w.json"), document, transforms=TRANSFORMS, verifiers=VERIFIERS)
    assert problems
    assert all(p.startswith("w.json: /") for p in problems)


# --- rule pairs -----------------------------------------------------------------------------------------------------

RULE = st.sampled_from(RULES)


def _one_field_contract(first: tuple[str, str], later: tuple[str, str]) -> dict[str, Any]:
    contract = raw("intuit_pm")
    contract["entities"] = {"contact": contract["entities"]["contact"]}
    contract["entities"]["contact"]["fields"] = [
        {
            "home": "title",
            "remote": "BusinessCard.RoleOrTitle",
            "first_sync": {"to_home": first[0], "to_remote": first[1]},
            "later_sync": {"to_home": later[0], "to_remote": later[1]},
        }
    ]
    return contract


@given(first=st.tuples(RULE, RULE), later=st.tuples(RULE, RULE))
def test_a_rule_pair_is_accepted_exactly_when_docs_allow_it_and_refused_with_the_clash_message(first, later):
    problems = problems_in(Path("c.json"), _one_field_contract(first, later))
    expected = [
        f"c.json: /entities/contact/fields/0/{phase}: to_home {pair[0]!r} and to_remote {pair[1]!r} can both write "
        "in one sync; make one side 'never', use 'newest' on both, 'fill_blank' on both, or pair 'fill_blank' with "
        "'overwrite'"
        for phase, pair in (("first_sync", first), ("later_sync", later))
        if pair not in ALLOWED_PAIRS
    ]
    assert problems == expected


VALUE = st.one_of(st.none(), st.just(""), st.just("a"), st.just("b"))
MOMENT = st.one_of(st.none(), st.sampled_from([EARLIER, LATER]))


@given(pair=st.sampled_from(sorted(ALLOWED_PAIRS)), home=VALUE, remote=VALUE, home_at=MOMENT, remote_at=MOMENT)
def test_an_allowed_pair_never_lets_both_sides_write_the_same_field(pair, home, remote, home_at, remote_at):
    to_home, to_remote = pair
    home_side, remote_side = Side(home, home_at), Side(remote, remote_at)
    assert not (writes(to_home, remote_side, home_side) and writes(to_remote, home_side, remote_side))

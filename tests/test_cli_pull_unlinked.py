"""``hub sync --record ID --mode pull|newest`` of an unlinked home record links it by exact name first, as the API does.

The remote contact is listed as unmatched (the contract creates contacts at home only on request) and a home
contact of the same name arrives later, so nothing links them until a person pulls or syncs that record.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import test_cli_commands as sync_tests
from tests.memory_system import MemoryRemote
from tests.test_cli import hub_cli
from tests.test_cli_commands import home_contacts, home_fields

# hub sync's own fixtures: a configuration with one connection, mem, whose remote-only contacts wait for a person.
config, remote = sync_tests.config, sync_tests.remote


def states(capsys: pytest.CaptureFixture[str]) -> list[tuple[str, str]]:
    """Each row of ``hub links mem --json``: its state and its name (home, else remote)."""
    rows = json.loads(hub_cli(capsys, "links", "mem", "--json")[1])
    return [(row["state"], row["home_name"] or row["remote_name"]) for row in rows]


def unmatched_pair(
    capsys: pytest.CaptureFixture[str], config: Path, remote: MemoryRemote, name: str
) -> tuple[str, str]:
    """A remote contact the hub listed as unmatched, and a home contact of that name loaded after the listing."""
    remote_id = remote.add("contact", {"Name": name, "Email": "ada@remote.example"})
    assert hub_cli(capsys, "sync", "mem", "--allow-empty-home")[0] == 0
    (home_id,) = home_contacts(config, name)
    assert states(capsys) == [("unmatched remote", name), ("unmatched home", name)]
    return home_id, remote_id


@pytest.mark.parametrize("mode", ["pull", "newest"])
def test_sync_of_an_unlinked_record_links_it_to_the_remote_record_of_its_exact_name_then_syncs_it(
    capsys, config, remote, mode
):
    home_id, remote_id = unmatched_pair(capsys, config, remote, "Ada")

    status, out, err = hub_cli(capsys, "sync", "mem", "--record", home_id, "--mode", mode)

    assert (status, err) == (0, "")
    assert out.splitlines()[:2] == [f"linked: exact name 'Ada' to mem contact {remote_id}", "run 2 of mem: success"]
    assert home_fields(config, home_id)["email"] == "ada@remote.example"
    assert states(capsys) == [("linked (matched)", "Ada")]


def test_json_output_says_the_record_was_linked_first(capsys, config, remote):
    home_id, remote_id = unmatched_pair(capsys, config, remote, "Ada")

    status, out, _ = hub_cli(capsys, "sync", "mem", "--record", home_id, "--mode", "pull", "--json")

    assert status == 0 and json.loads(out)["linked"] == f"linked: exact name 'Ada' to mem contact {remote_id}"


def test_pull_of_a_record_no_remote_record_is_named_after_exits_1_with_the_apis_words(capsys, config, remote):
    unmatched_pair(capsys, config, remote, "Ada")
    (bea,) = home_contacts(config, "Bea")

    status, out, err = hub_cli(capsys, "sync", "mem", "--record", bea, "--mode", "pull")

    assert (status, out) == (1, "")
    assert err == (
        "hub: contact 'Bea' is not linked on mem, and no Memory contact named 'Bea' is known to the hub: sync the "
        "contact list to find it, or export the record to create it\n"
    )
    assert ("unmatched home", "Bea") in states(capsys) and ("linked (matched)", "Ada") not in states(capsys)


def test_a_dry_run_pull_links_nothing(capsys, config, remote):
    home_id, _ = unmatched_pair(capsys, config, remote, "Ada")

    status, out, _ = hub_cli(capsys, "sync", "mem", "--record", home_id, "--mode", "pull", "--dry-run")

    assert status == 0 and not out.startswith("linked")
    assert states(capsys) == [("unmatched remote", "Ada"), ("unmatched home", "Ada")]

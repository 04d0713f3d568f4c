"""``hub sync --export --record ...`` exits 1 when nothing chosen could be exported, so a script notices.

The memory system cannot look records up by name, so a new record of a type the connection never listed waits
in the queue rather than risk duplicating a remote one: every chosen record is skipped.
"""

from __future__ import annotations

from pathlib import Path

import hub.runtime
from hub.local import create_record
from tests import test_cli_commands as sync_tests
from tests.test_cli import hub_cli, with_hub

config, remote = sync_tests.config, sync_tests.remote


def queued_contacts(config: Path, *names: str) -> list[str]:
    """Home contacts a hub user creates, queued for mem; their ids."""

    async def work(opened: hub.runtime.Hub) -> list[str]:
        return [(await create_record(opened.store, "contact", {"name": name}, actor="tester", at=opened.clock(),
                                     connections=["mem"])).id for name in names]

    return with_hub(config, work)


def test_an_export_of_which_every_chosen_record_waits_exits_1(capsys, config, remote):
    ada, bo = queued_contacts(config, "Ada", "Bo")

    status, out, _ = hub_cli(capsys, "sync", "mem", "--export", "--record", ada, "--record", bo)

    assert status == 1
    assert out.splitlines()[0] == "run 1 of mem: completed with 2 skipped"
    assert "records were never listed, so it could duplicate one" in out
    assert not remote.records.get("contact")


def test_an_export_that_sends_what_was_chosen_exits_0(capsys, config, remote):
    assert hub_cli(capsys, "sync", "mem", "--allow-empty-home")[0] == 0
    (ada,) = queued_contacts(config, "Ada")

    status, out, _ = hub_cli(capsys, "sync", "mem", "--export", "--record", ada)

    assert (status, out.splitlines()[0]) == (0, "run 2 of mem: success")

"""A plugin implementing a hook the hub does not define is reported as failed; the hub goes on without it."""

from __future__ import annotations

import json
from typing import Any

import hub.cli
from hub import hookimpl
from hub.registry import build_registry
from tests.memory_hub import BoundMemoryPlugin, memory_contract
from tests.memory_system import Clock, MemoryRemote
from tests.test_audit_cli_config import configure, install
from tests.test_cli import hub_cli


class Misspelt:
    """A plugin whose author misspelt ``register_systems``."""

    __name__ = "misspelt"

    @hookimpl
    def register_sytems(self, register: Any) -> None:
        """Never called: the hub has no such hook."""


def test_a_plugin_with_a_misspelt_hook_is_listed_as_failed_and_the_others_load(capsys, monkeypatch):
    monkeypatch.setattr(hub.cli, "build_registry", lambda env, extra=(): build_registry(env, [*extra, Misspelt()]))

    status, out, _ = hub_cli(capsys, "plugins", "--json")

    assert status == 0
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["misspelt"]["status"] == ("failed in load: implements hooks the hub does not define: register_sytems; "
                                          "see docs/plugins.md for the hook names")
    assert rows["intuit_pm"]["status"] == "ok"


def test_the_hub_syncs_beside_a_plugin_with_a_misspelt_hook(capsys, tmp_path, monkeypatch):
    install(monkeypatch, Misspelt(), BoundMemoryPlugin(memory_contract(tmp_path), MemoryRemote(Clock())))
    configure(tmp_path, monkeypatch, "")

    status, out, _ = hub_cli(capsys, "sync", "mem", "--allow-empty-home")

    assert status == 0 and out.startswith("run 1 of mem: success")

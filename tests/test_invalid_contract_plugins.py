"""An installed plugin with an invalid contract is listed and refused by name; it never takes the other plugins down."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hub.cli
import hub.runtime
from hub import hookimpl
from hub.cli import main
from tests.memory_system import MemorySystem

BUILT_INS = {"quickbooks", "intuit_pm", "xpm", "enterprise"}

QUICKBOOKS_ONLY = """
[hub]
database = "hub.db"

[connections.qb]
plugin = "quickbooks"

[connections.qb.options]
realm_id = "1"

[connections.qb.secrets]
access_token = "QB_TOKEN"
"""

USES_ACME = """
[hub]
database = "hub.db"

[connections.acme]
plugin = "acme"
"""


class AcmePlugin:
    """A third party's plugin whose contract has an empty ``entities``, installed beside the built-ins."""

    __name__ = "acme"

    def __init__(self, contract: Path) -> None:
        self.system = type("AcmeSystem", (MemorySystem,), {"name": "acme", "title": "Acme", "contract_path": contract})

    @hookimpl
    def register_systems(self, register):
        register(self.system)


@pytest.fixture
def bad_contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Install the acme plugin as pip would (every entry point still loads), with its invalid contract."""
    path = tmp_path / "acme.json"
    path.write_text(json.dumps({"contract_version": 1, "plugin": "acme", "system": "Acme", "api": "vendor",
                                "entities": {}}))
    plugin = AcmePlugin(path)
    real = hub.runtime.build_registry
    installed = lambda env, extra=(): real(env, [*extra, plugin])  # noqa: E731
    monkeypatch.setattr(hub.runtime, "build_registry", installed)
    monkeypatch.setattr(hub.cli, "build_registry", installed)
    monkeypatch.setenv("QB_TOKEN", "t")
    monkeypatch.delenv("HUB_PLUGINS", raising=False)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "hub.toml"
    path.write_text(text)
    return str(path)


def test_hub_plugins_lists_a_plugin_with_an_invalid_contract_beside_the_built_ins(capsys, bad_contract: Path):
    status, out, err = run(capsys, "plugins", "--json")

    assert (status, err) == (0, "")
    rows = {row["name"]: row for row in json.loads(out)}
    assert all(rows[name]["status"] in {"ok", "contract only (client not released yet)"} for name in BUILT_INS)
    assert rows["acme"]["status"] == f"invalid contract: {bad_contract}: /entities: {{}} should be non-empty"
    assert rows["acme"]["contract"] == str(bad_contract)


def test_commands_of_a_config_that_does_not_use_the_plugin_keep_working(capsys, tmp_path: Path, bad_contract: Path):
    status, out, err = run(capsys, "--config", config(tmp_path, QUICKBOOKS_ONLY), "runs")
    assert (status, out.strip(), err) == (0, "no runs yet", "")


def test_a_config_that_uses_the_plugin_is_refused_at_start_with_the_contract_checks_text(
    capsys, tmp_path: Path, bad_contract: Path
):
    refused = run(capsys, "--config", config(tmp_path, USES_ACME), "runs")
    checked = run(capsys, "contracts", "check")

    assert refused[0] == checked[0] == 1
    assert refused[2] == checked[2] == f"acme: {bad_contract}: /entities: {{}} should be non-empty\n"


def test_contracts_check_without_paths_checks_every_installed_plugins_contract(capsys, bad_contract: Path):
    bad_contract.write_text(bad_contract.read_text().replace('"entities": {}', '"entities": 1'))
    status, out, err = run(capsys, "contracts", "check")
    assert status == 1 and out == ""
    assert err.splitlines() == [f"acme: {bad_contract}: /entities: 1 is not of type 'object'"]

    bad_contract.unlink()
    _status, _out, err = run(capsys, "contracts", "check")
    assert err.splitlines() == [f"acme: {bad_contract}: /: file not found"]


def test_contracts_check_without_paths_counts_the_built_ins_and_a_valid_third_party_contract(
    capsys, tmp_path: Path, bad_contract: Path
):
    from tests.memory_hub import memory_contract

    document = json.loads(memory_contract(tmp_path).read_text())
    bad_contract.write_text(json.dumps({**document, "plugin": "acme"}))

    status, out, err = run(capsys, "contracts", "check")

    assert (status, err) == (0, "")
    assert out.startswith("5 contracts valid: ") and str(bad_contract) in out
    assert all(f"contracts/{name}.json" in out for name in BUILT_INS)

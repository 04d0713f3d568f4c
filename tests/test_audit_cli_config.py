"""Mistakes in hub.toml stop every command at once with the key to fix, and never echo a secret."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

import hub.cli
import hub.runtime
from hub.config import load_config
from hub.demo import _write_config
from hub.registry import build_registry, check_options
from tests.memory_hub import WEBHOOK_SECRET, BoundMemoryPlugin, memory_contract
from tests.memory_system import Clock, MemoryRemote, MemorySystem
from tests.test_cli import hub_cli

ROOT = Path(__file__).resolve().parent.parent
OPTIONS = {
    "send_all": {"default": False, "description": "send every transaction"},
    "refuse_first_sync_into_empty_home": {"default": True, "description": "refuse a first sync into an empty hub"},
    "segment": {"default": None, "description": "a label, of any type"},
}
CONFIG = """
[hub]
database = "hub.db"

[connections.mem]
plugin = "memory"
{extra}
[connections.mem.secrets]
webhook = "MEM_WEBHOOK_SECRET"
"""


class RealmSystem(MemorySystem):
    """A memory system that reads an option of its own, as QuickBooks reads ``realm_id``."""

    plugin_options: ClassVar[dict[str, dict[str, Any]]] = {
        "realm_id": {"default": None, "description": "the company id"},
    }


def install(monkeypatch: pytest.MonkeyPatch, *plugins: object) -> None:
    """Install ``plugins`` beside the hub's own, for the commands that open the hub and for ``hub plugins``."""
    real = build_registry
    patched = lambda env, extra=(): real({**env, "HUB_PLUGINS": "core"}, [*extra, *plugins])  # noqa: E731
    monkeypatch.setattr(hub.runtime, "build_registry", patched)
    monkeypatch.setattr(hub.cli, "build_registry", patched)


@pytest.fixture
def memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MemoryRemote:
    """The memory system, its contract declaring OPTIONS, installed beside the hub's plugins."""
    remote = MemoryRemote(Clock())
    install(monkeypatch, BoundMemoryPlugin(memory_contract(tmp_path, options=OPTIONS), remote))
    return remote


def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str, secret: str = "MEM_WEBHOOK_SECRET") -> Path:
    """A configuration with one connection, ``mem``, with ``extra`` lines in its table, found through $HUB_CONFIG."""
    path = tmp_path / "hub.toml"
    path.write_text(CONFIG.format(extra=extra).replace('"MEM_WEBHOOK_SECRET"', json.dumps(secret)))
    monkeypatch.setenv("MEM_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("HUB_CONFIG", str(path))
    return path


# --- schedule, base_url ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["sync", "mem"], ["status"], ["serve"]])
def test_a_schedule_the_timer_cannot_read_stops_every_command_naming_the_key(capsys, tmp_path, monkeypatch, command):
    path = configure(tmp_path, monkeypatch, 'schedule = "every tuesday"')

    status, out, err = hub_cli(capsys, *command)

    assert (status, out) == (1, "")
    assert err.startswith(f"hub: {path}: connections.mem.schedule: schedule 'every tuesday': neither an interval")


def test_a_cron_schedule_with_an_impossible_field_names_the_field(capsys, tmp_path, monkeypatch):
    configure(tmp_path, monkeypatch, 'schedule = "0 25 * * *"')
    status, _, err = hub_cli(capsys, "status")
    assert status == 1 and "connections.mem.schedule: schedule '0 25 * * *': hour field '25'" in err


@pytest.mark.parametrize("value", ["5", '"api.example.com"', '"ftp://files.example.com"', '"https://"'])
def test_a_base_url_that_is_not_an_http_url_stops_the_command(capsys, tmp_path, monkeypatch, memory, value):
    configure(tmp_path, monkeypatch, f"base_url = {value}")
    status, _, err = hub_cli(capsys, "sync", "mem")
    assert status == 1 and "connections.mem.base_url: must be an http:// or https:// URL" in err


def test_an_http_base_url_with_a_port_and_path_is_taken(tmp_path, monkeypatch):
    path = configure(tmp_path, monkeypatch, 'base_url = "http://127.0.0.1:8101/v3"')
    assert load_config(path, {"MEM_WEBHOOK_SECRET": "s"}).connections["mem"].base_url == "http://127.0.0.1:8101/v3"


# --- secrets ------------------------------------------------------------------------------------------------------


def test_a_secret_pasted_into_the_file_is_never_echoed(capsys, tmp_path, monkeypatch):
    configure(tmp_path, monkeypatch, "", secret="literal-secret-value")

    status, _, err = hub_cli(capsys, "sync", "mem")

    assert status == 1 and "literal-secret-value" not in err
    assert "connections.mem.secrets.webhook: no environment variable by this name is set" in err
    assert "names the environment variable that holds a secret, never the secret itself" in err


def test_an_unset_variable_is_still_named(capsys, tmp_path, monkeypatch):
    configure(tmp_path, monkeypatch, "", secret="MEM_OTHER_SECRET")
    status, _, err = hub_cli(capsys, "sync", "mem")
    assert status == 1 and "connections.mem.secrets.webhook: environment variable MEM_OTHER_SECRET is not set" in err


# --- options ------------------------------------------------------------------------------------------------------


def test_a_misspelt_option_stops_the_command_with_the_option_it_resembles(capsys, tmp_path, monkeypatch, memory):
    configure(tmp_path, monkeypatch, "[connections.mem.options]\nsend_al = true")

    status, _, err = hub_cli(capsys, "sync", "mem")

    assert status == 1
    assert "connections.mem.options.send_al: unknown option of plugin 'memory' (known: " in err
    assert err.rstrip().endswith("did you mean send_all?")


def test_an_option_of_the_wrong_type_stops_the_command(capsys, tmp_path, monkeypatch, memory):
    configure(tmp_path, monkeypatch, '[connections.mem.options]\nrefuse_first_sync_into_empty_home = "yes"')

    status, _, err = hub_cli(capsys, "status")

    assert status == 1
    assert err.strip().endswith("connections.mem.options.refuse_first_sync_into_empty_home: must be true or false, "
                                "as its default true is; got 'yes'")


def test_options_of_the_declared_types_are_taken(capsys, tmp_path, monkeypatch, memory):
    configure(tmp_path, monkeypatch, '[connections.mem.options]\nsend_all = true\nsegment = "north"')
    status, _, _ = hub_cli(capsys, "sync", "mem", "--allow-empty-home")
    assert status == 0


def test_a_plugin_declaring_its_own_options_has_every_unknown_one_refused(capsys, tmp_path, monkeypatch):
    remote = MemoryRemote(Clock())
    install(monkeypatch, BoundMemoryPlugin(memory_contract(tmp_path, options=OPTIONS), remote, system=RealmSystem))
    configure(tmp_path, monkeypatch, '[connections.mem.options]\nrealm_id = 123\ncolour = "blue"')

    status, _, err = hub_cli(capsys, "status")

    assert status == 1 and "connections.mem.options.colour: unknown option of plugin 'memory'" in err
    assert "realm_id" in err.split("(known: ")[1]  # the plugin's own option is known, beside the contract's


@pytest.mark.parametrize("name", ["hub.toml", "demo.toml"])
def test_the_shipped_configurations_load_with_their_plugins_options(name):
    config = load_config(ROOT / "config" / name, AnyVariable())
    check_options(build_registry({}), config)


def test_the_configuration_the_demo_writes_loads(tmp_path):
    config = load_config(_write_config(18080, tmp_path), AnyVariable())
    check_options(build_registry({}), config)
    assert set(config.connections) == {"karbon", "quickbooks"}


class AnyVariable(dict[str, str]):
    """An environment in which every variable the configuration names is set."""

    def get(self, key: str, default: Any = None) -> str:
        """A value for any name."""
        return "set"

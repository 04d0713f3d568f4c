"""Plugins are found through entry points; a broken one is reported by name and never takes the hub down."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from hub import hookimpl
from hub.errors import ContractError, PluginError
from hub.registry import build_registry
from hub.system import System
from tests.memory_system import MemoryPlugin, MemorySystem

BUILT_IN = {"enterprise", "xpm", "intuit_pm", "quickbooks"}


def test_built_in_plugins_are_declared_as_entry_points_like_any_third_party_plugin():
    names = {ep.name for ep in importlib.metadata.entry_points(group="hub.plugins")}
    assert names >= BUILT_IN | {"core"}


def test_the_registry_loads_every_built_in_system_with_its_contract():
    registry = build_registry({})
    assert set(registry.systems) >= {"enterprise", "xpm"}
    for name in registry.systems:
        assert registry.contracts[name].plugin == name
    assert {"intuit-signature", "karbon-signature", "standard-webhooks"} <= set(registry.verifiers)


def test_hub_plugins_env_switch_loads_only_the_named_entry_points():
    registry = build_registry({"HUB_PLUGINS": "core,xpm"})
    assert set(registry.systems) == {"xpm"}


def test_a_plugin_whose_hook_raises_is_reported_by_name_and_the_rest_load():
    class Broken:
        __name__ = "broken_plugin"

        @hookimpl
        def register_systems(self, register):
            raise RuntimeError("cannot import vendor SDK")

    registry = build_registry({"HUB_PLUGINS": "core,xpm"}, [Broken()])
    assert "xpm" in registry.systems
    (failure,) = registry.failures
    assert failure.plugin == "broken_plugin" and "cannot import vendor SDK" in failure.error


def test_two_plugins_registering_the_same_system_name_is_a_start_up_error_naming_both():
    class Copycat:
        __name__ = "copycat"

        @hookimpl
        def register_systems(self, register):
            register(type("Fake", (System,), {"name": "xpm", "contract_path": Path("x.json")}))

    with pytest.raises(PluginError, match=r"'xpm'.*'copycat'"):
        build_registry({"HUB_PLUGINS": "core,xpm"}, [Copycat()])


def test_a_plugin_implementing_an_unknown_hook_is_recorded_as_failed_by_name():
    class Misspelt:
        __name__ = "misspelt"

        @hookimpl
        def register_sytems(self, register):
            pass

    registry = build_registry({"HUB_PLUGINS": "core"}, [Misspelt()])

    (failure,) = [f for f in registry.failures if f.plugin == "misspelt"]
    assert "register_sytems" in failure.error


def test_a_plugin_with_an_invalid_contract_is_set_aside_with_plugin_file_pointer_and_rule(tmp_path):
    bad = tmp_path / "memory.json"
    bad.write_text('{"contract_version": 1, "plugin": "memory", "system": "M", "api": "vendor", "entities": {}}')

    class BadContract(MemorySystem):
        contract_path = bad

    class Plugin:
        __name__ = "memory"

        @hookimpl
        def register_systems(self, register):
            register(BadContract)

    registry = build_registry({"HUB_PLUGINS": "core"}, [Plugin()])

    assert "memory" not in registry.systems
    assert registry.invalid_contracts["memory"].problems == [f"memory: {bad}: /entities: {{}} should be non-empty"]
    with pytest.raises(ContractError) as caught:
        registry.system("memory")
    assert caught.value.problems == registry.invalid_contracts["memory"].problems


def test_a_test_plugin_object_is_registered_like_an_installed_one(tmp_path):
    MemorySystem.contract_path.parent.mkdir(exist_ok=True)
    registry = build_registry({"HUB_PLUGINS": "core"}, [MemoryPlugin()])
    assert registry.owners["memory"] == "memory"

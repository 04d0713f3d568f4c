"""What the loaded plugins contribute: systems, transforms, verifiers, and each system's validated contract."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from hub.config import Config, Connection
from hub.contracts import Contract, load_contract
from hub.errors import ConfigError, ContractError, PluginError
from hub.plugins import LoadedPlugins, PluginFailure, call_each, make_plugin_manager
from hub.system import System
from hub.transforms import Transform
from hub.verifiers import Verifier


@dataclass
class InvalidContract:
    """A registered system whose contract does not validate: each problem as ``PLUGIN: FILE: /pointer: message``."""

    system: type[System]
    problems: list[str]


@dataclass
class Registry:
    """Everything plugins registered, by name, and who registered it."""

    loaded: LoadedPlugins
    systems: dict[str, type[System]] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    transforms: dict[str, Transform] = field(default_factory=dict)
    verifiers: dict[str, Verifier] = field(default_factory=dict)
    contracts: dict[str, Contract] = field(default_factory=dict)
    invalid_contracts: dict[str, InvalidContract] = field(default_factory=dict)
    """Systems left out of ``systems`` because their contract is invalid, so the rest of the hub still works."""

    @property
    def failures(self) -> list[PluginFailure]:
        """Plugins that failed to load or raised in a hook."""
        return self.loaded.failures

    def system(self, name: str) -> type[System]:
        """A registered system class by name, or a clear error naming the known ones and any failures."""
        if name in self.systems:
            return self.systems[name]
        if name in self.invalid_contracts:
            raise ContractError(self.invalid_contracts[name].problems)
        broken = [f for f in self.failures if f.plugin == name]
        if broken:
            raise PluginError(f"plugin {name!r} is installed but failed: {broken[0].error}")
        known = ", ".join(sorted(self.systems)) or "none"
        raise PluginError(f"no plugin registers a system named {name!r} (installed: {known})")


def build_registry(env: Mapping[str, str] | None = None, extra: list[object] = ()) -> Registry:
    """Load plugins and collect what they register; refuse on name clashes.

    A system whose contract is invalid is set aside in ``invalid_contracts``: a configuration that uses it is refused
    when the hub opens (``Hub.open``), and every other command goes on without it.
    """
    registry = Registry(make_plugin_manager(env, extra))
    _collect(registry)
    for name, system in list(registry.systems.items()):
        try:
            registry.contracts[name] = load_contract(
                Path(system.contract_path), transforms=registry.transforms, verifiers=registry.verifiers
            )
        except ContractError as exc:
            plugin = registry.owners[name]
            registry.invalid_contracts[name] = InvalidContract(system, [f"{plugin}: {p}" for p in exc.problems])
            del registry.systems[name]
    return registry


def _collect(registry: Registry) -> None:
    owners: dict[tuple[str, str], str] = {}
    clashes: list[str] = []

    def claim(kind: str, name: str, plugin: str) -> bool:
        first = owners.setdefault((kind, name), plugin)
        if first != plugin:
            clashes.append(f"two plugins register a {kind} named {name!r}: {first!r} and {plugin!r}")
            return False
        return True

    def register_system(plugin: str, system: type[System]) -> None:
        if claim("system", system.name, plugin):
            registry.systems[system.name] = system
            registry.owners[system.name] = plugin

    def register_transform(plugin: str, name: str, transform: Transform) -> None:
        if claim("transform", name, plugin):
            registry.transforms[name] = transform

    def register_verifier(plugin: str, verifier: Verifier) -> None:
        if claim("signature scheme", verifier.name, plugin):
            registry.verifiers[verifier.name] = verifier

    for hook, register in (("register_verifiers", register_verifier), ("register_transforms", register_transform),
                           ("register_systems", register_system)):
        for _plugin, _result in call_each(registry.loaded, hook, lambda p, r=register: {"register": partial(r, p)}):
            pass
    if clashes:
        raise PluginError("; ".join(clashes))


def check_options(registry: Registry, config: Config) -> None:
    """Refuse a connection option its plugin does not know, or one of another type than the option's default, and an
    ``entities`` entry its plugin's contract has no entity type of."""
    where = f"{config.path}: " if config.path else ""
    for connection in config.connections.values():
        if connection.plugin in registry.systems:  # an unknown or broken plugin is reported when the hub opens
            for problem in _option_problems(registry, connection):
                raise ConfigError(f"{where}connections.{connection.name}.options.{problem}")
            known = registry.contracts[connection.plugin].entities
            for entity in connection.entities:
                if entity not in known:
                    raise ConfigError(f"{where}connections.{connection.name}.entities: no entity type {entity!r} in "
                                      f"{connection.plugin} (it has: {', '.join(sorted(known))})")


def declared_options(registry: Registry, plugin: str) -> dict[str, dict[str, Any]]:
    """The options a plugin understands: its contract's, and those its System class reads itself."""
    own = registry.systems[plugin].plugin_options or {}
    return {**registry.contracts[plugin].options, **own}


def _option_problems(registry: Registry, connection: Connection) -> Iterator[str]:
    declared = declared_options(registry, connection.plugin)
    # A System that does not declare the options it reads may read any: only a near miss of a known one is refused.
    strict = registry.systems[connection.plugin].plugin_options is not None
    for name, value in connection.options.items():
        if name not in declared:
            near = difflib.get_close_matches(name, declared, n=1, cutoff=0.8)
            if strict or near:
                known = ", ".join(sorted(declared)) or "none"
                hint = f"; did you mean {near[0]}?" if near else ""
                yield f"{name}: unknown option of plugin {connection.plugin!r} (known: {known}){hint}"
            continue
        default = declared[name].get("default")
        if not _same_kind(value, default):
            yield f"{name}: must be {_kind(default)}, as its default {_toml(default)} is; got {_toml(value)}"
        elif name in registry.contracts[connection.plugin].options:
            yield from (f"{name}{problem}" for problem in registry.contracts[connection.plugin].option_problems(
                name, value))


def _same_kind(value: Any, default: Any) -> bool:
    if default is None:  # no default to go by: the plugin checks the value itself
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, int | float)
    return isinstance(value, type(default))


def _kind(default: Any) -> str:
    kinds = {bool: "true or false", int: "a whole number", float: "a number", str: "text", list: "a list",
             dict: "a table"}
    return kinds.get(type(default), type(default).__name__)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)

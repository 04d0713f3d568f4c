"""What the loaded plugins contribute: systems, transforms, verifiers, and each system's validated contract."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from hub.contracts import Contract, load_contract
from hub.errors import ContractError, PluginError
from hub.plugins import LoadedPlugins, PluginFailure, call_each, make_plugin_manager
from hub.system import System
from hub.transforms import Transform
from hub.verifiers import Verifier


@dataclass
class Registry:
    """Everything plugins registered, by name, and who registered it."""

    loaded: LoadedPlugins
    systems: dict[str, type[System]] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    transforms: dict[str, Transform] = field(default_factory=dict)
    verifiers: dict[str, Verifier] = field(default_factory=dict)
    contracts: dict[str, Contract] = field(default_factory=dict)

    @property
    def failures(self) -> list[PluginFailure]:
        """Plugins that failed to load or raised in a hook."""
        return self.loaded.failures

    def system(self, name: str) -> type[System]:
        """A registered system class by name, or a clear error naming the known ones and any failures."""
        if name in self.systems:
            return self.systems[name]
        broken = [f for f in self.failures if f.plugin == name]
        if broken:
            raise PluginError(f"plugin {name!r} is installed but failed: {broken[0].error}")
        known = ", ".join(sorted(self.systems)) or "none"
        raise PluginError(f"no plugin registers a system named {name!r} (installed: {known})")


def build_registry(env: Mapping[str, str] | None = None, extra: list[object] = ()) -> Registry:
    """Load plugins and collect what they register; refuse on name clashes and invalid contracts."""
    registry = Registry(make_plugin_manager(env, extra))
    _collect(registry)
    problems: list[str] = []
    for name, system in registry.systems.items():
        try:
            registry.contracts[name] = load_contract(
                Path(system.contract_path), transforms=registry.transforms, verifiers=registry.verifiers
            )
        except ContractError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ContractError(problems)
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

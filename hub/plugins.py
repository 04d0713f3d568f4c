"""Find plugins through the ``hub.plugins`` entry-point group and collect what they register.

Built-in plugins are declared in the hub's own ``pyproject.toml`` and loaded by exactly this code, so a
third-party plugin installed with pip is found the same way. Two switches help when debugging:
``HUB_PLUGINS=a,b`` loads only the named entry points, ``HUB_TRACE_PLUGINS=1`` prints every hook call.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy

from hub import hookspecs

ENTRY_POINT_GROUP = "hub.plugins"


@dataclass
class PluginFailure:
    """A plugin that could not be loaded or whose hook raised, kept so the hub can report it."""

    plugin: str
    stage: str
    error: str


@dataclass
class LoadedPlugins:
    """The plugin manager plus what each plugin's distribution is and what went wrong on the way."""

    pm: pluggy.PluginManager
    versions: dict[str, str] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)


def make_plugin_manager(env: Mapping[str, str] | None = None, extra: list[object] = ()) -> LoadedPlugins:
    """Build a plugin manager with every installed plugin (and ``extra`` objects, for tests) registered."""
    env = env if env is not None else {}
    pm = pluggy.PluginManager("hub")
    pm.add_hookspecs(hookspecs)
    loaded = LoadedPlugins(pm)
    only = {name.strip() for name in env.get("HUB_PLUGINS", "").split(",") if name.strip()}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if only and entry_point.name not in only:
            continue
        try:
            module = entry_point.load()
            pm.register(module, name=entry_point.name)
        except Exception as exc:  # a broken plugin is reported, never fatal
            loaded.failures.append(PluginFailure(entry_point.name, "load", _describe(exc)))
            continue
        loaded.versions[entry_point.name] = entry_point.dist.version if entry_point.dist else "unknown"
    for plugin in extra:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        pm.register(plugin, name=name)
        loaded.versions.setdefault(name, getattr(plugin, "__version__", "local"))
    _drop_unknown_hooks(loaded)
    if env.get("HUB_TRACE_PLUGINS"):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return loaded


def _drop_unknown_hooks(loaded: LoadedPlugins) -> None:
    """Unregister each plugin implementing a hook the hub does not define, and record it as failed to load."""
    pm = loaded.pm
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = plugin_name(pm, exc.plugin)
            hooks = ", ".join(sorted(c.name for c in pm.get_hookcallers(exc.plugin) or [] if c.spec is None))
            pm.unregister(exc.plugin)
            loaded.versions.pop(name, None)
            loaded.failures.append(PluginFailure(name, "load", f"implements hooks the hub does not define: "
                                                 f"{hooks or exc}; see docs/plugins.md for the hook names"))


def plugin_name(pm: pluggy.PluginManager, plugin: object) -> str:
    """The name a plugin was registered under."""
    return pm.get_name(plugin) or repr(plugin)


def call_each(loaded: LoadedPlugins, hook: str, kwargs_for: Callable[[str], dict[str, Any]]
              ) -> Iterator[tuple[str, Any]]:
    """Call one hook on each plugin in turn, so that a plugin that raises is reported by name and skipped."""
    caller = getattr(loaded.pm.hook, hook)
    for impl in reversed(caller.get_hookimpls()):
        name = plugin_name(loaded.pm, impl.plugin)
        kwargs = kwargs_for(name)
        try:
            result = impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
        except Exception as exc:
            loaded.failures.append(PluginFailure(name, hook, _describe(exc)))
            continue
        yield name, result


async def await_me_maybe(value: Any) -> Any:
    """Await a hook's result if it is awaitable, so hooks may be written sync or async."""
    if inspect.isawaitable(value):
        return await value
    return value


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"

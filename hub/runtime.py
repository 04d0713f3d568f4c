"""The running hub: configuration, plugins, store, and one system client and sync engine per connection."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from hub.config import Config, Connection
from hub.credentials import StoredTokens
from hub.disconnect import refuse_if_disconnected
from hub.engine import Engine, RunResult, Scope
from hub.errors import ConfigError, ContractError, HubError
from hub.ratelimit import Limiter, RateLimitedTransport, RateLimits, retry_after_reader
from hub.registry import Registry, build_registry, check_options
from hub.runs import AlreadyRunning, Run
from hub.scopes import TARGETED_TRIGGERS, Scopes
from hub.secrets import TokenCipher
from hub.store import Store, now_utc
from hub.system import System

STORE_POLL = 0.05
"""Seconds between a waiting sync's attempts to start while another process's targeted syncs hold its types."""

TransportFactory = Callable[[Connection], httpx.AsyncBaseTransport]
"""Builds the transport a connection's client sends through (tests mount simulators here)."""


@dataclass
class Hub:
    """Everything a command or the web app needs, opened once and closed once."""

    config: Config
    registry: Registry
    store: Store
    env: Mapping[str, str]
    transport_for: TransportFactory | None = None
    clock: Callable[[], datetime] = now_utc
    unavailable: dict[str, str] = field(default_factory=dict)
    scopes: Scopes = field(default_factory=Scopes)
    """The entity types this process's syncs hold, so they queue for each other instead of refusing."""
    on_paused: Callable[[str], Awaitable[None]] | None = None
    """Told the connection when a person's or the timer's sync ends paused (``hub serve`` resumes it later)."""
    _systems: dict[str, System] = field(default_factory=dict)
    _limiters: dict[str, Limiter] = field(default_factory=dict)

    @classmethod
    async def open(cls, config: Config, *, env: Mapping[str, str] | None = None, plugins: list[object] = (),
                   transport_for: TransportFactory | None = None, clock: Callable[[], datetime] = now_utc) -> Hub:
        """Load plugins, check every connection names a loaded plugin, open the store."""
        env = dict(os.environ if env is None else env)
        registry = build_registry(env, list(plugins))
        unavailable: dict[str, str] = {}
        for connection in config.connections.values():
            if connection.plugin in registry.systems:
                if registry.systems[connection.plugin].contract_only:
                    unavailable[connection.name] = (f"plugin {connection.plugin!r} ships only its contract so far; "
                                                    "its client is not released yet")
                continue
            if connection.plugin in registry.invalid_contracts:  # the same lines as `hub contracts check`
                raise ContractError(registry.invalid_contracts[connection.plugin].problems)
            broken = [f for f in registry.failures if f.plugin == connection.plugin]
            if not broken:
                known = ", ".join(sorted(registry.systems)) or "none"
                raise ConfigError(
                    f"connections.{connection.name}.plugin: no plugin named {connection.plugin!r} (installed: {known})"
                )
            unavailable[connection.name] = f"plugin {connection.plugin!r} failed: {broken[0].error}"
        _check_secret_key(config, env, unavailable)
        check_options(registry, config)
        store = await Store.open(config.database)
        try:
            return cls(config, registry, store, env, transport_for, clock, unavailable)
        except BaseException:
            await store.close()  # its thread would outlive the process's last task and keep it from exiting
            raise

    async def close(self) -> None:
        """Close every client and the store."""
        for system in self._systems.values():
            await system.http.aclose()
        self._systems.clear()
        await self.store.close()

    def connection(self, name: str) -> Connection:
        """A configured connection that can be used, or a clear error saying why not."""
        connection = self.config.connection(name)
        if name in self.unavailable:
            raise HubError(f"connection {name!r} is unavailable: {self.unavailable[name]}")
        return connection

    def system(self, name: str) -> System:
        """The connection's system client, built once with its rate limits and transport."""
        if name not in self._systems:
            connection = self.connection(name)
            cls = self.registry.system(connection.plugin)
            contract = self.registry.contracts[connection.plugin]
            limiter = Limiter(RateLimits(contract.limits.get("per_minute"), contract.limits.get("per_day"),
                                         contract.limits.get("in_flight")), self.clock, system=connection.name)
            inner = self.transport_for(connection) if self.transport_for else httpx.AsyncHTTPTransport(retries=1)
            reader = cls.limit_header_reader or retry_after_reader
            http = httpx.AsyncClient(transport=RateLimitedTransport(inner, limiter, reader), timeout=30.0)
            self._limiters[name] = limiter
            system = cls(connection, http)
            system.clock = self.clock
            if keeps_tokens(connection):
                system.token_store = StoredTokens.from_env(self.store, self.env)
            self._systems[name] = system
        return self._systems[name]

    def limiter(self, name: str) -> Limiter:
        """The rate limiter of a connection whose client was built."""
        self.system(name)
        return self._limiters[name]

    def engine(self, name: str) -> Engine:
        """A sync engine for one connection."""
        connection = self.connection(name)
        return Engine(self.store, self.system(name), self.registry.contracts[connection.plugin], connection,
                      transforms=self.registry.transforms, clock=self.clock)

    async def sync(self, name: str, scope: Scope | None = None, *, trigger: str, actor: str,
                   dry_run: bool = False, on_progress: Callable[[Run], None] | None = None,
                   on_start: Callable[[Run], None] | None = None) -> RunResult:
        """Run a sync of one connection, logging who asked; its types are held in this process meanwhile.

        A sync of types this process is syncing waits or is refused (``AlreadyRunning``) as ``Scopes`` says.
        ``on_start`` is told the run once it is stored, as ``Engine.sync`` says.
        """
        scope = scope or Scope()
        engine = self.engine(name)
        await refuse_if_disconnected(self.store, name)  # the one place a disconnected connection's syncs stop
        if trigger == "manual":
            what = ", ".join(scope.entities) or "everything"
            await self.store.log(actor, "sync requested", f"{actor} asked for a sync of {name} ({what})",
                                 connection=name, at=self.clock())
        if dry_run:  # a dry run writes nothing, so it holds nothing, here or in the store
            return await engine.sync(scope, trigger=trigger, actor=actor, dry_run=True, on_progress=on_progress,
                                     on_start=on_start)
        async with self.scopes.hold(name, engine.entities_in(scope), trigger=trigger):
            result = await self._sync_when_free(engine, scope, trigger=trigger, actor=actor, on_progress=on_progress,
                                                on_start=on_start)
        if self.on_paused and result.status.startswith("paused") and trigger not in TARGETED_TRIGGERS:
            await self.on_paused(name)
        return result

    async def _sync_when_free(self, engine: Engine, scope: Scope, *, trigger: str, actor: str,
                              on_progress: Callable[[Run], None] | None,
                              on_start: Callable[[Run], None] | None = None) -> RunResult:
        """Run the sync; a person's or a timer's waits (as long as for this process's) while only another process's
        targeted syncs hold its types, such as ``hub serve``'s webhook syncs seen by ``hub sync``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.scopes.whole_wait
        while True:
            try:
                return await engine.sync(scope, trigger=trigger, actor=actor, on_progress=on_progress,
                                         on_start=on_start)
            except AlreadyRunning as exc:
                if trigger in TARGETED_TRIGGERS or not exc.targeted or loop.time() >= deadline:
                    raise
            await asyncio.sleep(STORE_POLL)

    def describe_plugins(self) -> list[dict[str, Any]]:
        """Each loaded system plugin: name, version, entity types and contract path; and each failure."""
        return describe_plugins(self.registry)


def keeps_tokens(connection: Connection) -> bool:
    """Whether the hub keeps the connection's rotated OAuth tokens, encrypted under ``HUB_SECRET_KEY``."""
    return "refresh_token" in connection.secrets and "access_token" not in connection.secrets


def _check_secret_key(config: Config, env: Mapping[str, str], unavailable: Mapping[str, str]) -> None:
    """Refuse to start when a usable connection keeps tokens and ``HUB_SECRET_KEY`` is missing or malformed."""
    needing = [c.name for c in config.connections.values() if c.name not in unavailable and keeps_tokens(c)]
    if not needing:
        return
    try:
        TokenCipher.from_env(env)
    except ConfigError as exc:
        raise ConfigError(f"connections.{needing[0]}.secrets.refresh_token: {exc}") from None


def describe_plugins(registry: Registry) -> list[dict[str, Any]]:
    """What ``hub plugins`` shows."""
    rows: list[dict[str, Any]] = []
    for name, system in sorted(registry.systems.items()):
        plugin = registry.owners[name]
        contract = registry.contracts[name]
        rows.append({
            "name": name,
            "title": system.title or contract.system,
            "plugin": plugin,
            "version": registry.loaded.versions.get(plugin, "unknown"),
            "entities": sorted(contract.entities),
            "contract": str(contract.path),
            "api": contract.api,
            "simulator": system.simulator.__func__ is not System.simulator.__func__,
            "status": "contract only (client not released yet)" if system.contract_only else "ok",
        })
    for name, invalid in sorted(registry.invalid_contracts.items()):
        plugin = registry.owners[name]
        first = invalid.problems[0].removeprefix(f"{plugin}: ")
        more = len(invalid.problems) - 1
        rows.append({"name": name, "title": invalid.system.title or name, "plugin": plugin,
                     "version": registry.loaded.versions.get(plugin, "unknown"), "entities": [],
                     "contract": str(invalid.system.contract_path), "status": f"invalid contract: {first}" + (
                         f" (and {more} more: hub contracts check lists them)" if more else "")})
    for failure in registry.failures:
        rows.append({"name": failure.plugin, "plugin": failure.plugin, "version": "", "entities": [],
                     "contract": "", "status": f"failed in {failure.stage}: {failure.error}"})
    return rows

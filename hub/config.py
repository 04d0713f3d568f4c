"""Read ``hub.toml``: where the store lives, who may call the API, and each connection to an external system."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.errors import ConfigError
from hub.schedule import parse_schedule

DEFAULT_CONFIG = "config/hub.toml"
"""Where the hub looks for its configuration without --config or $HUB_CONFIG, and where ``hub init`` writes it."""
ROLES = ("admin", "standard")
ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
"""What an environment variable's name looks like by convention; an unset name unlike it may be a pasted secret."""


@dataclass(frozen=True)
class User:
    """Someone who calls the API: a name (the actor on runs and activity), a role and a bearer token."""

    name: str
    role: str
    token: str
    disconnected: bool = False
    """Seed 004's disconnected user: their changes wait in the sync queue for the next sync instead of going out at
    once."""


@dataclass(frozen=True)
class Connection:
    """One configured link to an external system through a plugin."""

    name: str
    plugin: str
    base_url: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    schedule: str | None = None
    sync_on_start: bool = False
    entities: tuple[str, ...] = ()

    def secret(self, name: str) -> str:
        """A secret the connection's config named, or a ConfigError saying which key to add."""
        try:
            return self.secrets[name]
        except KeyError:
            raise ConfigError(
                f"connections.{self.name}.secrets.{name}: missing; name the environment variable that holds it"
            ) from None


@dataclass(frozen=True)
class Config:
    """The whole configuration."""

    path: Path | None
    database: Path
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    workers: int = 2
    users: dict[str, User] = field(default_factory=dict)
    connections: dict[str, Connection] = field(default_factory=dict)

    def connection(self, name: str) -> Connection:
        """One connection by name, or a ConfigError listing the configured ones."""
        try:
            return self.connections[name]
        except KeyError:
            known = ", ".join(sorted(self.connections)) or "none"
            raise ConfigError(f"no connection named {name!r} in the configuration (configured: {known})") from None


def load_config(path: Path | str, env: Mapping[str, str]) -> Config:
    """Read a config file; every mistake is a ConfigError naming the key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file ({_init_hint(path)})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, env, path=path)


def example_config() -> Path:
    """The commented example configuration: inside the installed package (a wheel), else in the clone's config/."""
    here = Path(__file__).resolve().parent
    return next((p for p in (here / "_config" / "hub.toml", here.parent / "config" / "hub.toml") if p.exists()),
                here.parent / "config" / "hub.toml")


def _init_hint(path: Path) -> str:
    if path == Path(DEFAULT_CONFIG):
        return "hub init writes the commented example there; then edit it"
    return f"hub init writes the commented example to {DEFAULT_CONFIG}; edit it there, or copy it to {path}"


def parse_config(data: Mapping[str, Any], env: Mapping[str, str], *, path: Path | None = None) -> Config:
    """Build a Config from parsed TOML, resolving secrets from ``env``."""
    where = f"{path}: " if path else ""
    _only(data, {"hub", "users", "connections"}, "", where)
    hub = _table(data, "hub", where)
    _only(hub, {"database", "listen", "workers"}, "hub.", where)
    base = path.parent.parent if path and path.parent.name == "config" else (path.parent if path else Path.cwd())
    database = Path(_str(hub, "database", "hub.", where, default="var/hub.db"))
    if str(database) != ":memory:" and not database.is_absolute():
        database = base / database
    host, port = _listen(_str(hub, "listen", "hub.", where, default="127.0.0.1:8080"), where)
    workers = hub.get("workers", 2)
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"{where}hub.workers: must be a whole number of at least 1, got {workers!r}")
    users = {name: _user(name, spec, env, where) for name, spec in _table(data, "users", where).items()}
    connections = {
        name: _connection(name, spec, env, where) for name, spec in _table(data, "connections", where).items()
    }
    return Config(path, database, host, port, workers, users, connections)


def _user(name: str, spec: Any, env: Mapping[str, str], where: str) -> User:
    key = f"users.{name}."
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}users.{name}: must be a table")
    _only(spec, {"role", "token_env", "disconnected"}, key, where)
    role = _str(spec, "role", key, where, default="standard")
    if role not in ROLES:
        raise ConfigError(f"{where}{key}role: must be one of {', '.join(ROLES)}, got {role!r}")
    disconnected = spec.get("disconnected", False)
    if not isinstance(disconnected, bool):
        raise ConfigError(f"{where}{key}disconnected: must be true or false, got {disconnected!r}")
    return User(name, role, _env(env, _str(spec, "token_env", key, where), f"{key}token_env", where), disconnected)


def _connection(name: str, spec: Any, env: Mapping[str, str], where: str) -> Connection:
    key = f"connections.{name}."
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}connections.{name}: must be a table")
    _only(spec, {"plugin", "base_url", "options", "secrets", "schedule", "sync_on_start", "entities"}, key, where)
    secrets_spec = _table(spec, "secrets", where, prefix=key)
    secrets = {
        secret: _env(env, variable, f"{key}secrets.{secret}", where) for secret, variable in secrets_spec.items()
    }
    entities = spec.get("entities", [])
    if not isinstance(entities, list) or not all(isinstance(e, str) for e in entities):
        raise ConfigError(f"{where}{key}entities: must be a list of entity type names")
    sync_on_start = spec.get("sync_on_start", False)
    if not isinstance(sync_on_start, bool):
        raise ConfigError(f"{where}{key}sync_on_start: must be true or false, got {sync_on_start!r}")
    return Connection(
        name=name,
        plugin=_str(spec, "plugin", key, where),
        base_url=_base_url(spec.get("base_url"), key, where),
        options=dict(_table(spec, "options", where, prefix=key)),
        secrets=secrets,
        schedule=_schedule(spec.get("schedule"), key, where),
        sync_on_start=sync_on_start,
        entities=tuple(entities),
    )


def _schedule(schedule: Any, key: str, where: str) -> str | None:
    """The schedule as written, once the timer's own parser has read it (so ``hub serve`` cannot trip on it)."""
    if schedule is None:
        return None
    if not isinstance(schedule, str):
        raise ConfigError(f"{where}{key}schedule: must be text like \"15m\" or \"0 2 * * *\", got {schedule!r}")
    try:
        parse_schedule(schedule)
    except ValueError as exc:
        raise ConfigError(f"{where}{key}schedule: {exc}") from None
    return schedule


def _base_url(url: Any, key: str, where: str) -> str | None:
    """The vendor URL to call instead of the plugin's default: an http or https URL with a host."""
    if url is None:
        return None
    if not isinstance(url, str) or not re.fullmatch(r"https?://[^/\s?#]+(/\S*)?", url):
        raise ConfigError(f"{where}{key}base_url: must be an http:// or https:// URL such as "
                          f"\"https://api.example.com\", got {url!r}")
    return url


def _env(env: Mapping[str, str], variable: Any, key: str, where: str) -> str:
    if not isinstance(variable, str) or not variable:
        raise ConfigError(f"{where}{key}: must name an environment variable, got {variable!r}")
    value = env.get(variable)
    if value:
        return value
    if not ENV_NAME.fullmatch(variable):
        # Most likely the secret itself pasted in: never echo it into a terminal or a log.
        raise ConfigError(f"{where}{key}: no environment variable by this name is set, and it does not look like "
                          "one (capitals, digits and _, such as QBO_CLIENT_SECRET); the configuration names the "
                          "environment variable that holds a secret, never the secret itself")
    raise ConfigError(f"{where}{key}: environment variable {variable} is not set")


def _table(data: Mapping[str, Any], name: str, where: str, prefix: str = "") -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}{prefix}{name}: must be a table")
    return value


def _str(data: Mapping[str, Any], name: str, prefix: str, where: str, default: str | None = None) -> str:
    value = data.get(name, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}{prefix}{name}: must be non-empty text, got {value!r}")
    return value


def _only(data: Mapping[str, Any], allowed: set[str], prefix: str, where: str) -> None:
    for key in data:
        if key not in allowed:
            raise ConfigError(f"{where}{prefix}{key}: unknown key (allowed: {', '.join(sorted(allowed))})")


def _listen(text: str, where: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{where}hub.listen: must be HOST:PORT, got {text!r}")
    return host, int(port)

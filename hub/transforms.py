"""Named field transforms: how a value changes between the home side and the remote side."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from hub.types import UNSET


class Transform(Protocol):
    """A two-way value conversion; both methods must pass ``UNSET`` through untouched."""

    def to_home(self, value: Any) -> Any:
        """Convert a remote value into the home side's form."""

    def to_remote(self, value: Any) -> Any:
        """Convert a home value into the remote side's form."""


class Negate:
    """Booleans flip on the way (QuickBooks ``Active`` is the home ``hidden`` flag turned over)."""

    def to_home(self, value: Any) -> Any:
        """Flip a remote boolean."""
        return value if value is UNSET or value is None else not value

    def to_remote(self, value: Any) -> Any:
        """Flip a home boolean."""
        return value if value is UNSET or value is None else not value


@dataclass(frozen=True)
class ValueMap:
    """Listed values are swapped for their counterparts; anything else passes unchanged."""

    pairs: tuple[tuple[Any, Any], ...]

    def to_home(self, value: Any) -> Any:
        """The home value paired with a remote one."""
        return next((home for home, remote in self.pairs if remote == value), value)

    def to_remote(self, value: Any) -> Any:
        """The remote value paired with a home one."""
        return next((remote for home, remote in self.pairs if home == value), value)


class Identity:
    """No change either way."""

    def to_home(self, value: Any) -> Any:
        """Return the value as it is."""
        return value

    def to_remote(self, value: Any) -> Any:
        """Return the value as it is."""
        return value


IDENTITY = Identity()


def build_transform(spec: Mapping[str, Any] | None, registered: Mapping[str, Transform]) -> Transform | None:
    """The transform a contract field names; ``None`` for a reference, which the engine resolves itself."""
    if not spec:
        return IDENTITY
    kind = spec["type"]
    if kind == "negate":
        return Negate()
    if kind == "value_map":
        return ValueMap(tuple((home, remote) for home, remote in spec["pairs"]))
    if kind == "plugin":
        return registered[spec["name"]]
    if kind == "reference":
        return None
    raise ValueError(f"unknown transform type {kind!r}")

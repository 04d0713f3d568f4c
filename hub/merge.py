"""Decide, field by field, which side's value wins under a contract's overwrite rules. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.types import UNSET, Direction, Phase, Rule, is_blank


@dataclass(frozen=True, slots=True)
class Side:
    """One side's value of a field and when that value last changed (``None`` when unknown)."""

    value: Any
    changed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What happens to one field: written one way (``direction``) or left alone, and why."""

    field: str
    direction: Direction | None
    rule: Rule
    before: Any
    after: Any
    reason: str


def same(a: Any, b: Any) -> bool:
    """Whether two values are equal for syncing purposes: every kind of blank equals every other."""
    if is_blank(a) and is_blank(b):
        return True
    return a == b


def writes(rule: Rule, source: Side, target: Side) -> bool:
    """Whether ``rule`` sends the source's value over the target's."""
    if rule == "never" or source.value is UNSET or same(source.value, target.value):
        return False
    if rule == "fill_blank":
        return is_blank(target.value) and not is_blank(source.value)
    if rule == "overwrite":
        return not is_blank(source.value)
    if rule == "mirror":
        return True
    if rule == "newest":
        return source.changed_at is not None and (target.changed_at is None or source.changed_at > target.changed_at)
    raise ValueError(f"unknown rule {rule!r}")


def decide(field: str, phase: Phase, to_home: Rule, to_remote: Rule, home: Side, remote: Side) -> Decision:
    """Apply one field's pair of rules to its two values; at most one direction writes."""
    label = f"{phase} sync"
    if writes(to_home, remote, home):
        return Decision(field, "to_home", to_home, home.value, remote.value,
                        f"took remote value: {label}, rule {to_home} remote→home")
    if writes(to_remote, home, remote):
        return Decision(field, "to_remote", to_remote, remote.value, home.value,
                        f"sent home value: {label}, rule {to_remote} home→remote")
    if same(home.value, remote.value):
        reason = "same on both sides"
    else:
        reason = f"kept both values: {label}, rules {to_home} remote→home and {to_remote} home→remote"
    return Decision(field, None, "never", home.value, home.value, reason)

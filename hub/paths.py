"""Remote field paths: ``PrimaryEmailAddr.Address``, ``BusinessCard.WebSites[0]``, read and written on JSON data."""

from __future__ import annotations

import itertools
import re
from functools import cache
from typing import Any

from hub.types import UNSET

_STEP = re.compile(r"([A-Za-z_@$][\w@$-]*)|\[(\d+)\]")
PATH_PATTERN = r"^[A-Za-z_@$][\w@$-]*(\[\d+\])*(\.[A-Za-z_@$][\w@$-]*(\[\d+\])*)*$"
"""What a remote field path looks like (used by the contract schema too)."""

Step = str | int


@cache
def parse_path(path: str) -> tuple[Step, ...]:
    """Split a path into keys and list indexes; raise ValueError on anything else."""
    if not re.fullmatch(PATH_PATTERN, path):
        raise ValueError(f"not a field path: {path!r} (expected names joined by dots, with [n] indexes)")
    return tuple(name if name else int(index) for name, index in _STEP.findall(path))


def get_path(data: Any, path: str) -> Any:
    """The value at ``path`` in ``data``, or ``UNSET`` where any step is missing."""
    current = data
    for step in parse_path(path):
        if isinstance(step, int):
            if not isinstance(current, list) or step >= len(current):
                return UNSET
            current = current[step]
        else:
            if not isinstance(current, dict) or step not in current:
                return UNSET
            current = current[step]
    return current


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Write ``value`` at ``path`` in ``data``, making the dicts and lists on the way."""
    steps = parse_path(path)
    current: Any = data
    for step, following in itertools.pairwise(steps):
        blank: Any = [] if isinstance(following, int) else {}
        current = _child(current, step, blank)
    _assign(current, steps[-1], value)


def nest(values: dict[str, Any]) -> dict[str, Any]:
    """Turn ``{path: value}`` into the nested document those paths describe."""
    document: dict[str, Any] = {}
    for path, value in values.items():
        set_path(document, path, value)
    return document


def _child(container: Any, step: Step, blank: Any) -> Any:
    if isinstance(step, int):
        while len(container) <= step:
            container.append(None)
        if not isinstance(container[step], dict | list):
            container[step] = blank
        return container[step]
    if not isinstance(container.get(step), dict | list):
        container[step] = blank
    return container[step]


def _assign(container: Any, step: Step, value: Any) -> None:
    if isinstance(step, int):
        while len(container) <= step:
            container.append(None)
    container[step] = value

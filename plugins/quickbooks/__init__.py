"""The QuickBooks Online plugin: the system, the transforms its contract names, and its simulator."""

from __future__ import annotations

from collections.abc import Callable

from hub import hookimpl
from hub.system import System
from hub.transforms import Transform
from plugins.quickbooks.system import QuickBooks
from plugins.quickbooks.transforms import TRANSFORMS


@hookimpl
def register_systems(register: Callable[[type[System]], None]) -> None:
    """Register QuickBooks Online."""
    register(QuickBooks)


@hookimpl
def register_transforms(register: Callable[[str, Transform], None]) -> None:
    """Register ``qbo_lines`` and ``qbo_bill_lines``."""
    for name, transform in TRANSFORMS.items():
        register(name, transform)

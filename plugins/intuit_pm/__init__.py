"""The Intuit Practice Management plugin (Karbon API v3): accounts and contacts with their business cards."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from hub import hookimpl
from hub.system import System
from hub.transforms import Transform

from .commands import add_commands
from .system import IntuitPracticeManagement
from .transforms import KARBON_ADDRESS


@hookimpl
def register_systems(register: Callable[[type[System]], None]) -> None:
    """Register Intuit Practice Management."""
    register(IntuitPracticeManagement)


@hookimpl
def register_transforms(register: Callable[[str, Transform], None]) -> None:
    """Register ``karbon_address``, which the contract's account address names."""
    register("karbon_address", KARBON_ADDRESS)


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``hub karbon-webhooks``, which subscribes a Karbon account's webhooks to the hub."""
    add_commands(subparsers)


__all__ = ["IntuitPracticeManagement"]

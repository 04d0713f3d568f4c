"""Every hook a plugin can implement, grouped by when the hub calls it.

A hook implemented as ``async def`` is awaited by the hub; none of these use ``firstresult``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pluggy import HookimplMarker, HookspecMarker

if TYPE_CHECKING:
    import argparse

    from hub.system import System
    from hub.transforms import Transform
    from hub.verifiers import Verifier

hookspec = HookspecMarker("hub")
hookimpl = HookimplMarker("hub")


# --- Start-up: what a plugin contributes -------------------------------------------------------


@hookspec
def register_systems(register: Callable[[type[System]], None]) -> None:
    """Register the external systems this plugin connects the hub to."""


@hookspec
def register_transforms(register: Callable[[str, Transform], None]) -> None:
    """Register named field transforms that contracts name with ``{"type": "plugin", "name": ...}``."""


@hookspec
def register_verifiers(register: Callable[[Verifier], None]) -> None:
    """Register webhook signature schemes that contracts name in ``webhook.verifier``."""


# --- Command line and web ------------------------------------------------------------------------


@hookspec
def register_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add sub-commands to the ``hub`` command line."""


@hookspec
def register_routes(hub: Any) -> list[Any] | None:
    """Return extra Starlette routes to mount on the hub's web app."""


@hookspec
def startup(hub: Any) -> None:
    """Run once when the hub's web app starts, after the store is open (may be async)."""

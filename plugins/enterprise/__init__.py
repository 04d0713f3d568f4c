"""The ``enterprise`` plugin: an Enterprise pushing billable items and packages to its practices.

The practices' API is hub-defined (eVetPractice / Covetrus Pulse publishes none); this release ships the
contract and its transform. The client and simulator come with the plugin's own issue, so ``hub plugins``
lists it as "contract only" and a connection to it is refused with that reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hub import hookimpl
from hub.system import System
from hub.transforms import Transform
from plugins.enterprise.transforms import PackageComponents


class EnterprisePractice(System):
    """One practice of the Enterprise, reached through the hub-defined practice API."""

    name = "enterprise"
    title = "Enterprise practices (hub-defined API)"
    contract_path = Path(__file__).resolve().parents[2] / "contracts" / "enterprise.json"
    contract_only = True


@hookimpl
def register_systems(register: Callable[[type[System]], None]) -> None:
    """Register the Enterprise practice system."""
    register(EnterprisePractice)


@hookimpl
def register_transforms(register: Callable[[str, Transform], None]) -> None:
    """Register the package components transform the contract names."""
    register("enterprise_components", PackageComponents())

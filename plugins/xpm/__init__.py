"""The ``xpm`` plugin: Xero Practice Manager (clients, jobs, staff, tax returns, custom field definitions).

This release ships the contract and the one transform it names (``xpm_custom_fields``); the XML client and
simulator come with the plugin's own issue, so ``hub plugins`` lists it as "contract only" and a connection to it
is refused with that reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hub import hookimpl
from hub.system import System
from hub.transforms import Transform

from .custom_fields import XPM_CUSTOM_FIELDS


class XeroPracticeManager(System):
    """Xero Practice Manager API v3.1 (XML)."""

    name = "xpm"
    title = "Xero Practice Manager"
    contract_path = Path(__file__).resolve().parents[2] / "contracts" / "xpm.json"
    default_base_url = "https://api.xero.com/practicemanager/3.1"
    contract_only = True


@hookimpl
def register_systems(register: Callable[[type[System]], None]) -> None:
    """Register Xero Practice Manager."""
    register(XeroPracticeManager)


@hookimpl
def register_transforms(register: Callable[[str, Transform], None]) -> None:
    """Register ``xpm_custom_fields``, which the client's and the job's ``custom_fields`` name."""
    register("xpm_custom_fields", XPM_CUSTOM_FIELDS)

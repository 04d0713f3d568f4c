"""The hub's own default plugin: the built-in webhook signature schemes, loaded like any other plugin."""

from __future__ import annotations

from collections.abc import Callable

from hub.hookspecs import hookimpl
from hub.verifiers import VERIFIERS, Verifier


@hookimpl
def register_verifiers(register: Callable[[Verifier], None]) -> None:
    """Register QuickBooks' intuit-signature, Karbon's Signature and Standard Webhooks."""
    for verifier in VERIFIERS.values():
        register(verifier)

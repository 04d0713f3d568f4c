"""``hub karbon-webhooks``: subscribe a Karbon account's Contact webhooks to the hub, show the subscription, end it.

Karbon keeps one subscription per webhook type, so each action works on the Contact subscription.
"""

from __future__ import annotations

import argparse
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from hub.errors import HubError, RecordError

from .client import decode_object
from .system import IntuitPracticeManagement

if TYPE_CHECKING:
    from hub.runtime import Hub

COMMAND = "karbon-webhooks"
WEBHOOK_TYPE = "Contact"
"""Karbon sends Contact, Organization and Client Group changes under this one type."""
SUBSCRIPTION_PATH = f"/v3/WebhookSubscriptions/{WEBHOOK_TYPE}"
Work = Callable[["Hub", IntuitPracticeManagement], Awaitable[int]]
KEY_SECRET = "webhook_signing_key"
"""The connection secret ``subscribe`` signs with by default."""


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``hub karbon-webhooks subscribe|show|unsubscribe``."""
    parser = subparsers.add_parser(COMMAND, help="subscribe a Karbon account's webhooks to this hub; show or end that")
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    subscribe = actions.add_parser("subscribe", help="ask Karbon to post Contact webhooks to URL")
    subscribe.add_argument("connection", metavar="CONNECTION", help="an intuit_pm connection of the configuration")
    subscribe.add_argument("url", metavar="URL", help="the hub's public https address, such as https://hub.example.com/webhooks/karbon")
    subscribe.add_argument("--signing-key", metavar="KEY",
                           help="sign with KEY (default: the connection's, else a new one)")
    subscribe.add_argument("--json", action="store_true")
    subscribe.set_defaults(handler=_subscribe)
    show = actions.add_parser("show", help="show the Contact subscription Karbon holds")
    show.add_argument("connection", metavar="CONNECTION")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_show)
    unsubscribe = actions.add_parser("unsubscribe", help="end the Contact subscription")
    unsubscribe.add_argument("connection", metavar="CONNECTION")
    unsubscribe.set_defaults(handler=_unsubscribe)


def _on_karbon(args: argparse.Namespace, work: Work) -> int:
    """Open the hub as the core commands do and run ``work(hub, system)`` on the connection's Karbon client."""
    from hub.cli import with_hub  # here: the plugin is loaded while hub.cli builds its parser

    async def run(hub: Hub) -> int:
        return await work(hub, karbon_system(hub, args.connection))

    return with_hub(args, run)


def karbon_system(hub: Hub, name: str) -> IntuitPracticeManagement:
    """The connection's client, or a HubError when the connection is not an intuit_pm one."""
    connection = hub.connection(name)
    if connection.plugin != IntuitPracticeManagement.name:
        raise HubError(f"connection {name!r} uses the {connection.plugin} plugin; hub {COMMAND} works only on "
                       f"{IntuitPracticeManagement.name} (Karbon) connections")
    return cast(IntuitPracticeManagement, hub.system(name))


# --- subscribe ------------------------------------------------------------------------------------------------


def _subscribe(args: argparse.Namespace) -> int:
    async def work(hub: Hub, system: IntuitPracticeManagement) -> int:
        key, new = signing_key(hub, system, args.signing_key)
        try:
            subscription = await system.subscribe(args.url, key)
        except RecordError as exc:
            raise HubError(await _refusal(system, args.url, exc)) from exc
        secret_env = hub.registry.contracts[system.connection.plugin].webhook_secret_env
        if args.json:
            shown = {"connection": args.connection, "subscription": subscription, "signing_key": key if new else None,
                     "secret_env": secret_env}
            print(json.dumps(shown, indent=2))
        else:
            print("\n".join(subscribed_lines(args.connection, subscription, key if new else None, secret_env)))
        return 0

    return _on_karbon(args, work)


def signing_key(hub: Hub, system: IntuitPracticeManagement, given: str | None) -> tuple[str, bool]:
    """The key to sign with, and whether it is new to the hub (given on the command line or made up now)."""
    if given:
        return given, True
    configured = system.connection.secrets.get(KEY_SECRET) or next(iter(system.webhook_secrets()), None)
    variable = hub.registry.contracts[system.connection.plugin].webhook_secret_env
    known = configured or (hub.env.get(variable) if variable else None)
    # Karbon takes 16 or more letters, digits, dashes and underscores: what token_urlsafe makes.
    return (known, False) if known else (secrets.token_urlsafe(32), True)


def subscribed_lines(connection: str, subscription: dict[str, Any], key: str | None, secret_env: str | None
                     ) -> list[str]:
    """What a person reads after subscribing: Karbon's answer, and where the signing key must go."""
    lines = [f"Karbon posts {subscription.get('WebhookType', WEBHOOK_TYPE)} webhooks to "
             f"{subscription.get('TargetUrl')} (connection {connection})."]
    if key is None:
        lines.append("They are signed with the key the hub already holds for this connection.")
        return lines
    fallback = (f", or, if the connection names no webhook secret, in {secret_env} (the contract's "
                "webhook.secret_env)") if secret_env else ""
    return [
        *lines,
        f"Signing key: {key}",
        "Store it where the hub checks Karbon's signatures, then restart hub serve: in the environment variable",
        f"that connections.{connection}.secrets.{KEY_SECRET} names{fallback}.",
    ]


async def _refusal(system: IntuitPracticeManagement, url: str, exc: RecordError) -> str:
    """Karbon's refusal, with what to do about it."""
    if not url.startswith("https://"):
        return f"{exc}; Karbon posts webhooks only to https:// addresses: give the hub's public https address"
    current = await current_subscription(system)
    if current is not None:
        return (f"{exc}; Karbon keeps one {WEBHOOK_TYPE} subscription and already posts to "
                f"{current.get('TargetUrl')}: end it first with hub {COMMAND} unsubscribe {system.connection.name}")
    return str(exc)


# --- show and unsubscribe -------------------------------------------------------------------------------------


async def current_subscription(system: IntuitPracticeManagement) -> dict[str, Any] | None:
    """The Contact subscription Karbon holds, or None."""
    response = await system.api.send("GET", system.api.url(SUBSCRIPTION_PATH), absent_ok=True)
    return None if response is None else decode_object(response, f"GET {SUBSCRIPTION_PATH}")


def _show(args: argparse.Namespace) -> int:
    async def work(hub: Hub, system: IntuitPracticeManagement) -> int:
        subscription = await current_subscription(system)
        if args.json:
            print(json.dumps({"connection": args.connection, "subscription": subscription}, indent=2))
        elif subscription is None:
            print(f"Karbon holds no {WEBHOOK_TYPE} webhook subscription (connection {args.connection}).")
        else:
            print(f"Karbon posts {WEBHOOK_TYPE} webhooks to {subscription.get('TargetUrl')} "
                  f"(connection {args.connection}).")
        return 0

    return _on_karbon(args, work)


def _unsubscribe(args: argparse.Namespace) -> int:
    async def work(hub: Hub, system: IntuitPracticeManagement) -> int:
        ended = await system.api.send("DELETE", system.api.url(SUBSCRIPTION_PATH), absent_ok=True)
        if ended is None:
            print(f"Karbon held no {WEBHOOK_TYPE} webhook subscription (connection {args.connection}); nothing to end.")
        else:
            print(f"Karbon no longer posts {WEBHOOK_TYPE} webhooks (connection {args.connection}).")
        return 0

    return _on_karbon(args, work)

"""Disconnecting a connection (seed 002): its records and links stay, no sync runs until an admin connects it again.

Webhooks keep arriving meanwhile: intake commits them to the inbox as ever, and they wait there, spending no
attempt, until the connection is connected again; so do local changes in its sync queue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.engine import RefusedRun
from hub.errors import HubError
from hub.linking import delink
from hub.store import Link, Store, iso

if TYPE_CHECKING:
    from hub.runtime import Hub


class Disconnected(RefusedRun):
    """A sync of a disconnected connection: the message says who disconnected it, when, and how to reconnect."""


class AlreadyThat(HubError):
    """Disconnecting a disconnected connection, or connecting a connected one."""


async def refuse_if_disconnected(store: Store, name: str) -> None:
    """Raise ``Disconnected`` when an admin disconnected the connection."""
    state = await store.connection_state(name)
    if state["disconnected_at"]:
        raise Disconnected(
            f"{name} is disconnected (by {state['disconnected_by']} at {state['disconnected_at']}): no sync runs "
            f"until an admin connects it again (hub connect {name}, or POST /api/connections/{name}/connect)"
        )


async def disconnect(hub: Hub, name: str, *, actor: str, delink_all: bool = False) -> list[Link]:
    """Disconnect a connection, logging who did; with ``delink_all`` delink every one of its records first."""
    state = await hub.store.connection_state(name)
    if state["disconnected_at"]:
        raise AlreadyThat(f"{name} is already disconnected (by {state['disconnected_by']} at "
                          f"{state['disconnected_at']})")
    at = hub.clock()
    delinked = [
        await delink(hub.store, name, link.entity, home_id=link.home_id, actor=actor, at=at)
        for link in (await hub.store.list_links(name) if delink_all else [])
    ]
    await hub.store.set_connection_state(name, disconnected_at=iso(at), disconnected_by=actor)
    kept = f"delinked its {len(delinked)} record(s)" if delink_all else "its records and links are kept"
    await hub.store.log(actor, "disconnect", f"{actor} disconnected {name}: no sync runs until it is connected "
                        f"again; {kept}", connection=name, at=at)
    return delinked


async def connect(hub: Hub, name: str, *, actor: str) -> int:
    """Connect a disconnected connection again, logging who did; its waiting webhook events are due at once.

    Return how many events were waiting.
    """
    state = await hub.store.connection_state(name)
    if not state["disconnected_at"]:
        raise AlreadyThat(f"{name} is connected; nothing to do")
    at = hub.clock()
    await hub.store.set_connection_state(name, disconnected_at=None, disconnected_by=None)
    async with hub.store.transaction() as tx:
        cursor = await tx.execute(
            "UPDATE inbox SET next_attempt_at = ? WHERE connection = ? AND status = 'pending'", (iso(at), name)
        )
        waiting = cursor.rowcount
    await hub.store.log(actor, "connect", f"{actor} connected {name} again (disconnected by "
                        f"{state['disconnected_by']} at {state['disconnected_at']}); {waiting} webhook event(s) "
                        "waiting in the inbox go through now", connection=name, at=at)
    return waiting

"""API routes to disconnect a connection and to connect it again (seed 002's "Disconnecting")."""

from __future__ import annotations

from typing import Any

from hub.api_http import ApiError, Call, api
from hub.api_links import flag, flag_on
from hub.api_runs import CONNECTION_NAME, connection_row
from hub.api_schemas import CONNECTION, listing
from hub.disconnect import AlreadyThat, connect, disconnect
from hub.openapi import DescribedRoute, Operation


async def disconnect_connection(call: Call) -> dict[str, Any]:
    """Disconnect a connection: no sync runs until it is connected again; records and links stay unless delinked."""
    name = call.path["name"]
    call.connection(name, usable=False)
    try:
        delinked = await disconnect(call.hub, name, actor=call.user.name, delink_all=flag_on(call, "delink_all"))
    except AlreadyThat as exc:
        raise ApiError(409, str(exc)) from None
    return {
        **await connection_row(call.hub, name),
        "delinked": [{"entity": link.entity, "home_id": link.home_id, "remote_id": link.remote_id}
                     for link in delinked],
    }


async def connect_connection(call: Call) -> dict[str, Any]:
    """Connect a disconnected connection again; the webhook events that waited go through at once."""
    name = call.path["name"]
    call.connection(name, usable=False)
    try:
        waiting = await connect(call.hub, name, actor=call.user.name)
    except AlreadyThat as exc:
        raise ApiError(409, str(exc)) from None
    wake = getattr(call.request.app.state, "wake_workers", None)
    if wake is not None:
        wake()
    return {**await connection_row(call.hub, name), "waiting_events": waiting}


DELINKED = listing({
    "type": "object",
    "required": ["entity", "home_id", "remote_id"],
    "properties": {"entity": {"type": "string"}, "home_id": {"type": "string"}, "remote_id": {"type": "string"}},
})


def routes() -> list[DescribedRoute]:
    """The routes of this module."""
    return [
        api(
            "POST",
            "/connections/{name}/disconnect",
            disconnect_connection,
            Operation(
                summary="Disconnect a connection",
                tag="connections",
                admin=True,
                path=(CONNECTION_NAME,),
                query=(flag("delink_all", "Delink every record of the connection too (both records of each pair "
                            "stay)."),),
                response={**CONNECTION, "required": [*CONNECTION["required"], "delinked"],
                          "properties": {**CONNECTION["properties"], "delinked": DELINKED}},
                errors=(409,),
                description="Its records and links stay (unless delink_all), and no sync of it runs: a person's is "
                "refused with 409 naming who disconnected it and when, timer ticks skip it, and webhooks are still "
                "answered 200 and kept in the inbox until it is connected again. Logged in the activity log. 409 "
                "when it is disconnected already.",
            ),
        ),
        api(
            "POST",
            "/connections/{name}/connect",
            connect_connection,
            Operation(
                summary="Connect a disconnected connection again",
                tag="connections",
                admin=True,
                path=(CONNECTION_NAME,),
                response={**CONNECTION, "required": [*CONNECTION["required"], "waiting_events"],
                          "properties": {**CONNECTION["properties"], "waiting_events": {"type": "integer"}}},
                errors=(409,),
                description="Syncs run again; the webhook events that waited in the inbox go through at once "
                "(waiting_events says how many). Logged in the activity log. 409 when it is not disconnected.",
            ),
        ),
    ]

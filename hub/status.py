"""A connection's state as people see it: idle, running, paused until a time, or needing re-authorisation."""

from __future__ import annotations

from typing import Any

from hub.resumes import paused_runs
from hub.runtime import Hub
from hub.store import parse_iso


async def connection_status(hub: Hub, name: str) -> dict[str, Any]:
    """One connection's state, with the detail behind it."""
    connection = hub.config.connection(name)
    row: dict[str, Any] = {"connection": name, "plugin": connection.plugin, "schedule": connection.schedule}
    if name in hub.unavailable:
        return {**row, "state": "unavailable", "detail": hub.unavailable[name]}
    state = await hub.store.connection_state(name)
    if state["disconnected_at"]:
        return {**row, "state": "disconnected", "disconnected_by": state["disconnected_by"],
                "disconnected_at": state["disconnected_at"],
                "detail": f"by {state['disconnected_by']} at {state['disconnected_at']}; hub connect {name} "
                "connects it again"}
    if state["reauth_required"]:
        return {**row, "state": "re-authorisation required", "detail": state["reauth_required"]}
    until = parse_iso(state["paused_until"])
    if until and until > hub.clock():
        resumes = "; the sync resumes then" if await paused_runs(hub, name) else ""
        return {**row, "state": f"paused until {until.isoformat()}", "paused_until": until.isoformat(),
                "detail": f"{state['pause_reason']}{resumes}"}
    running = await hub.store.running(name)
    if running:
        return {**row, "state": "running", "detail": f"run {running[0]['id']} ({', '.join(running[0]['entities'])})",
                "run_id": running[0]["id"]}
    last = await hub.store.runs(connection=name, limit=1)
    return {**row, "state": "idle", "detail": f"last run {last[0]['status']} at {last[0]['ended_at']}" if last else ""}

"""JSON schemas of what the API answers, shared by the routes that answer them and by the OpenAPI document."""

from __future__ import annotations

from typing import Any

TEXT: dict[str, Any] = {"type": "string"}
MAYBE_TEXT: dict[str, Any] = {"type": ["string", "null"]}
IDS: dict[str, Any] = {"type": "array", "items": {"type": "string", "minLength": 1}, "maxItems": 500}


def listing(item: dict[str, Any]) -> dict[str, Any]:
    """An array of ``item``."""
    return {"type": "array", "items": item}


ITEM: dict[str, Any] = {
    "type": "object",
    "description": "One record's outcome in a run: what was done and why.",
    "required": ["entity", "action", "reason"],
    "properties": {
        "entity": TEXT,
        "home_id": MAYBE_TEXT,
        "remote_id": MAYBE_TEXT,
        "name": MAYBE_TEXT,
        "action": {"enum": ["created", "updated", "unchanged", "skipped", "failed"]},
        "reason": TEXT,
        "changes": listing({"type": "object", "description": "{field, direction, rule, before, after}"}),
        "error": MAYBE_TEXT,
    },
}

COUNTS: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "integer"}}

RUN_RESULT: dict[str, Any] = {
    "type": "object",
    "description": "How a run ended, with every decision it recorded (a dry run's plan, stored nowhere).",
    "required": ["run_id", "connection", "status", "summary", "counts", "dry_run", "items"],
    "properties": {
        "run_id": {"type": ["integer", "null"], "description": "null for a dry run"},
        "connection": TEXT,
        "status": {
            "type": "string",
            "description": "success, completed with N errors, completed with N skipped, failed, interrupted, "
            "refused, or paused until <time>",
        },
        "summary": TEXT,
        "counts": COUNTS,
        "dry_run": {"type": "boolean"},
        "items": listing(ITEM),
    },
}

RUN: dict[str, Any] = {
    "type": "object",
    "required": ["id", "connection", "entities", "trigger", "actor", "status", "started_at"],
    "properties": {
        "id": {"type": "integer"},
        "connection": TEXT,
        "entities": listing(TEXT),
        "trigger": {"type": "string", "enum": ["manual", "timer", "webhook", "queue", "resume"],
                    "description": "what started the run: a person (manual), the schedule (timer), a webhook, an "
                                   "edit pushed at once (queue), or a paused sync run again when its pause ended "
                                   "(resume)"},
        "actor": {"type": "string", "description": "who asked: a user's name, scheduler, or webhook:<connection>"},
        "scope": {"type": "object"},
        "dry_run": {"type": "boolean"},
        "status": TEXT,
        "summary": MAYBE_TEXT,
        "counts": COUNTS,
        "started_at": TEXT,
        "ended_at": MAYBE_TEXT,
        "heartbeat_at": MAYBE_TEXT,
    },
}

RUN_WITH_ITEMS: dict[str, Any] = {**RUN, "properties": {**RUN["properties"], "items": listing(ITEM)}}

CONNECTION: dict[str, Any] = {
    "type": "object",
    "required": ["connection", "plugin", "state", "entities"],
    "properties": {
        "connection": TEXT,
        "plugin": TEXT,
        "system": MAYBE_TEXT,
        "schedule": MAYBE_TEXT,
        "entities": listing(TEXT),
        "state": {
            "type": "string",
            "description": "idle, running, paused until <time>, re-authorisation required, disconnected (by an "
            "admin), or unavailable",
        },
        "detail": MAYBE_TEXT,
        "paused_until": MAYBE_TEXT,
        "disconnected_by": MAYBE_TEXT,
        "disconnected_at": MAYBE_TEXT,
        "run_id": {"type": "integer"},
    },
}

CONNECTION_DETAIL: dict[str, Any] = {
    **CONNECTION,
    "properties": {
        **CONNECTION["properties"],
        "options": {"type": "object"},
        "queued": {"type": "integer", "description": "local changes waiting to be pushed"},
        "last_run": {"oneOf": [RUN, {"type": "null"}]},
    },
}

ACTIVITY: dict[str, Any] = {
    "type": "object",
    "required": ["id", "at", "actor", "kind", "message"],
    "properties": {
        "id": {"type": "integer"},
        "at": TEXT,
        "actor": TEXT,
        "connection": MAYBE_TEXT,
        "kind": TEXT,
        "message": TEXT,
    },
}

LINK_ROW: dict[str, Any] = {
    "type": "object",
    "required": ["entity", "state", "home_id", "remote_id"],
    "properties": {
        "entity": TEXT,
        "state": {
            "type": "string",
            "description": "linked (matched|manual|created), unmatched home, unmatched remote, or review",
        },
        "home_id": MAYBE_TEXT,
        "home_name": MAYBE_TEXT,
        "remote_id": MAYBE_TEXT,
        "remote_name": MAYBE_TEXT,
        "hidden": {
            "type": "boolean",
            "description": "the home record is hidden or the remote one is (inactive in QuickBooks)",
        },
        "last_synced_at": MAYBE_TEXT,
        "reason": MAYBE_TEXT,
        "candidates": listing(TEXT),
    },
}

IMPORT_CANDIDATE: dict[str, Any] = {
    "type": "object",
    "description": "A remote record a person can import, as the system holds it now.",
    "required": ["entity", "remote_id", "name", "hidden", "synced", "home_id"],
    "properties": {
        "entity": TEXT,
        "remote_id": TEXT,
        "name": TEXT,
        "hidden": {"type": "boolean", "description": "hidden in the system (inactive in QuickBooks)"},
        "synced": {"type": "boolean", "description": "already linked to a home record on this connection"},
        "home_id": {**MAYBE_TEXT, "description": "the home record it is linked to, if synced"},
    },
}

LINK: dict[str, Any] = {
    "type": "object",
    "required": ["connection", "entity", "home_id", "remote_id", "how"],
    "properties": {
        "connection": TEXT,
        "entity": TEXT,
        "home_id": TEXT,
        "remote_id": TEXT,
        "how": {"enum": ["matched", "manual", "created"]},
        "remote_name": MAYBE_TEXT,
        "linked_at": MAYBE_TEXT,
        "last_synced_at": MAYBE_TEXT,
    },
}

RECORD: dict[str, Any] = {
    "type": "object",
    "required": ["id", "entity", "name", "fields", "pending"],
    "properties": {
        "id": TEXT,
        "entity": TEXT,
        "name": TEXT,
        "fields": {"type": "object"},
        "pending": {"type": "boolean", "description": "Pending Sync: local changes wait to be pushed"},
        "hidden": {"type": "boolean"},
        "created_at": TEXT,
        "modified_at": TEXT,
    },
}

RECORD_DETAIL: dict[str, Any] = {
    **RECORD,
    "required": [*RECORD["required"], "provenance", "links", "queued"],
    "properties": {
        **RECORD["properties"],
        "deleted_at": MAYBE_TEXT,
        "field_modified": {"type": "object", "additionalProperties": TEXT},
        "provenance": {
            "type": "object",
            "description": "per field, who wrote its value: {system, run, rule} or {system: hub, actor}",
            "additionalProperties": {"type": "object"},
        },
        "links": listing(LINK),
        "queued": listing(
            {
                "type": "object",
                "required": ["connection", "op"],
                "properties": {
                    "connection": TEXT,
                    "op": {"enum": ["create", "update", "deactivate"]},
                    "fields": listing(TEXT),
                    "remote_id": {**MAYBE_TEXT, "description": "the remote record a deactivate names"},
                    "actor": TEXT,
                    "created_at": TEXT,
                    "attempts": {"type": "integer"},
                    "last_error": MAYBE_TEXT,
                },
            }
        ),
    },
}

INBOX_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "connection", "entity", "remote_id", "action", "status", "attempts"],
    "properties": {
        "id": {"type": "integer"},
        "connection": TEXT,
        "entity": TEXT,
        "remote_id": TEXT,
        "action": TEXT,
        "status": {"enum": ["pending", "claimed", "done", "dead"]},
        "attempts": {"type": "integer"},
        "received_at": TEXT,
        "next_attempt_at": MAYBE_TEXT,
        "finished_at": MAYBE_TEXT,
        "last_error": MAYBE_TEXT,
        "payload": {"type": "object"},
    },
}

PLUGIN: dict[str, Any] = {
    "type": "object",
    "required": ["name", "plugin", "status"],
    "properties": {
        "name": TEXT,
        "title": TEXT,
        "plugin": TEXT,
        "version": TEXT,
        "entities": listing(TEXT),
        "contract": TEXT,
        "api": TEXT,
        "simulator": {"type": "boolean"},
        "status": {"type": "string", "description": "ok, contract only (client not released yet), "
                   "invalid contract: <first problem>, or failed in <stage>: <error>"},
    },
}

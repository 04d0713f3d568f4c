"""How an API route turns a request into a handler call and the handler's result or error into a JSON answer.

A handler gets a ``Call`` whose query and body were already checked against its ``Operation``; it returns
plain data (sent as JSON with the operation's status) or a response, and raises ``ApiError`` to refuse.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jsonschema import Draft202012Validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.auth import Forbidden, require_admin
from hub.config import Connection, User
from hub.engine import RefusedRun
from hub.errors import HubError, MalformedPayload, PayloadTooLarge
from hub.intake import read_limited
from hub.linking import LinkRefused
from hub.local import UnknownRecord
from hub.openapi import DescribedRoute, Operation, Param
from hub.runs import AlreadyRunning
from hub.runtime import Hub
from hub.safeparse import parse_json

log = logging.getLogger("hub.api")

MAX_BODY = 256 * 1024
"""The largest request body the API reads."""


class ApiError(HubError):
    """A request the API refuses, with the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class Json(JSONResponse):
    """A JSON answer; values JSON has no type for (times, decimals) are sent as text."""

    def render(self, content: Any) -> bytes:
        """Encode compactly, UTF-8, unknown types as their text."""
        return json.dumps(content, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


def error(status: int, message: str) -> Json:
    """The API's error answer."""
    return Json({"error": message}, status_code=status)


@dataclass
class Call:
    """One API request, checked: the hub, the calling user, and the path, query and body values."""

    request: Request
    hub: Hub
    user: User
    path: dict[str, str]
    query: dict[str, Any]
    body: dict[str, Any]

    @property
    def is_admin(self) -> bool:
        """Whether the caller is an admin."""
        return self.user.role == "admin"

    def connection(self, name: str, *, usable: bool = True) -> Connection:
        """A configured connection: 404 when unknown; 503 when its plugin failed, unless ``usable`` is False."""
        if name not in self.hub.config.connections:
            known = ", ".join(sorted(self.hub.config.connections)) or "none"
            raise ApiError(404, f"no connection named {name!r} (configured: {known})")
        if usable and name in self.hub.unavailable:
            raise ApiError(503, f"connection {name!r} is unavailable: {self.hub.unavailable[name]}")
        return self.hub.config.connections[name]


Handler = Callable[[Call], Awaitable[Any]]


def api(method: str, path: str, handler: Handler, operation: Operation) -> DescribedRoute:
    """An API route: role check, query and body validation, the handler, and errors as JSON."""
    body_validator = Draft202012Validator(operation.body) if operation.body is not None else None

    async def endpoint(request: Request) -> Response:
        try:
            if operation.admin:
                require_admin(request)
            query = _query(operation.query, request)
            body = await _body(body_validator, request) if body_validator else {}
            call = Call(request, request.app.state.hub, request.state.user, dict(request.path_params), query, body)
            result = await handler(call)
        except ApiError as exc:
            return error(exc.status, str(exc))
        except Forbidden as exc:
            return error(403, str(exc))
        except (AlreadyRunning, RefusedRun, LinkRefused) as exc:
            return error(409, str(exc))
        except UnknownRecord as exc:
            return error(404, str(exc))
        except PayloadTooLarge as exc:
            return error(413, str(exc))
        except Exception as exc:  # a bug (ours or a plugin's) is still answered in JSON, and logged whole
            log.exception("%s %s failed", method, request.url.path)
            return error(500, f"internal error: {type(exc).__name__}: {exc}")
        if isinstance(result, Response):
            return result
        return Json(result, status_code=operation.status)

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return DescribedRoute(path, endpoint, method=method, operation=operation)


def _query(params: tuple[Param, ...], request: Request) -> dict[str, Any]:
    """The declared query parameters, converted to their schema's type and checked against it."""
    values: dict[str, Any] = {}
    for param in params:
        raw = request.query_params.get(param.name)
        if raw is None:
            if param.required:
                raise ApiError(400, f"{param.name}: required")
            values[param.name] = param.schema.get("default")
            continue
        value = _convert(param, raw)
        problem = next(Draft202012Validator(param.schema).iter_errors(value), None)
        if problem is not None:
            raise ApiError(400, f"{param.name}: {problem.message}")
        values[param.name] = value
    return values


BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
"""The words a yes/no query parameter takes (in any case)."""


def _convert(param: Param, raw: str) -> Any:
    """A query value as its schema's type: a whole number, a yes/no, or the text as sent."""
    kind = param.schema.get("type")
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise ApiError(400, f"{param.name}: must be a whole number, got {raw!r}") from None
    if kind == "boolean":
        if raw.lower() not in BOOLEANS:
            raise ApiError(400, f"{param.name}: must be true or false (or 1/0, yes/no), got {raw!r}")
        return BOOLEANS[raw.lower()]
    return raw


async def _body(validator: Draft202012Validator, request: Request) -> dict[str, Any]:
    """The JSON body, checked against the operation's schema; the first problem names its field."""
    raw = await read_limited(request, MAX_BODY)
    try:
        body = parse_json(raw) if raw.strip() else None
    except MalformedPayload as exc:  # deep nesting, duplicate keys, NaN, bad UTF-8: named, never a 500
        raise ApiError(400, f"body: {exc}") from None
    if body is None:
        raise ApiError(400, "body: a JSON object is required")
    problem = next(iter(sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.absolute_path)))), None)
    if problem is not None:
        where = "/".join(map(str, problem.absolute_path)) or "body"
        raise ApiError(400, f"{where}: {problem.message}")
    return body


def parse_since(text: str | None) -> datetime | None:
    """A ``since`` value: an ISO date or time, taken as UTC when it names no zone."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(400, f"since: not a date or time: {text!r} (use YYYY-MM-DD or an ISO 8601 time)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def int_path(call: Call, name: str, what: str) -> int:
    """A numeric id from the path; anything else names nothing, so it is a 404."""
    text = call.path[name]
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise ApiError(404, f"no {what} {text!r}")
    return int(text)

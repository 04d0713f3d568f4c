"""The OpenAPI 3.1 document, generated from the description each route carries, so the two cannot drift apart.

Every API route is a ``DescribedRoute``: its ``Operation`` names what it does, who may call it, its
parameters, the JSON schema of its body (which the API also validates requests against) and of its answer.
The document walks the app's live routes; a route without a description is left out, and a test fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route

from hub import __version__

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "description": "What went wrong, naming the field at fault."}},
}

_PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")


@dataclass(frozen=True)
class Param:
    """One query or path parameter: its name, meaning and JSON schema."""

    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False


@dataclass(frozen=True)
class Answer:
    """A success answer a route gives besides its usual one (a 202 on request), with its headers."""

    status: int
    description: str
    schema: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    """Each header the answer carries, and what it says."""


@dataclass(frozen=True)
class Operation:
    """What one route does, who may call it, and the shapes it takes and gives."""

    summary: str
    tag: str
    response: dict[str, Any] | None
    """The JSON schema of the success answer; None when it has no body."""
    status: int = 200
    description: str = ""
    admin: bool = False
    auth: bool = True
    path: tuple[Param, ...] = ()
    query: tuple[Param, ...] = ()
    headers: tuple[Param, ...] = ()
    """Request headers the route reads (beyond Authorization)."""
    answers: tuple[Answer, ...] = ()
    """Other success answers, such as a 202 a request header asks for."""
    body: dict[str, Any] | None = None
    errors: tuple[int, ...] = ()
    """Statuses beyond those implied (400 for input, 401 for auth, 403 for admin, 404 for path ids)."""
    media_type: str = "application/json"

    def error_statuses(self) -> list[int]:
        """Every error status the route can answer, implied ones included."""
        implied = set(self.errors)
        if self.query or self.body is not None:
            implied.add(400)
        if self.body is not None:
            implied.add(413)
        if self.auth:
            implied.add(401)
        if self.admin:
            implied.add(403)
        if self.path:
            implied.add(404)
        return sorted(implied)


class DescribedRoute(Route):
    """A Starlette route that carries its ``Operation``."""

    def __init__(self, path: str, endpoint: Callable[..., Any], *, method: str, operation: Operation) -> None:
        super().__init__(path, endpoint, methods=[method])
        self.operation = operation


@cache
def _outside_api() -> dict[Callable[..., Any], Operation]:
    """Descriptions of the app's routes that live outside ``/api`` (health and webhooks), by endpoint."""
    from hub.app import healthz
    from hub.intake import receive_webhook

    return {
        healthz: Operation(
            summary="Tell whether the hub is up",
            tag="hub",
            auth=False,
            response={
                "type": "object",
                "required": ["status", "connections"],
                "properties": {
                    "status": {"const": "ok"},
                    "connections": {"type": "array", "items": {"type": "string"}},
                },
            },
        ),
        receive_webhook: Operation(
            summary="Receive a webhook from an external system",
            description=(
                "Signed by the vendor (no bearer token). The body is size-limited, its signature verified, and "
                "its events committed to the inbox before the hub answers 200 with an empty body (the x-hub-events "
                "header says how many were new); workers then sync the records. 500 when the connection's plugin "
                "fails reading a verified body: nothing is committed, and the vendor sends it again."
            ),
            tag="webhooks",
            auth=False,
            path=(Param("connection", "The connection the webhook is for.", {"type": "string", "minLength": 1}),),
            body={"description": "The vendor's own webhook payload, as it sends it."},
            response=None,
            errors=(400, 401, 404, 413, 500),
        ),
    }


def operation_of(route: BaseRoute) -> Operation | None:
    """The description a route carries, or the built-in one of a route outside the API."""
    described = getattr(route, "operation", None)
    if isinstance(described, Operation):
        return described
    return _outside_api().get(getattr(route, "endpoint", None))  # type: ignore[arg-type]


def walk_routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterable[tuple[str, str, BaseRoute]]:
    """Every (method, full path, route) of an app, mounts followed; HEAD is left out (Starlette adds it)."""
    for route in routes:
        if isinstance(route, Mount):
            yield from walk_routes(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    yield method, prefix + route.path, route


def build_document(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every described route."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path, route in walk_routes(routes):
        operation = operation_of(route)
        if operation is not None:
            paths.setdefault(path, {})[method.lower()] = _operation(method, path, operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Practice hub API",
            "version": __version__,
            "description": (
                "Run and inspect syncs, link records by hand, and create or edit the hub's own records. "
                "Every /api route needs `Authorization: Bearer <token>` of a configured user; admin-only "
                'routes answer 403 to standard users. Errors are JSON: {"error": "..."}.'
            ),
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearerAuth": []}],
    }


def _operation(method: str, path: str, operation: Operation) -> dict[str, Any]:
    declared = {param.name: param for param in operation.path}
    parameters = [
        _parameter("path", declared.get(name, Param(name, f"The {name.replace('_', ' ')}.")), required=True)
        for name in _PATH_PARAM.findall(path)
    ]
    parameters += [_parameter("query", param, required=param.required) for param in operation.query]
    parameters += [_parameter("header", param, required=param.required) for param in operation.headers]
    document: dict[str, Any] = {
        "operationId": _operation_id(method, path),
        "summary": operation.summary,
        "tags": [operation.tag],
        "responses": _responses(operation),
    }
    if operation.description:
        document["description"] = operation.description
    if parameters:
        document["parameters"] = parameters
    if operation.body is not None:
        document["requestBody"] = {"required": True, "content": {"application/json": {"schema": operation.body}}}
    if operation.auth:
        document["x-roles"] = ["admin"] if operation.admin else ["admin", "standard"]
    else:
        document["security"] = []
    return document


def _parameter(where: str, param: Param, *, required: bool) -> dict[str, Any]:
    schema = param.schema if where != "path" else {"minLength": 1, **param.schema}
    return {"name": param.name, "in": where, "required": required, "description": param.description, "schema": schema}


def _responses(operation: Operation) -> dict[str, Any]:
    success: dict[str, Any] = {"description": HTTPStatus(operation.status).phrase}
    if operation.response is not None:
        success["content"] = {operation.media_type: {"schema": operation.response}}
    responses: dict[str, Any] = {str(operation.status): success}
    for answer in operation.answers:
        responses[str(answer.status)] = {
            "description": answer.description,
            "content": {"application/json": {"schema": answer.schema}},
            **({"headers": {name: {"description": text, "schema": {"type": "string"}}
                            for name, text in answer.headers.items()}} if answer.headers else {}),
        }
    for status in operation.error_statuses():
        responses[str(status)] = {
            "description": HTTPStatus(status).phrase,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return responses


def _operation_id(method: str, path: str) -> str:
    words = [part.strip("{}").replace(".", "_") for part in path.strip("/").split("/") if part]
    return "_".join([method.lower(), *words])


async def serve_openapi(request: Request) -> JSONResponse:
    """GET /openapi.json: the document of this app's routes (no authentication)."""
    return JSONResponse(build_document(request.app.routes))


OPENAPI_OPERATION = Operation(
    summary="This API's OpenAPI 3.1 document",
    tag="hub",
    auth=False,
    response={"type": "object", "required": ["openapi", "paths"]},
)


def openapi_route() -> Route:
    """The route serving the document, described like every other."""
    return DescribedRoute("/openapi.json", serve_openapi, method="GET", operation=OPENAPI_OPERATION)

"""A QuickBooks Online Accounting API v3 simulator: Intuit's JSON wire format over in-memory companies.

API, under ``/v3/company/{realmId}/`` (Bearer token required, any non-empty one):

    GET  /{entity}/{id}                 read (customer, vendor, employee, item, invoice, bill)
    POST /{entity}                      create, full update, sparse update; ?operation=delete
    GET  /query?query=...  POST /query  the query language (application/text body)
    GET  /cdc?entities=...&changedSince=...
    POST /batch                         up to 30 items

Control surface, no auth (``?realm=`` picks a company other than the default):

    POST /_sim/seed  GET /_sim/records/{Entity}  POST /_sim/edit/{Entity}/{Id}
    POST /_sim/delete/{Entity}/{Id}  POST /_sim/fail  POST /_sim/throttle  GET /_sim/calls
    POST /_sim/reset  GET /_sim/webhooks/pending  POST /_sim/webhooks/flush  POST /_sim/webhooks/target

Run it with ``python -m plugins.quickbooks.simulator --port 8765``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugins.quickbooks.sim_entities import BY_PATH
from plugins.quickbooks.sim_state import QboSimulator, Realm
from plugins.quickbooks.sim_webhooks import WebhookFormat
from plugins.quickbooks.sim_wire import (
    PACIFIC,
    QboFault,
    auth_failure_body,
    envelope_time,
    failure_body,
    throttle_body,
    unsupported_operation,
    unsupported_property,
)

__all__ = ["QboSimulator", "create_app", "main"]

_JSON = "application/json;charset=UTF-8"
_BAD_ORDER = (ValueError, KeyError, TypeError, AttributeError)
"""What a malformed control-surface body raises."""


def create_app(
    *,
    realm_id: str = "9341453000000000",
    clock: Callable[[], datetime] | None = None,
    verifier_token: str = "sim-verifier-token",
    webhook_url: str | None = None,
    per_minute: int = 500,
    in_flight: int = 10,
    retry_after_header: bool = False,
    webhook_format: WebhookFormat = "cloudevents",
    webhook_transport: httpx.AsyncBaseTransport | None = None,
    latency: float = 0.0,
    company_tz: tzinfo = PACIFIC,
) -> Starlette:
    """The simulator app hosting one company; ``app.state.sim`` is its ``QboSimulator``."""
    app = Starlette(
        routes=[
            Route("/v3/company/{realm}/{rest:path}", _api, methods=["GET", "POST"]),
            Route("/_sim/seed", _seed, methods=["POST"]),
            Route("/_sim/records/{entity}", _records, methods=["GET"]),
            Route("/_sim/edit/{entity}/{record_id}", _edit, methods=["POST"]),
            Route("/_sim/delete/{entity}/{record_id}", _remove, methods=["POST"]),
            Route("/_sim/fail", _fail, methods=["POST"]),
            Route("/_sim/throttle", _throttle, methods=["POST"]),
            Route("/_sim/calls", _calls, methods=["GET"]),
            Route("/_sim/reset", _reset, methods=["POST"]),
            Route("/_sim/webhooks/pending", _pending, methods=["GET"]),
            Route("/_sim/webhooks/flush", _flush, methods=["POST"]),
            Route("/_sim/webhooks/target", _target, methods=["POST"]),
        ]
    )
    app.state.sim = QboSimulator(
        realm_id=realm_id,
        clock=clock,
        company_tz=company_tz,
        verifier_token=verifier_token,
        webhook_url=webhook_url,
        webhook_format=webhook_format,
        webhook_transport=webhook_transport,
        per_minute=per_minute,
        in_flight=in_flight,
        retry_after_header=retry_after_header,
        latency=latency,
    )
    return app


# --- The API ---------------------------------------------------------------------------------------


def _respond(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(body, status, headers=headers, media_type=_JSON)


def _has_bearer(request: Request) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and token.strip() != ""


def _call_kind(method: str, rest: str) -> str:
    head = rest.strip("/").split("/")[0].lower()
    if head in ("query", "cdc", "batch"):
        return head
    if head not in BY_PATH:
        return "other"
    return "read" if method == "GET" else "write"


async def _api(request: Request) -> Response:
    """Every API call: authentication, injected faults, rate limits, then the operation itself."""
    sim: QboSimulator = request.app.state.sim
    if not _has_bearer(request):
        return _respond(401, auth_failure_body("Token invalid", sim.now()))
    realm = sim.realms.get(request.path_params["realm"])
    if realm is None:
        return _respond(401, auth_failure_body("Token is not valid for this company", sim.now()))
    sim.count_call(_call_kind(request.method, request.path_params["rest"]))
    injected = sim.take_failure()
    if injected is not None:
        headers = {"Retry-After": "60"} if injected == 429 and sim.retry_after_header else None
        return _respond(injected, failure_body(injected, sim.now(), sim.tz), headers)
    wait = sim.admit(realm)
    if wait is not None:
        sim.count_refusal()
        headers = {"Retry-After": str(wait)} if sim.retry_after_header else None
        return _respond(429, throttle_body(envelope_time(sim.now(), sim.tz)), headers)
    try:
        return await _serve(request, sim, realm)
    finally:
        sim.release(realm)


async def _serve(request: Request, sim: QboSimulator, realm: Realm) -> Response:
    """Run one admitted call, replaying the first answer to a repeated ``requestid``."""
    request_id = request.query_params.get("requestid") if request.method == "POST" else None
    if request_id and request_id in realm.responses:
        status, body = realm.responses[request_id]
        return Response(body, status, media_type=_JSON)
    if sim.latency:
        await asyncio.sleep(sim.latency)
    try:
        minor_version = request.query_params.get("minorversion")
        if minor_version is not None and not re.fullmatch(r"\d+", minor_version):
            raise unsupported_property(f"minorversion={minor_version}")
        status, payload = 200, await _dispatch(request, sim, realm)
        payload["time"] = envelope_time(sim.now(), sim.tz)
    except QboFault as fault:
        status, payload = fault.status, fault.body(envelope_time(sim.now(), sim.tz))
    response = _respond(status, payload)
    if request_id:
        realm.remember(request_id, status, bytes(response.body))
    return response


async def _dispatch(request: Request, sim: QboSimulator, realm: Realm) -> dict[str, Any]:
    segments = request.path_params["rest"].strip("/").split("/")
    head, method, params = segments[0], request.method, request.query_params
    if segments == ["query"]:
        text = params.get("query")
        if text is None and method == "POST":
            text = (await request.body()).decode()
        return {"QueryResponse": sim.query(realm, text or "")}
    if segments == ["cdc"] and method == "GET":
        return {"CDCResponse": sim.cdc(realm, params.get("entities", ""), params.get("changedSince", ""))}
    if segments == ["batch"] and method == "POST":
        return {"BatchItemResponse": sim.batch(realm, await _json_body(request))}
    kind = BY_PATH.get(head.lower())
    if kind is not None and len(segments) == 1 and method == "POST":
        return {kind.name: sim.write(realm, kind, await _json_body(request), params.get("operation"))}
    if kind is not None and len(segments) == 2 and method == "GET":
        return {kind.name: sim.read(realm, kind, segments[1])}
    raise unsupported_operation(
        f"Operation Could not find resource for relative : {request.url.path} of full path: {request.url} "
        "is not supported."
    )


async def _json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError as error:
        raise unsupported_property("failed to parse json object; a property") from error


# --- The control surface ---------------------------------------------------------------------------


def _sim(request: Request) -> QboSimulator:
    return request.app.state.sim


def _problem(status: int, error: Exception) -> JSONResponse:
    return JSONResponse({"error": str(error).strip("'\"")}, status)


async def _seed(request: Request) -> Response:
    try:
        created = _sim(request).seed(await request.json(), request.query_params.get("realm"))
    except QboFault as fault:
        return _respond(fault.status, fault.body(envelope_time(_sim(request).now(), _sim(request).tz)))
    except _BAD_ORDER as error:
        return _problem(400, error)
    return JSONResponse(created)


async def _records(request: Request) -> Response:
    try:
        records = _sim(request).records(request.path_params["entity"], request.query_params.get("realm"))
    except KeyError as error:
        return _problem(404, error)
    return _respond(200, {request.path_params["entity"]: records})


async def _edit(request: Request) -> Response:
    sim = _sim(request)
    try:
        changes = await request.json()
        record = sim.edit(
            request.path_params["entity"], request.path_params["record_id"], changes, request.query_params.get("realm")
        )
    except QboFault as fault:
        return _respond(fault.status, fault.body(envelope_time(sim.now(), sim.tz)))
    except KeyError as error:
        return _problem(404, error)
    return _respond(200, record)


async def _remove(request: Request) -> Response:
    try:
        record = _sim(request).remove(
            request.path_params["entity"], request.path_params["record_id"], request.query_params.get("realm")
        )
    except KeyError as error:
        return _problem(404, error)
    return _respond(200, record)


async def _fail(request: Request) -> Response:
    try:
        order = await request.json()
        status, count = int(order["status"]), int(order.get("count", 1))
    except _BAD_ORDER as error:
        return _problem(400, error)
    _sim(request).fail_next(status, count)
    return JSONResponse({"queued": count})


async def _throttle(request: Request) -> Response:
    try:
        count = int((await request.json()).get("count", 1))
    except _BAD_ORDER as error:
        return _problem(400, error)
    _sim(request).throttle_next(count)
    return JSONResponse({"queued": count})


async def _calls(request: Request) -> Response:
    return JSONResponse(dict(_sim(request).calls))


async def _reset(request: Request) -> Response:
    _sim(request).reset()
    return JSONResponse({"reset": True})


async def _pending(request: Request) -> Response:
    sim = _sim(request)
    return JSONResponse({"events": [event.as_dict(sim.tz) for event in sim.pending_events]})


async def _flush(request: Request) -> Response:
    body = await request.body()
    try:
        fmt = json.loads(body).get("format") if body else None
    except _BAD_ORDER as error:
        return _problem(400, error)
    if fmt not in (None, "legacy", "cloudevents"):
        return _problem(400, ValueError(f"format must be legacy or cloudevents, not {fmt!r}"))
    try:
        outcome = await _sim(request).flush_webhooks(fmt)
    except LookupError as error:
        return _problem(409, error)
    return JSONResponse(outcome)


async def _target(request: Request) -> Response:
    """Point deliveries at ``url`` (null stops them), signed with ``secret`` as the verifier token if given."""
    try:
        url, secret = _target_order(await request.json())
    except _BAD_ORDER as error:
        return _problem(400, error)
    sim = _sim(request)
    sim.webhook_url = url
    sim.verifier_token = secret or sim.verifier_token
    return JSONResponse({"url": url})


def _target_order(order: Any) -> tuple[str | None, str | None]:
    """The url and secret of a ``/_sim/webhooks/target`` body, or a ValueError naming what is wrong."""
    if not isinstance(order, dict) or "url" not in order:
        raise ValueError('the body needs "url": the hub\'s webhook address, or null to stop')
    url, secret = order["url"], order.get("secret")
    if url is not None and not (isinstance(url, str) and re.match(r"https?://", url)):
        raise ValueError(f"url {url!r} is not an http:// or https:// address")
    if secret is not None and not (isinstance(secret, str) and secret):
        raise ValueError("secret must be a non-empty verifier token")
    return url, secret


def main(argv: list[str] | None = None) -> None:
    """Serve the simulator on loopback under uvicorn."""
    import uvicorn

    parser = argparse.ArgumentParser(description="Run the QuickBooks Online simulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--realm", default="9341453000000000", help="the company (realm) Id to host")
    parser.add_argument("--webhook-url", default=None, help="where /_sim/webhooks/flush delivers events")
    parser.add_argument("--webhook-format", choices=["legacy", "cloudevents"], default="cloudevents")
    parser.add_argument("--verifier-token", default="sim-verifier-token")
    parser.add_argument("--per-minute", type=int, default=500, help="requests per realm per rolling minute")
    parser.add_argument("--in-flight", type=int, default=10, help="concurrent requests per realm")
    args = parser.parse_args(argv)
    app = create_app(
        realm_id=args.realm,
        webhook_url=args.webhook_url,
        webhook_format=args.webhook_format,
        verifier_token=args.verifier_token,
        per_minute=args.per_minute,
        in_flight=args.in_flight,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()

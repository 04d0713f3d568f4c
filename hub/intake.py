"""Webhook intake: size-limit, verify, split into events and commit them to the inbox before answering."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.errors import HubError, PayloadTooLarge, SignatureInvalid, WebhookError
from hub.inbox import accept
from hub.runtime import Hub
from hub.system import System
from hub.verifiers import Verifier

MAX_BODY = 1024 * 1024
"""The largest webhook body taken: 1 MiB."""

log = logging.getLogger("hub.intake")


async def read_limited(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request body, refused with PayloadTooLarge past ``limit`` whether or not Content-Length says so."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


async def receive_webhook(request: Request) -> Response:
    """POST /webhooks/{connection}: 200 once the events are durable; 401, 400, 404, 413 (or 500) otherwise."""
    hub: Hub = request.app.state.hub
    name = request.path_params["connection"]
    if name not in hub.config.connections or name in hub.unavailable:
        return JSONResponse({"error": f"no connection named {name!r}"}, status_code=404)
    connection = hub.config.connections[name]
    contract = hub.registry.contracts[connection.plugin]
    if not contract.webhook_verifier:
        return JSONResponse({"error": f"{contract.system} sends no webhooks"}, status_code=404)
    try:
        body = await read_limited(request)
        system, secrets = _client_and_secrets(hub, name, contract.webhook_secret_env)
        if not secrets:
            raise SignatureInvalid(f"no webhook secret is configured for connection {name!r}")
        _verify(hub.registry.verifiers[contract.webhook_verifier], body, request, secrets, hub)
        events = _parse(system, body, request)
    except WebhookError as exc:
        log.info("webhook for %s refused (%s): %s", name, exc.status, exc)
        return JSONResponse({"error": str(exc)}, status_code=exc.status)
    new, seen = await accept(hub.store, name, events, body, at=hub.clock())
    wake = getattr(request.app.state, "wake_workers", None)
    if new and wake is not None:
        wake()
    return Response(status_code=200, headers={"x-hub-events": f"{new} new, {seen} already received"})


def _client_and_secrets(hub: Hub, name: str, secret_env: str | None) -> tuple[System, list[str]]:
    """The connection's client and signing secrets: its ``webhook*`` secrets, else the contract's ``secret_env``.

    A hub that cannot build them cannot check a signature, so that is a 401, never a 500; the why goes to the
    log, not to an unauthenticated caller.
    """
    try:
        system = hub.system(name)
        return system, system.webhook_secrets() or _default_secret(hub, secret_env)
    except HubError as exc:
        log.warning("webhook for %s cannot be verified: %s", name, exc)
        raise SignatureInvalid(
            f"the hub cannot check signatures for connection {name!r}: its setup is incomplete (the hub's log says why)"
        ) from exc


def _default_secret(hub: Hub, variable: str | None) -> list[str]:
    """The contract's default signing secret from the hub's environment, if it is set."""
    value = hub.env.get(variable, "") if variable else ""
    return [value] if value else []


def _verify(verifier: Verifier, body: bytes, request: Request, secrets: list[str], hub: Hub) -> None:
    try:
        verifier.verify(body, request.headers, secrets, now=hub.clock())
    except SignatureInvalid:
        raise
    except Exception as exc:  # a plugin's scheme may override verify(); whatever it raises is still a refusal
        raise SignatureInvalid(f"signature headers could not be checked ({type(exc).__name__})") from exc


def _parse(system: object, body: bytes, request: Request) -> list:
    try:
        return system.parse_webhook(body, request.headers)  # type: ignore[attr-defined]
    except WebhookError:
        raise
    except Exception as exc:  # a plugin bug is the hub's fault, not the vendor's: answer 5xx so the vendor retries
        log.exception("plugin %s failed to read a webhook", type(system).__name__)
        raise PluginFailed(
            f"the {type(system).__name__} plugin could not read the body: {type(exc).__name__}: {exc}"
        ) from exc


class PluginFailed(WebhookError):
    """The plugin raised while reading a verified webhook (answered 500, so the vendor sends it again)."""

    status = 500

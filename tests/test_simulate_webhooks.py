"""A simulator pointed at a hub through ``/_sim/webhooks/target`` posts its signed webhooks there by itself."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.verifiers import IntuitSignature, KarbonSignature
from plugins.intuit_pm.simulator import create_app as karbon_app
from plugins.quickbooks.simulator import create_app as qbo_app

KARBON_AUTH = {"Authorization": "Bearer sim-app-id", "AccessKey": "sim-access-key"}
QBO_AUTH = {"Authorization": "Bearer any-token"}
REALM = "9341453000000000"
SIGNING_KEY = "hub-signing-key_0123"


class Receiver:
    """A stand-in for the hub's webhook endpoint: keeps each delivery's raw body and headers."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[bytes, dict[str, str]]] = []
        self.app = Starlette(routes=[Route("/webhooks/{name}", self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> Response:
        self.deliveries.append((await request.body(), dict(request.headers)))
        return Response(status_code=200)

    @property
    def transport(self) -> httpx.ASGITransport:
        """Where the simulator's deliveries go, in process."""
        return httpx.ASGITransport(app=self.app)


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


def client_of(app: Starlette, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim.test", headers=headers)


@pytest.fixture
async def qbo(receiver: Receiver) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(qbo_app(webhook_transport=receiver.transport), QBO_AUTH) as client:
        yield client


@pytest.fixture
async def karbon(receiver: Receiver) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(karbon_app(webhook_transport=receiver.transport), KARBON_AUTH) as client:
        yield client


async def target(client: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await client.post("/_sim/webhooks/target", json=body)


# --- QuickBooks ----------------------------------------------------------------------------------------------------


async def test_a_quickbooks_change_reaches_the_target_signed_with_the_verifier_token(
    qbo: httpx.AsyncClient, receiver: Receiver
) -> None:
    pointed = await target(qbo, {"url": "http://127.0.0.1:8080/webhooks/quickbooks"})
    assert pointed.json() == {"url": "http://127.0.0.1:8080/webhooks/quickbooks"}
    created = await qbo.post(f"/v3/company/{REALM}/customer", json={"DisplayName": "Harbour Bakery"})
    assert created.status_code == 200, created.text

    flushed = await qbo.post("/_sim/webhooks/flush")

    assert flushed.json() == {"delivered": 1, "status": 200}
    [(body, headers)] = receiver.deliveries
    IntuitSignature().verify(body, headers, ["sim-verifier-token"])
    [event] = json.loads(body)
    assert (event["type"], event["intuitentityid"], event["intuitaccountid"]) == (
        "qbo.customer.created.v1",
        created.json()["Customer"]["Id"],
        REALM,
    )


async def test_a_quickbooks_target_can_carry_the_hubs_own_verifier_token(
    qbo: httpx.AsyncClient, receiver: Receiver
) -> None:
    await target(qbo, {"url": "http://127.0.0.1:8080/webhooks/quickbooks", "secret": "the-hubs-token"})
    [customer] = (await qbo.post("/_sim/seed", json={"Customer": [{"DisplayName": "Ann"}]})).json()["Customer"]
    await qbo.post(f"/_sim/edit/Customer/{customer}", json={"CompanyName": "Ann Co"})

    await qbo.post("/_sim/webhooks/flush")

    [(body, headers)] = receiver.deliveries
    IntuitSignature().verify(body, headers, ["the-hubs-token"])


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"url": "ftp://hub.example/x"}, "url 'ftp://hub.example/x' is not an http:// or https:// address"),
        ({"url": "https://hub.example/x", "secret": ""}, "secret must be a non-empty verifier token"),
        ({}, 'the body needs "url": the hub\'s webhook address, or null to stop'),
    ],
)
async def test_a_bad_quickbooks_target_is_refused_naming_the_problem(
    qbo: httpx.AsyncClient, body: dict[str, Any], error: str
) -> None:
    refused = await target(qbo, body)
    assert (refused.status_code, refused.json()) == (400, {"error": error})


async def test_a_null_quickbooks_target_stops_deliveries(qbo: httpx.AsyncClient) -> None:
    await target(qbo, {"url": "https://hub.example/webhooks/quickbooks"})
    assert (await target(qbo, {"url": None})).json() == {"url": None}
    assert (await qbo.post("/_sim/webhooks/flush")).status_code == 409


# --- Karbon --------------------------------------------------------------------------------------------------------


async def test_a_karbon_change_reaches_a_local_http_hub_signed_with_the_signing_key(
    karbon: httpx.AsyncClient, receiver: Receiver
) -> None:
    pointed = await target(karbon, {"url": "http://127.0.0.1:8080/webhooks/karbon", "secret": SIGNING_KEY})
    assert pointed.json() == {"url": "http://127.0.0.1:8080/webhooks/karbon"}
    created = await karbon.post("/v3/Contacts", json={"FirstName": "Ada", "LastName": "Baker"})
    assert created.status_code == 201, created.text

    flushed = await karbon.post("/_sim/webhooks/flush", json={"all": True})

    assert flushed.json() == {"delivered": 1, "failed": 0, "cancelled": False, "pending": 0}
    [(body, headers)] = receiver.deliveries
    KarbonSignature().verify(body, headers, [SIGNING_KEY])
    payload = json.loads(body)
    assert (payload["ResourcePermaKey"], payload["ActionType"]) == (created.json()["ContactKey"], "Inserted")


async def test_a_karbon_target_without_a_secret_signs_with_the_demos_key(
    karbon: httpx.AsyncClient, receiver: Receiver
) -> None:
    await target(karbon, {"url": "http://localhost:8080/webhooks/karbon"})
    await karbon.post("/v3/Contacts", json={"FirstName": "Ada", "LastName": "Baker"})

    await karbon.post("/_sim/webhooks/flush", json={"all": True})

    [(body, headers)] = receiver.deliveries
    KarbonSignature().verify(body, headers, ["demo-signing-key-0123456789"])


async def test_karbons_own_subscribe_stays_https_only_after_a_local_target_is_set(karbon: httpx.AsyncClient) -> None:
    await target(karbon, {"url": "http://127.0.0.1:8080/webhooks/karbon"})
    await karbon.post("/_sim/webhooks/target", json={"url": None})

    refused = await karbon.post(
        "/v3/WebhookSubscriptions", json={"WebhookType": "Contact", "TargetUrl": "http://127.0.0.1:8080/webhooks/karbon"}
    )

    assert (refused.status_code, refused.json()["error"]["message"]) == (400, "Target URL must begin with https://")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            {"url": "http://hub.example/webhooks/karbon"},
            "url 'http://hub.example/webhooks/karbon' must begin with https://, "
            "or be http://127.0.0.1 or http://localhost",
        ),
        (
            {"url": "https://hub.example/webhooks/karbon", "secret": "short"},
            "secret must be a SigningKey: at least 16 letters, numbers, dashes or underscores",
        ),
        ({}, 'the body needs "url": the hub\'s webhook address, or null to stop'),
    ],
)
async def test_a_bad_karbon_target_is_refused_naming_the_problem(
    karbon: httpx.AsyncClient, body: dict[str, Any], error: str
) -> None:
    refused = await target(karbon, body)
    assert (refused.status_code, refused.json()) == (400, {"error": error})


async def test_a_null_karbon_target_ends_the_contact_subscription(karbon: httpx.AsyncClient) -> None:
    await target(karbon, {"url": "https://hub.example/webhooks/karbon", "secret": SIGNING_KEY})
    assert [s["target_url"] for s in (await karbon.get("/_sim/webhooks")).json()["subscriptions"]] == [
        "https://hub.example/webhooks/karbon"
    ]
    await target(karbon, {"url": None})
    assert (await karbon.get("/_sim/webhooks")).json()["subscriptions"] == []

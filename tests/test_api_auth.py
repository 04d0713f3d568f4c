"""Every /api route, enumerated from the app's router, refuses callers without a valid token and keeps admin routes
for admins."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from hub.openapi import operation_of, walk_routes
from tests.api_fixtures import ADMIN_TOKEN, STANDARD_TOKEN, ApiRig, open_rig

PATH_VALUES = {"name": "mem", "entity": "contact", "home_id": "some-home-id", "id": "1"}

BAD_HEADERS = {
    "no header": {},
    "wrong token": {"Authorization": "Bearer not-a-token-of-anyone"},
    "token of another case": {"Authorization": f"Bearer {ADMIN_TOKEN.upper()}"},
    "token with a prefix": {"Authorization": f"Bearer x{ADMIN_TOKEN}"},
    "no scheme": {"Authorization": ADMIN_TOKEN},
    "basic scheme": {"Authorization": f"Basic {ADMIN_TOKEN}"},
    "scheme without token": {"Authorization": "Bearer"},
    "blank token": {"Authorization": "Bearer    "},
    "empty header": {"Authorization": ""},
}


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[ApiRig]:
    async with open_rig(tmp_path) as opened:
        yield opened


def api_calls(rig: ApiRig) -> list[tuple[str, str, bool]]:
    """(method, path with its parameters filled, admin only) for every route under /api."""
    calls = []
    for method, path, route in walk_routes(rig.app.routes):
        if path.startswith("/api/"):
            operation = operation_of(route)
            filled = re.sub(r"{(\w+)}", lambda m: PATH_VALUES[m.group(1)], path)
            calls.append((method, filled, bool(operation and operation.admin)))
    return calls


def test_the_router_has_the_api_routes_the_seeds_need(rig: ApiRig):
    paths = {(method, path) for method, path, _admin in api_calls(rig)}
    assert len(paths) >= 21
    assert ("POST", "/api/connections/mem/sync") in paths
    assert ("DELETE", "/api/connections/mem/links/contact/some-home-id") in paths


@pytest.mark.parametrize("case", sorted(BAD_HEADERS))
async def test_every_api_route_answers_401_without_a_valid_bearer_token(rig: ApiRig, case: str):
    wrong = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=rig.app), base_url="http://hub", headers=BAD_HEADERS[case]
    ) as client:
        responses = [
            (method, path, await client.request(method, path, json={})) for method, path, _admin in api_calls(rig)
        ]
    for method, path, response in responses:
        assert "authorization" in response.request.headers or case == "no header"
        body = response.json()
        if response.status_code != 401 or "bearer token" not in body.get("error", ""):
            wrong.append(f"{method} {path}: {response.status_code} {body}")
        elif response.headers.get("www-authenticate") != 'Bearer realm="hub"':
            wrong.append(f"{method} {path}: no WWW-Authenticate challenge")
    assert not wrong, "\n".join(wrong)


async def test_a_standard_user_gets_403_on_every_admin_route(rig: ApiRig):
    admin_routes = [(method, path) for method, path, admin in api_calls(rig) if admin]
    assert {path.split("/")[-1] for _method, path in admin_routes} >= {"links", "import", "export", "replay"}
    wrong = []
    for method, path in admin_routes:
        response = await rig.standard.request(method, path, json={})
        if response.status_code != 403 or "sam is a standard user" not in response.json()["error"]:
            wrong.append(f"{method} {path}: {response.status_code} {response.text}")
    assert not wrong, "\n".join(wrong)


async def test_a_standard_user_may_not_sync_a_whole_connection(rig: ApiRig):
    for body in ({}, {"full": True}, {"mode": "pull"}):
        response = await rig.standard.post("/api/connections/mem/sync", json=body)
        assert response.status_code == 403, body
        assert "only admins sync a whole connection" in response.json()["error"]
    assert await rig.hub.store.runs() == []


async def test_a_standard_user_syncs_a_list(rig: ApiRig):
    """Seed 001: from the Clients list any user can use Sync; only the connection-wide sync is an admin's."""
    await rig.home(name="Ada")
    rig.remote.add("contact", {"Name": "Ada", "Email": "ada@example"})
    response = await rig.standard.post("/api/connections/mem/sync", json={"entities": ["contact"]})
    assert response.status_code == 200, response.text
    (run,) = await rig.hub.store.runs()
    assert (run["actor"], run["status"]) == ("sam", "success")
    (home,) = (await rig.standard.get("/api/records?entity=contact")).json()
    assert home["fields"]["email"] == "ada@example"


async def test_a_standard_user_may_not_create_records_through_a_record_sync(rig: ApiRig):
    response = await rig.standard.post(
        "/api/connections/mem/sync", json={"entities": ["contact"], "remote_ids": ["R1"], "create_home": True}
    )
    assert response.status_code == 403
    assert "import or export" in response.json()["error"]


async def test_a_standard_user_may_read_and_sync_single_records(rig: ApiRig):
    home = await rig.home(name="Ada")
    for path in (
        "/api/connections",
        "/api/connections/mem",
        "/api/runs",
        "/api/activity",
        "/api/plugins",
        "/api/records?entity=contact",
        f"/api/records/{home.id}",
        "/api/connections/mem/links",
    ):
        response = await rig.standard.get(path)
        assert response.status_code == 200, (path, response.text)
    response = await rig.standard.post("/api/connections/mem/sync", json={"record_ids": [home.id]})
    assert response.status_code == 200, response.text


async def test_the_openapi_document_and_health_need_no_token(rig: ApiRig):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=rig.app), base_url="http://hub") as client:
        for path in ("/openapi.json", "/healthz"):
            response = await client.get(path)
            assert response.status_code == 200, path


async def test_a_token_that_works_is_accepted_whatever_the_case_of_the_scheme(rig: ApiRig):
    for header in (f"Bearer {STANDARD_TOKEN}", f"bearer {STANDARD_TOKEN}", f"BEARER  {STANDARD_TOKEN} "):
        response = await rig.admin.get("/api/connections", headers={"Authorization": header})
        assert response.status_code == 200, header

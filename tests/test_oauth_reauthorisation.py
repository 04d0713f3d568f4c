"""QuickBooks OAuth across processes and restarts: hubs sharing one store, Intuit rotating and revoking tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from hub.config import parse_config
from hub.engine import RunResult, Scope
from hub.runtime import Hub
from hub.status import connection_status
from plugins.quickbooks.simulator import create_app
from tests.quickbooks_fixtures import CONNECTION, ENV, OAUTH_SECRETS, REALM, VERIFIER_TOKEN, Clock, SimTransport
from tests.test_oauth import RevokingTokenEndpoint


class Intuit(RevokingTokenEndpoint):
    """Intuit's token endpoint (each refresh token works once), where a person may also connect the app again."""

    def __init__(self, *valid: str) -> None:
        super().__init__(*valid)
        self.issued = 0

    def connect_again(self, refresh_token: str) -> None:
        """A person connects the app again: Intuit revokes what it gave before and gives a new refresh token."""
        self.valid = {refresh_token}


class Company:
    """One QuickBooks company, its clock and Intuit, which every hub process of the test talks to."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.clock = Clock()
        self.app = create_app(clock=self.clock, realm_id=REALM, verifier_token=VERIFIER_TOKEN, per_minute=100_000)
        self.intuit = Intuit("rt-configured")

    @asynccontextmanager
    async def hub(self, refresh_token: str = "rt-configured") -> AsyncIterator[Hub]:
        """A hub process (`hub serve` or `hub sync`) over the shared store, with this refresh token configured."""
        transport = SimTransport(self.app)
        transport.tokens = self.intuit  # type: ignore[assignment]
        env = {**ENV, "QBO_REFRESH_TOKEN": refresh_token}
        connection = {"plugin": "quickbooks", "options": {"realm_id": REALM}, "secrets": OAUTH_SECRETS}
        config = parse_config({"hub": {"database": str(self.database)}, "connections": {CONNECTION: connection}}, env)
        hub = await Hub.open(config, env=env, transport_for=lambda _connection: transport, clock=self.clock)
        hub.system(CONNECTION).clock = self.clock  # type: ignore[attr-defined]
        try:
            yield hub
        finally:
            await hub.close()


async def sync(hub: Hub) -> RunResult:
    """A sync of QuickBooks customers, as a person asks for it."""
    return await hub.sync(CONNECTION, Scope(entities=("customer",)), trigger="manual", actor="tester")


async def state(hub: Hub) -> Any:
    """The connection's state as `hub status` shows it."""
    return (await connection_status(hub, CONNECTION))["state"]


@pytest.fixture
def company(tmp_path: Path) -> Company:
    return Company(tmp_path / "hub.db")


async def test_a_server_syncs_with_the_token_another_process_rotated(company: Company):
    async with company.hub() as serve, company.hub() as other:
        assert (await sync(serve)).status == "success"
        company.clock.advance(hours=2)  # both access tokens expired; `hub sync` refreshes first
        assert (await sync(other)).status == "success"

        result = await sync(serve)

        assert result.status == "success", result.summary
        assert company.intuit.grants == ["rt-configured", "rt-1"]
        assert await state(serve) == "idle"


async def test_a_new_refresh_token_and_a_restart_end_re_authorisation_required(company: Company):
    async with company.hub() as hub:
        assert (await sync(hub)).status == "success"
        company.intuit.connect_again("rt-new")  # the old authorisation is revoked
        company.clock.advance(hours=2)

        refused = await sync(hub)

        assert refused.status == "re-authorisation required"
        assert await state(hub) == "re-authorisation required"
    async with company.hub() as restarted_unchanged:
        assert (await sync(restarted_unchanged)).status == "re-authorisation required"

    async with company.hub(refresh_token="rt-new") as restarted:
        result = await sync(restarted)

        assert result.status == "success", result.summary
        assert await state(restarted) == "idle"
        assert company.intuit.grants[-1] == "rt-new"
        assert (await sync(restarted)).status == "success"
        assert company.intuit.grants.count("rt-new") == 1


async def test_a_server_configured_with_the_old_token_recovers_once_hub_sync_is_given_the_new_one(company: Company):
    async with company.hub() as serve:
        assert (await sync(serve)).status == "success"
        company.intuit.connect_again("rt-new")
        company.clock.advance(hours=2)
        assert (await sync(serve)).status == "re-authorisation required"

        async with company.hub(refresh_token="rt-new") as other:
            assert (await sync(other)).status == "success"
        result = await sync(serve)

        assert result.status == "success", result.summary
        assert await state(serve) == "idle"
        assert company.intuit.grants == ["rt-configured", "rt-1", "rt-new"]

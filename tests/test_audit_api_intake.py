"""Audit fixes at start-up and webhook intake: HUB_SECRET_KEY checked at open, no 500 while verifying, and the
contract's webhook defaults (``standard-webhooks``, ``secret_env``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from hub.app import create_app
from hub.config import Config, Connection, parse_config
from hub.contracts import CONTRACTS_DIR, load_contract, problems_in
from hub.errors import ConfigError
from hub.runtime import Hub
from tests.memory_hub import CONTACT_FIELDS, WEBHOOK_SECRET, BoundMemoryPlugin, signed, webhook_body
from tests.memory_system import Clock, MemoryRemote, MemorySystem, contact_entity, contract_file

QUICKBOOKS = {
    "plugin": "quickbooks",
    "options": {"realm_id": "1234567890"},
    "secrets": {
        "client_id": "QBO_CLIENT_ID", "client_secret": "QBO_CLIENT_SECRET", "refresh_token": "QBO_REFRESH_TOKEN"
    },
}
QUICKBOOKS_ENV = {"HUB_PLUGINS": "core,quickbooks", "QBO_CLIENT_ID": "id", "QBO_CLIENT_SECRET": "s",
                  "QBO_REFRESH_TOKEN": "rt"}


def quickbooks_config(tmp_path: Path, env: Mapping[str, str]) -> Config:
    """A configuration like config/hub.toml's QuickBooks connection: tokens refreshed, so kept by the hub."""
    return parse_config({"hub": {"database": str(tmp_path / "hub.db")}, "connections": {"quickbooks": QUICKBOOKS}}, env)


# --- HUB_SECRET_KEY -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "not a fernet key"])
async def test_the_hub_will_not_start_without_the_key_a_refresh_token_connection_needs(tmp_path: Path, key: str):
    env = {**QUICKBOOKS_ENV, "HUB_SECRET_KEY": key}

    with pytest.raises(ConfigError) as refused:
        await Hub.open(quickbooks_config(tmp_path, env), env=env)

    message = str(refused.value)
    assert message.startswith("connections.quickbooks.secrets.refresh_token: HUB_SECRET_KEY")
    assert "Fernet.generate_key()" in message  # says how to make one
    assert not (tmp_path / "hub.db").exists()  # refused before the store was made


async def test_the_hub_starts_once_the_key_is_set(tmp_path: Path):
    env = {**QUICKBOOKS_ENV, "HUB_SECRET_KEY": Fernet.generate_key().decode()}
    hub = await Hub.open(quickbooks_config(tmp_path, env), env=env)
    try:
        assert hub.system("quickbooks").token_store is not None
    finally:
        await hub.close()


async def test_a_connection_given_an_access_token_needs_no_key(tmp_path: Path):
    # The demo's QuickBooks connection: a fixed access token, nothing to keep.
    env = {**QUICKBOOKS_ENV, "QBO_ACCESS_TOKEN": "at"}
    secrets = {**QUICKBOOKS["secrets"], "access_token": "QBO_ACCESS_TOKEN"}
    connection = {**QUICKBOOKS, "secrets": secrets}
    data = {"hub": {"database": str(tmp_path / "hub.db")}, "connections": {"quickbooks": connection}}
    hub = await Hub.open(parse_config(data, env), env=env)
    await hub.close()


# --- a memory system taking webhooks --------------------------------------------------------------------------------


@dataclass
class Vendor:
    """The memory system's side of the hub's webhook URL: it signs and posts changes."""

    client: httpx.AsyncClient
    clock: Clock

    async def deliver(self, secret: str = WEBHOOK_SECRET) -> httpx.Response:
        """POST one contact change, signed the Standard Webhooks way with ``secret``."""
        body = webhook_body("contact", "R1")
        headers = signed(body, now=self.clock(), secret=secret)
        return await self.client.post("/webhooks/mem", content=body, headers=headers)


@asynccontextmanager
async def webhook_vendor(
    tmp_path: Path,
    webhook: dict[str, Any],
    *,
    secrets: dict[str, str] | None = None,
    env: Mapping[str, str] = (),
    system: type[MemorySystem] = MemorySystem,
) -> AsyncIterator[Vendor]:
    """The vendor of a hub whose ``mem`` connection takes webhooks as ``webhook`` (the contract's) says."""
    remote = MemoryRemote(Clock())
    contract = contract_file(tmp_path, {"contact": contact_entity(CONTACT_FIELDS)}, webhook=webhook)
    config = Config(None, tmp_path / "hub.db", connections={"mem": Connection("mem", "memory", secrets=secrets or {})})
    hub = await Hub.open(config, env={"HUB_PLUGINS": "core", **dict(env)},
                         plugins=[BoundMemoryPlugin(contract, remote, system)], clock=remote.clock)
    transport = httpx.ASGITransport(app=create_app(hub, background=False))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            yield Vendor(client, remote.clock)
    finally:
        await hub.close()


class SecretFromConfig(MemorySystem):
    """A plugin that reads its signing secret with ``connection.secret``, which raises when it is not configured."""

    def webhook_secrets(self) -> list[str]:
        """The one configured signing key."""
        return [self.connection.secret("signing_key")]


async def test_a_hub_error_while_verifying_is_a_401_not_a_500(tmp_path: Path):
    async with webhook_vendor(tmp_path, {"verifier": "standard-webhooks"}, system=SecretFromConfig) as vendor:
        response = await vendor.deliver()

    assert response.status_code == 401
    assert response.json() == {
        "error": "the hub cannot check signatures for connection 'mem': its setup is incomplete "
        "(the hub's log says why)"
    }


# --- webhook.verifier defaults to standard-webhooks -----------------------------------------------------------------


def test_a_contract_webhook_without_a_verifier_uses_standard_webhooks(tmp_path: Path):
    path = contract_file(tmp_path, {"contact": contact_entity(CONTACT_FIELDS)}, webhook={})

    assert problems_in(path, json.loads(path.read_text()), verifiers={"standard-webhooks"}) == []
    assert load_contract(path).webhook_verifier == "standard-webhooks"


def test_a_contract_without_webhook_still_means_no_webhooks(tmp_path: Path):
    assert load_contract(CONTRACTS_DIR / "xpm.json").webhook_verifier is None


async def test_a_plugin_naming_no_verifier_takes_standard_webhooks_deliveries(tmp_path: Path):
    async with webhook_vendor(tmp_path, {}, secrets={"webhook": WEBHOOK_SECRET}) as vendor:
        response = await vendor.deliver()

    assert response.status_code == 200, response.text
    assert response.headers["x-hub-events"] == "1 new, 0 already received"


# --- webhook.secret_env ---------------------------------------------------------------------------------------------


def test_the_shipped_contracts_name_their_default_secret_variable():
    assert load_contract(CONTRACTS_DIR / "intuit_pm.json").webhook_secret_env == "KARBON_WEBHOOK_SIGNING_KEY"
    assert load_contract(CONTRACTS_DIR / "quickbooks.json").webhook_secret_env == "QBO_WEBHOOK_VERIFIER_TOKEN"


async def test_with_no_webhook_secret_on_the_connection_the_contracts_secret_env_is_used(tmp_path: Path):
    webhook = {"secret_env": "MEM_WEBHOOK_SECRET"}
    async with webhook_vendor(tmp_path, webhook, env={"MEM_WEBHOOK_SECRET": WEBHOOK_SECRET}) as vendor:
        accepted = await vendor.deliver()
        forged = await vendor.deliver(secret="whsec_" + "QUFB" * 8)

    assert accepted.status_code == 200, accepted.text
    assert forged.status_code == 401


async def test_the_connections_own_webhook_secret_wins_over_secret_env(tmp_path: Path):
    rotated = "whsec_" + "QkJC" * 8
    webhook = {"secret_env": "MEM_WEBHOOK_SECRET"}
    async with webhook_vendor(tmp_path, webhook, secrets={"webhook": rotated},
                              env={"MEM_WEBHOOK_SECRET": WEBHOOK_SECRET}) as vendor:
        by_env_secret = await vendor.deliver()
        by_own_secret = await vendor.deliver(secret=rotated)

    assert by_env_secret.status_code == 401
    assert by_own_secret.status_code == 200, by_own_secret.text


async def test_with_neither_secret_the_webhook_is_refused_saying_so(tmp_path: Path):
    async with webhook_vendor(tmp_path, {"secret_env": "MEM_WEBHOOK_SECRET"}) as vendor:
        response = await vendor.deliver()

    assert response.status_code == 401
    assert response.json() == {"error": "no webhook secret is configured for connection 'mem'"}

"""``hub karbon-webhooks``: an IT person subscribes a Karbon account's webhooks to the hub from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from karbon_openapi import SpecCheckingTransport

from hub.runtime import Hub
from plugins.intuit_pm.simulator import KarbonSimulator, create_app
from tests.intuit_pm_fixtures import ENV, SIGNING_KEY
from tests.test_cli import hub_cli

HUB_URL = "https://hub.example.com/webhooks/karbon"

CONFIG = """
[hub]
database = "hub.db"

[connections.karbon]
plugin = "intuit_pm"
[connections.karbon.secrets]
app_id = "KARBON_APP_ID"
access_key = "KARBON_ACCESS_KEY"

[connections.signed]
plugin = "intuit_pm"
[connections.signed.secrets]
app_id = "KARBON_APP_ID"
access_key = "KARBON_ACCESS_KEY"
webhook_signing_key = "KARBON_SIGNING_KEY"

[connections.quickbooks]
plugin = "quickbooks"
options = { realm_id = "9341453000000000" }
"""


@pytest.fixture
def karbon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SpecCheckingTransport:
    """A hub configuration whose Karbon connections reach a fresh simulator, every call checked against the spec."""
    (tmp_path / "hub.toml").write_text(CONFIG)
    monkeypatch.setenv("HUB_CONFIG", str(tmp_path / "hub.toml"))
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KARBON_WEBHOOK_SIGNING_KEY", raising=False)
    monkeypatch.setenv("HUB_PLUGINS", "core,intuit_pm,quickbooks")
    transport = SpecCheckingTransport(httpx.ASGITransport(app=create_app()))
    opened = Hub.open.__func__  # type: ignore[attr-defined]

    async def open_on_simulator(cls: type[Hub], config: Any, **options: Any) -> Hub:
        return await opened(cls, config, **{**options, "transport_for": lambda _connection: transport})

    monkeypatch.setattr(Hub, "open", classmethod(open_on_simulator))
    return transport


def sim(transport: SpecCheckingTransport) -> KarbonSimulator:
    """The simulated Karbon tenant behind the transport."""
    return transport.inner.app.state.sim  # type: ignore[attr-defined]


def test_subscribe_asks_karbon_for_contact_webhooks_and_prints_a_new_signing_key_to_store(capsys, karbon):
    status, out, err = hub_cli(capsys, "karbon-webhooks", "subscribe", "karbon", HUB_URL)

    assert (status, err) == (0, "")
    subscription = sim(karbon).subscriptions["Contact"]
    assert subscription.target_url == HUB_URL
    assert f"Karbon posts Contact webhooks to {HUB_URL} (connection karbon)." in out
    assert f"Signing key: {subscription.signing_key}" in out
    assert len(subscription.signing_key) >= 16
    assert "connections.karbon.secrets.webhook_signing_key" in out
    assert "KARBON_WEBHOOK_SIGNING_KEY (the contract's webhook.secret_env)" in out
    assert karbon.violations == []


def test_subscribe_json_gives_karbons_answer_the_key_and_the_contracts_secret_variable(capsys, karbon):
    status, out, _ = hub_cli(capsys, "karbon-webhooks", "subscribe", "karbon", HUB_URL,
                             "--signing-key", "my-own-key_0123456789", "--json")

    assert status == 0
    shown = json.loads(out)
    assert shown["subscription"]["TargetUrl"] == HUB_URL
    assert shown["subscription"]["WebhookType"] == "Contact"
    assert shown["signing_key"] == "my-own-key_0123456789"
    assert shown["secret_env"] == "KARBON_WEBHOOK_SIGNING_KEY"
    assert sim(karbon).subscriptions["Contact"].signing_key == "my-own-key_0123456789"


def test_subscribe_signs_with_the_connections_own_key_and_does_not_print_it(capsys, karbon):
    status, out, _ = hub_cli(capsys, "karbon-webhooks", "subscribe", "signed", HUB_URL)

    assert status == 0
    assert sim(karbon).subscriptions["Contact"].signing_key == SIGNING_KEY
    assert SIGNING_KEY not in out
    assert "signed with the key the hub already holds" in out


def test_a_target_that_is_not_https_is_refused_with_karbons_message(capsys, karbon):
    status, out, err = hub_cli(capsys, "karbon-webhooks", "subscribe", "karbon", "http://hub.example.com/webhooks/karbon")

    assert (status, out) == (1, "")
    assert "Target URL must begin with https://" in err
    assert "Karbon posts webhooks only to https:// addresses" in err
    assert "Contact" not in sim(karbon).subscriptions


def test_a_second_subscription_is_refused_naming_the_current_target_and_how_to_end_it(capsys, karbon):
    assert hub_cli(capsys, "karbon-webhooks", "subscribe", "karbon", HUB_URL)[0] == 0

    status, _, err = hub_cli(capsys, "karbon-webhooks", "subscribe", "karbon", "https://other.example.com/hook")

    assert status == 1
    assert f"already posts to {HUB_URL}" in err
    assert "hub karbon-webhooks unsubscribe karbon" in err


def test_a_connection_of_another_plugin_is_refused(capsys, karbon):
    status, out, err = hub_cli(capsys, "karbon-webhooks", "subscribe", "quickbooks", HUB_URL)

    assert (status, out) == (1, "")
    assert err == ("hub: connection 'quickbooks' uses the quickbooks plugin; hub karbon-webhooks works only on "
                   "intuit_pm (Karbon) connections\n")
    assert sim(karbon).calls == []


def test_show_and_unsubscribe_read_and_end_the_contact_subscription(capsys, karbon):
    assert "holds no Contact webhook subscription" in hub_cli(capsys, "karbon-webhooks", "show", "karbon")[1]
    hub_cli(capsys, "karbon-webhooks", "subscribe", "karbon", HUB_URL)

    status, out, _ = hub_cli(capsys, "karbon-webhooks", "show", "karbon", "--json")
    assert status == 0
    assert json.loads(out)["subscription"]["TargetUrl"] == HUB_URL

    status, out, _ = hub_cli(capsys, "karbon-webhooks", "unsubscribe", "karbon")
    assert (status, out) == (0, "Karbon no longer posts Contact webhooks (connection karbon).\n")
    assert "Contact" not in sim(karbon).subscriptions
    assert "nothing to end" in hub_cli(capsys, "karbon-webhooks", "unsubscribe", "karbon")[1]
    assert karbon.violations == []


def test_hub_help_lists_the_command_the_plugin_adds_through_its_entry_point(capsys, monkeypatch):
    monkeypatch.setenv("HUB_PLUGINS", "core,intuit_pm")
    with pytest.raises(SystemExit):
        hub_cli(capsys, "--help")
    assert "karbon-webhooks" in capsys.readouterr().out

    monkeypatch.setenv("HUB_PLUGINS", "core")  # without the plugin, the core has no such command
    with pytest.raises(SystemExit):
        hub_cli(capsys, "--help")
    assert "karbon-webhooks" not in capsys.readouterr().out

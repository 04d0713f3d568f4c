"""The configuration file: every mistake is an error that names the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import load_config, parse_config
from hub.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_example_loads_once_its_variables_are_set():
    env = {name: "x" for name in ("HUB_ADMIN_TOKEN", "HUB_FRONTDESK_TOKEN", "KARBON_APP_ID", "KARBON_ACCESS_KEY",
                                  "KARBON_WEBHOOK_SIGNING_KEY", "QBO_CLIENT_ID", "QBO_CLIENT_SECRET",
                                  "QBO_REFRESH_TOKEN", "QBO_WEBHOOK_VERIFIER_TOKEN")}
    config = load_config(ROOT / "config" / "hub.toml", env)
    assert config.database == ROOT / "var" / "hub.db"
    assert config.connections["quickbooks"].options["realm_id"] == "1234567890"
    assert config.users["frontdesk"].role == "standard"
    assert config.connections["karbon"].secret("app_id") == "x"


def test_a_missing_environment_variable_names_the_key_and_the_variable():
    with pytest.raises(ConfigError, match=r"connections\.karbon\.secrets\.app_id: environment variable KARBON_APP_ID"):
        parse_config({"connections": {"karbon": {"plugin": "intuit_pm", "secrets": {"app_id": "KARBON_APP_ID"}}}}, {})


@pytest.mark.parametrize(("data", "key"), [
    ({"hub": {"listen": "nowhere"}}, "hub.listen"),
    ({"hub": {"workers": 0}}, "hub.workers"),
    ({"hub": {"databse": "x"}}, "hub.databse: unknown key"),
    ({"users": {"amy": {"role": "boss", "token_env": "T"}}}, "users.amy.role"),
    ({"connections": {"qb": {}}}, "connections.qb.plugin"),
    ({"connections": {"qb": {"plugin": "quickbooks", "schedule": 15}}}, "connections.qb.schedule"),
    ({"connections": {"qb": {"plugin": "quickbooks", "sync_on_start": "yes"}}}, "connections.qb.sync_on_start"),
    ({"connections": {"qb": {"plugin": "quickbooks", "colour": "red"}}}, "connections.qb.colour: unknown key"),
])
def test_bad_values_are_refused_naming_the_key(data, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        parse_config(data, {"T": "t"})


def test_a_file_that_is_not_toml_says_so(tmp_path):
    path = tmp_path / "hub.toml"
    path.write_text("[hub\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path, {})


def test_asking_for_an_unconfigured_connection_lists_the_configured_ones():
    config = parse_config({"connections": {"qb": {"plugin": "quickbooks"}}}, {})
    with pytest.raises(ConfigError, match=r"configured: qb"):
        config.connection("karbon")

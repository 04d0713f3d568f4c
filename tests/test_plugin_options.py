"""The built-in plugins declare the options they read themselves, so any other option name is refused at load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from hub.config import load_config
from hub.errors import ConfigError
from hub.registry import build_registry, check_options
from hub.runtime import Hub
from tests.test_audit_cli_config import AnyVariable

ROOT = Path(__file__).resolve().parents[1]


def config_with(tmp_path: Path, plugin: str, options: str) -> Path:
    """A hub.toml with one connection of ``plugin`` and these option lines."""
    path = tmp_path / "hub.toml"
    path.write_text(f'[connections.c]\nplugin = "{plugin}"\n[connections.c.options]\n{options}\n'
                    '[connections.c.secrets]\nrefresh_token = "T"\nclient_id = "I"\nclient_secret = "S"\n'
                    'app_id = "A"\naccess_key = "K"\n')
    return path


@pytest.mark.parametrize(("plugin", "options"), [("quickbooks", 'realm_id = "1"'), ("intuit_pm", "")])
def test_an_option_no_plugin_reads_is_refused_naming_the_key(tmp_path: Path, plugin: str, options: str):
    config = load_config(config_with(tmp_path, plugin, options + "\ncolour = 1"), AnyVariable())

    with pytest.raises(ConfigError, match=rf"connections\.c\.options\.colour: unknown option of plugin '{plugin}'"):
        check_options(build_registry({}), config)


def test_the_quickbooks_options_its_plugin_reads_are_known(tmp_path: Path):
    lines = 'realm_id = "1"\nincome_account = "Sales"\nexpense_account = 80\ninventory_asset_account = "Stock"'
    check_options(build_registry({}), load_config(config_with(tmp_path, "quickbooks", lines), AnyVariable()))


async def test_the_hub_refuses_to_open_with_an_option_its_plugin_does_not_read_before_making_its_store(
    tmp_path: Path,
):
    """The API, the demo and scripts open the hub without the CLI: the check is in ``Hub.open`` itself."""
    path = config_with(tmp_path, "quickbooks", 'realm_id = "1"\ncolour = 1')
    config = load_config(path, AnyVariable())

    with pytest.raises(ConfigError, match=r"connections\.c\.options\.colour: unknown option of plugin 'quickbooks'"):
        await Hub.open(config, env={"HUB_SECRET_KEY": Fernet.generate_key().decode()})

    assert not config.database.exists()


async def test_an_entity_type_the_plugins_contract_lacks_is_refused_when_the_hub_opens_naming_the_key(
    tmp_path: Path,
):
    """Caught at load, so ``hub serve`` does not start a timer that would fail every tick."""
    path = config_with(tmp_path, "quickbooks", 'realm_id = "1"')
    path.write_text(path.read_text().replace('"quickbooks"', '"quickbooks"\nentities = ["customers"]'))
    config = load_config(path, AnyVariable())
    expected = (rf"{re.escape(str(path))}: connections\.c\.entities: no entity type 'customers' in quickbooks "
                r"\(it has: bill, customer, invoice, item, ship_doc, vendor, work_order\)")

    with pytest.raises(ConfigError, match=expected):
        check_options(build_registry({}), config)
    with pytest.raises(ConfigError, match=expected):
        await Hub.open(config, env={"HUB_SECRET_KEY": Fernet.generate_key().decode()})
    assert not config.database.exists()


def test_the_entity_types_a_plugins_contract_has_are_accepted(tmp_path: Path):
    path = config_with(tmp_path, "quickbooks", 'realm_id = "1"')
    path.write_text(path.read_text().replace('plugin = "quickbooks"', 'plugin = "quickbooks"\nentities = ["customer"]'))
    check_options(build_registry({}), load_config(path, AnyVariable()))

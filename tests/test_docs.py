"""The documentation keeps up with the code: every hook and every contract key is described."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest

import hub
from hub import hookspecs

ROOT = Path(__file__).resolve().parent.parent
HOOKS = sorted(name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
               if hasattr(fn, "hub_spec"))


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_section_in_the_plugin_docs(hook):
    text = (ROOT / "docs" / "plugins.md").read_text()
    assert re.search(rf"^### {hook}$", text, re.M), f"docs/plugins.md has no '### {hook}' section"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_one_line_docstring(hook):
    doc = getattr(hookspecs, hook).__doc__ or ""
    assert doc and "\n" not in doc.strip()


def _schema_keys() -> set[str]:
    schema = json.loads((ROOT / "contracts" / "contract.schema.json").read_text())
    keys = set(schema["properties"])
    for definition in ("entity", "field", "predicate", "match_rule"):
        node = schema["$defs"][definition]
        for variant in node.get("oneOf", [node]):
            keys |= set(variant.get("properties", {}))
    return keys - {"$schema", "type", "description"}


@pytest.mark.parametrize("key", sorted(_schema_keys()))
def test_every_contract_key_is_explained(key):
    assert f"`{key}`" in (ROOT / "docs" / "contracts.md").read_text(), f"docs/contracts.md never mentions `{key}`"


def test_the_readme_opens_with_the_demo_and_the_test_commands():
    commands = re.findall(r"```sh\n(.+?)\n```", (ROOT / "README.md").read_text())
    assert commands[0].endswith("hub demo")
    assert "pytest" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1].split("&& ")[-1] in ci, ".ci/run must run exactly the README's test command"


def test_the_public_surface_is_pinned():
    assert hub.__all__ == [
        "UNSET", "ConfigError", "ContractError", "Engine", "FatalSyncError", "HubError", "MalformedPayload", "Page",
        "PageRequest", "PluginError", "RateLimited", "ReauthorisationRequired", "RecordError", "RemoteRecord",
        "RetriableError", "RunResult", "Scope", "SignatureInvalid", "StaleWrite", "SyncError", "System",
        "WebhookEvent", "hookimpl",
    ]

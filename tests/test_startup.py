"""Starting the hub fails cleanly: a taken port is one line and exit 3, and a failed open leaves no store open."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

import hub.runtime
from hub.cli import main
from hub.config import Config
from hub.errors import ConfigError
from hub.runtime import Hub
from hub.store import Store


def test_serve_on_a_taken_port_says_so_in_one_line_and_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "hub.toml"
        config.write_text(f'[hub]\ndatabase = "{tmp_path / "hub.db"}"\nlisten = "127.0.0.1:{port}"\n')
        monkeypatch.setenv("HUB_PLUGINS", "core")

        status = main(["--config", str(config), "serve"])

    out, err = capsys.readouterr()
    assert status == 3
    assert err == f"hub: port {port} is taken: stop what listens there, or serve on another with --port\n"
    assert out == ""
    assert not (tmp_path / "hub.db").exists(), "the hub opened its store before it knew it could listen"


def test_a_simulator_on_a_taken_port_says_so_in_one_line_and_exits_3(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("HUB_PLUGINS", "core,quickbooks")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        status = main(["simulate", "quickbooks", "--port", str(port)])

    out, err = capsys.readouterr()
    assert (status, out) == (3, "")
    assert err == f"hub: port {port} is taken: stop what listens there, or serve on another with --port\n"


async def test_an_open_that_fails_after_the_store_opened_closes_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    opened: list[Store] = []
    real_open = Store.open

    async def recorded_open(path: Path | str) -> Store:
        opened.append(await real_open(path))
        return opened[-1]

    monkeypatch.setattr(hub.runtime.Store, "open", recorded_open)

    class Misconfigured(Hub):
        def __init__(self, *args: Any) -> None:
            raise ConfigError("connections.x: cannot be configured")

    with pytest.raises(ConfigError, match="cannot be configured"):
        await Misconfigured.open(Config(None, tmp_path / "hub.db"), env={"HUB_PLUGINS": "core"})

    (store,) = opened
    with pytest.raises(ValueError, match="no active connection"):
        await store.fetchone("SELECT 1")

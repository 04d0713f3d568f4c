"""Starting the hub fails cleanly: a taken port is one line and exit 3."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from hub.cli import main


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

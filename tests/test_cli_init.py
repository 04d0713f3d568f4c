"""``hub init`` writes the commented example configuration, for a firm that installed the hub from a wheel."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from hub.cli import main
from hub.config import example_config

ROOT = Path(__file__).resolve().parents[1]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_init_writes_the_commented_example_to_config_hub_toml(capsys, tmp_path: Path):
    status, out, err = run(capsys, "init", "--dir", str(tmp_path))

    written = tmp_path / "config" / "hub.toml"
    assert (status, err) == (0, "")
    assert out.startswith(f"wrote {written}: edit its connections")
    assert written.read_text() == example_config().read_text()
    assert written.read_text().startswith("# The hub's configuration.")


def test_init_writes_under_the_current_folder_by_default(capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "init")[0] == 0
    assert (tmp_path / "config" / "hub.toml").read_text() == example_config().read_text()


def test_init_refuses_to_overwrite_a_configuration_unless_forced(capsys, tmp_path: Path):
    written = tmp_path / "config" / "hub.toml"
    written.parent.mkdir()
    written.write_text("# the firm's own\n")

    status, out, err = run(capsys, "init", "--dir", str(tmp_path))
    assert (status, out) == (1, "")
    assert err == f"hub: {written} exists; edit it, or hub init --force to overwrite it with the example\n"
    assert written.read_text() == "# the firm's own\n"

    assert run(capsys, "init", "--dir", str(tmp_path), "--force")[0] == 0
    assert written.read_text() == example_config().read_text()


def test_a_missing_default_configuration_names_hub_init(capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HUB_CONFIG", raising=False)

    status, _out, err = run(capsys, "runs")

    assert status == 1
    assert err == ("hub: config/hub.toml: no such configuration file (hub init writes the commented example there; "
                   "then edit it)\n")


def test_a_missing_named_configuration_names_hub_init_and_where_it_writes(capsys, tmp_path: Path):
    missing = tmp_path / "firm.toml"
    status, _out, err = run(capsys, "--config", str(missing), "runs")
    assert status == 1
    assert err == (f"hub: {missing}: no such configuration file (hub init writes the commented example to "
                   f"config/hub.toml; edit it there, or copy it to {missing})\n")


def test_the_example_ships_inside_the_package_where_init_looks_for_it_in_a_wheel():
    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["force-include"]["config"] == "hub/_config"
    assert example_config() == ROOT / "config" / "hub.toml"  # a clone (or an editable install) has no hub/_config

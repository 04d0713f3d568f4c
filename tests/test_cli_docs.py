"""docs/cli.md keeps up with the parser: every command has a section naming each of its flags and actions."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from hub.cli import build_parser

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
PARSER = build_parser()
COMMANDS: dict[str, argparse.ArgumentParser] = next(
    action.choices for action in PARSER._actions if isinstance(action, argparse._SubParsersAction)
)


def sections() -> dict[str, str]:
    """Each ``## hub <command> …`` section of docs/cli.md, by command."""
    parts = re.split(r"^## hub (\S+).*\n", DOC.read_text(), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def words(command: argparse.ArgumentParser) -> list[str]:
    """What an operator types after ``hub <command>``: each flag's long form and each action a positional offers."""
    found = []
    for action in command._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if action.option_strings:
            found.append(max(action.option_strings, key=len))
        else:
            found.extend(action.choices or ())
    return found


def test_every_section_is_a_command_that_exists():
    assert set(sections()) <= set(COMMANDS), "docs/cli.md documents a command the parser does not have"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_and_each_of_its_flags_and_actions_is_documented(command):
    section = sections().get(command)
    assert section is not None, f"docs/cli.md has no '## hub {command}' section"
    missing = [word for word in words(COMMANDS[command]) if not re.search(rf"`{re.escape(word)}[` ]", section)]
    assert not missing, f"the '## hub {command}' section of docs/cli.md never mentions {missing}"


def test_the_global_options_are_documented():
    flags = [word for word in words(PARSER) if word.startswith("--")]
    missing = [flag for flag in flags if f"`{flag} " not in DOC.read_text()]
    assert flags and not missing, f"docs/cli.md never mentions the global options {missing}"

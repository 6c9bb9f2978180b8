"""The command line reference (docs/reference/cli.md) is generated from the parser and current:
every command, sub-command, argument and option is on it."""

from __future__ import annotations

import argparse

from flightlog import cli

from . import cli_reference


def test_the_page_is_current() -> None:
    assert cli_reference.PAGE.read_text() == cli_reference.render(), (
        "docs/reference/cli.md is stale: run python -m tests.docs.cli_reference"
    )


def _walk(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _walk(sub, f"{path} {name}")
    return found


def test_every_command_and_option_is_documented() -> None:
    page = cli_reference.PAGE.read_text()
    commands = _walk(cli.build_parser(), "flightlog")
    assert {path.split()[1] for path, _ in commands[1:]} >= set(cli.COMMANDS)
    for path, parser in commands[1:]:
        section = page.split(f"`{path}`\n", 1)
        assert len(section) == 2, f"{path} has no section"
        body = section[1].split("\n#", 1)[0]
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            names = action.option_strings or [str(action.metavar or action.dest)]
            for name in names:
                assert name in page, f"{path}: {name} is not documented"
            if not action.option_strings:
                assert f"| `{names[0]}` | " in body, f"{path}: {names[0]} has no row"
                row = body.split(f"| `{names[0]}` | ", 1)[1].split("\n", 1)[0]
                assert row.strip(" |"), f"{path}: {names[0]} says nothing"

"""Writes ``docs/reference/cli.md`` from the ``flightlog`` command's own argument parser: every
command and sub-command, every argument and option, with its help text.

    python -m tests.docs.cli_reference          # rewrite the page
    python -m tests.docs.cli_reference --check  # exit 1 if the page is not current

``tests/docs/test_cli_reference.py`` fails when the page is stale.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from flightlog import cli

PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "cli.md"
WIDTH = 100  # usage lines are wrapped at this width, whatever the terminal
# What the positional arguments that the parser gives no help name.
POSITIONALS = {
    "RUN_ID": "a run's id",
    "STEP": "a step's name, as `flightlog show` lists them",
    "COLLECTION": "a resource collection's name",
    "IDENT": "a resource's identifier in its collection",
    "NAME": "an attachment's name",
    "DIRECTORY": "the folder to write the files into (made if missing)",
}

INTRO = """\
# Command line reference

<!-- Generated from flightlog's argument parser by `python -m tests.docs.cli_reference`;
do not edit: a test fails when this page and the parser differ. -->

Every command of `flightlog`, with every argument and option, as `flightlog COMMAND --help`
gives them. The [command line guide](../guides/cli.md) shows them at work.

"""


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, width=WIDTH)


def _subcommands(
    parser: argparse.ArgumentParser,
) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """``(name, help, parser)`` of each sub-command of ``parser``, in the order of its help."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name, ""), sub


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _option_rows(parser: argparse.ArgumentParser, skip: set[str]) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.option_strings and set(action.option_strings) <= skip:
            continue
        if action.option_strings:
            metavar = ""
            if action.nargs != 0:
                metavar = " " + (action.metavar or action.dest.upper())  # type: ignore[operator]
            names = ", ".join(f"`{option}{metavar}`" for option in action.option_strings)
        else:
            names = f"`{action.metavar or action.dest}`"
        meaning = action.help or POSITIONALS.get(str(action.metavar), "")
        if action.choices is not None and not isinstance(action.choices, dict):
            meaning += f" (one of: {', '.join(str(choice) for choice in action.choices)})"
        if action.help is argparse.SUPPRESS:
            continue
        rows.append(f"| {names} | {_cell(meaning)} |")
    return rows


def _global_options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def _section(
    path: str, summary: str, parser: argparse.ArgumentParser, skip: set[str], level: int
) -> list[str]:
    parser.formatter_class = _formatter
    usage = parser.format_usage().strip()
    lines = [f"{'#' * level} `{path}`", ""]
    if summary:
        lines += [summary[0].upper() + summary[1:] + ".", ""]
    lines += ["```text", usage, "```", ""]
    rows = _option_rows(parser, skip)
    if rows:
        lines += ["| argument or option | meaning |", "|---|---|", *rows, ""]
    for name, help_text, sub in _subcommands(parser):
        lines += _section(f"{path} {name}", help_text, sub, skip, min(level + 1, 4))
    return lines


def render() -> str:
    """The whole page, from the parser as it is now."""
    parser = cli.build_parser()
    parser.formatter_class = _formatter
    skip = _global_options(parser)
    lines = [INTRO.rstrip("\n"), "", "## Global options", ""]
    lines += ["```text", parser.format_usage().strip(), "```", ""]
    lines += [
        "These go before or after the command; every command takes them.",
        "",
        "| option | meaning |",
        "|---|---|",
        *_option_rows(parser, set()),
        "",
        "## Exit statuses",
        "",
        "```text",
        (parser.epilog or "").strip(),
        "```",
        "",
        "## Commands",
        "",
    ]
    for name, help_text, sub in _subcommands(parser):
        lines += _section(f"flightlog {name}", help_text, sub, skip, 3)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not PAGE.exists() or PAGE.read_text() != text:
            print(f"{PAGE} is stale: run python -m tests.docs.cli_reference", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

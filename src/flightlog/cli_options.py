"""Options every ``flightlog`` command takes, before or after the command's name
(``flightlog --url X --json runs`` as ``flightlog runs --url X --json``), ``--version``, and
the times that options such as ``runs --since`` accept."""

from __future__ import annotations

import argparse
from typing import Any

from ._version import __version__
from .errors import InvalidInputError
from .questions.times import parse_time

WHEN = "an ISO date or time (2026-12-01, 2026-12-01T08:30), epoch seconds, or an age (2h, 30d)"
"""What every option that takes a time (``--since``, ``--until``) accepts."""
DEBUG_HELP = "on an error, print its traceback too (as FLIGHTLOG_DEBUG=1 does)"


def _add(parser: argparse.ArgumentParser, after: bool) -> None:
    """The global options; ``after`` (a command's own copy): given there only, so that one
    after the command never resets one before it."""
    extra: dict[str, Any] = {"default": argparse.SUPPRESS} if after else {}
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP, **extra)
    parser.add_argument(
        "--url",
        help="store URL (default: $FLIGHTLOG_URL, else sqlite:///.flightlog/flightlog.db)",
        **extra,
    )
    parser.add_argument("--json", action="store_true", help="print JSON for machines", **extra)
    parser.add_argument(
        "--allow-import",
        action="append",
        metavar="MODULE",
        dest="allow_import_after" if after else "allow_import",
        help="decode stored values of classes in MODULE (or its submodules) by importing it "
        "(repeatable); by default nothing is imported, and such values show as Undecoded",
    )


def add_global_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give ``parser`` (the program's) the global options and ``--version``; return the
    parent parser that gives every command the same options after its name."""
    parser.add_argument("--version", action="version", version=f"flightlog {__version__}")
    _add(parser, after=False)
    common = argparse.ArgumentParser(add_help=False)
    _add(common, after=True)
    return common


def allowed_imports(args: argparse.Namespace) -> list[str] | None:
    """The modules ``--allow-import`` named, before and after the command."""
    found = [*(getattr(args, "allow_import", None) or [])]
    found += getattr(args, "allow_import_after", None) or []
    return found or None


def parse_when(text: str, now: float | None = None) -> float:
    """A time as epoch seconds, read as every time of flightlog is (see
    :func:`flightlog.questions.parse_time`): an ISO date or time (local time unless it names
    its zone), Unix epoch seconds, or an age (``90s``, ``15m``, ``2h``, ``3d``, ``1w``)."""
    moment = parse_time(text, now=now)
    if moment is None:
        raise InvalidInputError("a time is needed")
    return moment


def when_option(text: str) -> float:
    """``parse_when`` for argparse: a bad time is a usage error naming what was wrong."""
    try:
        return parse_when(text)
    except InvalidInputError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_runs_options(runs: argparse.ArgumentParser) -> None:
    """``runs``' filters by time and text, and paging."""
    runs.add_argument(
        "--since",
        type=when_option,
        metavar="WHEN",
        help=f"only runs created at or after WHEN: {WHEN}",
    )
    runs.add_argument(
        "--until", type=when_option, metavar="WHEN", help="only runs created before WHEN"
    )
    runs.add_argument(
        "--search",
        metavar="TEXT",
        help="only runs holding TEXT (any case) in their id, workflow, tag, arguments, "
        "metadata or error message",
    )
    runs.add_argument(
        "--offset", type=_count, default=0, help="skip this many runs first (paging; 0)"
    )


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a whole number >= 0: {text!r}")
    return value

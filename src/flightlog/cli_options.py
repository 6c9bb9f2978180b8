"""Options every ``flightlog`` command takes, before or after the command's name
(``flightlog --url X --json runs`` as ``flightlog runs --url X --json``), ``--version``, and
the times that options such as ``runs --since`` accept."""

from __future__ import annotations

import argparse
import datetime
import re
import time
from typing import Any

from ._version import __version__
from .errors import InvalidInputError

DEBUG_HELP = "on an error, print its traceback too (as FLIGHTLOG_DEBUG=1 does)"
_AGO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


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
    """A time as epoch seconds: an ISO date or date and time (local time unless it names its
    zone: ``2026-12-01``, ``2026-12-01T14:30``, ``2026-12-01 14:30:00+00:00``), or a time
    ago: a number and a unit (``90s``, ``15m``, ``2h``, ``3d``, ``1w``)."""
    ago = _AGO.match(text)
    if ago:
        current = time.time() if now is None else now
        return current - float(ago.group(1)) * _UNIT[ago.group(2)]
    try:
        when = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(
            f"cannot read {text!r} as a time: give an ISO date or date and time "
            "(2026-12-01, 2026-12-01T14:30) or a time ago (90s, 15m, 2h, 3d, 1w)"
        ) from None
    return when.timestamp()  # a naive time is local time


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
        help="only runs created at or after WHEN: an ISO date or time, or a time ago (2h, 3d)",
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

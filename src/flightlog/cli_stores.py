"""``flightlog copy SRC_URL DST_URL`` and ``flightlog upgrade [URL]``: operations on whole
stores, each a thin face over one library call (``flightlog.copy``, ``flightlog.upgrade``).
``copy`` names its stores itself (its ``--url`` is not used); ``upgrade`` takes its store as
URL, or as every other command does (``--url``, ``$FLIGHTLOG_URL``, the local file)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from .cli_options import WHEN, when_option
from .cli_output import printable
from .client import default_url
from .errors import ConflictError, InvalidInputError
from .operations.copy import CopyProgress, copy_store
from .operations.upgrade import upgrade_store
from .redaction import redact

BAR_WIDTH = 30


class ProgressBar:
    """A one-line bar on a terminal (``\\r`` redraws it); nothing when the stream is piped."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = False
        self.live = stream.isatty()

    def __call__(self, progress: CopyProgress) -> None:
        if not self.live:
            return
        filled = BAR_WIDTH * progress.done // max(progress.total, 1)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        self.stream.write(f"\rcopying {progress.phase:<9} [{bar}] {progress.done}/{progress.total}")
        self.stream.flush()
        self.shown = True

    def end(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def _copy(args: argparse.Namespace, out: TextIO) -> None:
    bar = ProgressBar(sys.stderr)
    try:
        report = copy_store(args.source, args.target, runs=args.run, since=args.since, progress=bar)
    finally:
        bar.end()
    if args.json:
        json.dump(report.to_dict(), out, indent=2)
        out.write("\n")
    else:
        out.write(
            f"copied {report.runs} runs ({report.unchanged} up to date already), "
            f"{report.steps} steps, {report.chunks} metric chunks, {report.attachments} "
            f"attachments ({report.blobs} blobs), {report.tasks} task versions and "
            f"{report.resources} resources from {printable(redact(args.source))} to "
            f"{printable(redact(args.target))}\n"
        )
    for conflict in report.conflicts:
        print(f"flightlog: warning: not copied: {printable(conflict)}", file=sys.stderr)
    if report.conflicts:
        raise ConflictError(f"{len(report.conflicts)} records were left alone (see above)")


def _upgrade(args: argparse.Namespace, out: TextIO) -> None:
    given = getattr(args, "url", None)
    if args.store_url is not None and given is not None and given != args.store_url:
        raise InvalidInputError(
            f"upgrade takes one store: URL {redact(args.store_url)!r} or --url "
            f"{redact(given)!r}, not both"
        )
    report = upgrade_store(args.store_url or given or default_url())
    if args.json:
        json.dump(report.to_dict(), out, indent=2)
        out.write("\n")
    elif report.before == 0:
        out.write(
            f"there was no flightlog store at {printable(report.url)}: made one at schema "
            f"version {report.after}\n"
        )
    elif not report.upgraded:
        out.write(f"{printable(report.url)} is at schema version {report.after} already\n")
    else:
        kept = f"; the file as it was: {report.backup}" if report.backup is not None else ""
        out.write(
            f"upgraded {printable(report.url)} from schema version {report.before} to "
            f"{report.after}{printable(kept)}\n"
        )


COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO], None]] = {
    "copy": _copy,
    "upgrade": _upgrade,
}


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    """``copy`` and ``upgrade``, with the common options (``copy`` does not use ``--url``)."""
    copy = commands.add_parser(
        "copy",
        parents=[common],
        help="copy runs and resources from one store to another (idempotent)",
    )
    copy.add_argument("source", metavar="SRC_URL", help="the store to copy from")
    copy.add_argument("target", metavar="DST_URL", help="the store to copy to (made if needed)")
    copy.add_argument(
        "--run", action="append", metavar="ID", help="only this run (repeatable); no resources"
    )
    copy.add_argument(
        "--since",
        metavar="WHEN",
        type=when_option,
        help=f"only what was created or changed since: {WHEN}",
    )
    upgrade = commands.add_parser(
        "upgrade",
        parents=[common],
        help="upgrade a store's schema to this flightlog's (SQLite: after a backup)",
    )
    upgrade.add_argument(
        "store_url",
        metavar="URL",
        nargs="?",
        help="the store to upgrade (default: --url, else $FLIGHTLOG_URL, else the local file)",
    )

"""``flightlog resources stats|list|error|log|retry``: resource collections on the command line,
each a thin face over one ``Flightlog`` method."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TextIO

from . import client
from .cli_output import printable, table
from .redaction import redact

STATUSES = ("completed", "pending", "error", "unavailable")
COUNTS = ("total", *STATUSES)


def _stats(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    if args.collection is not None:
        found = {args.collection: fl.stats(args.collection)}
    else:
        found = fl.stats()
    if args.json:
        json.dump(found if args.collection is None else found[args.collection], out, indent=2)
        out.write("\n")
        return
    if not found:
        out.write(f"no resources in {printable(redact(fl.url))}\n")
        return
    rows = [["COLLECTION", *(name.upper() for name in COUNTS)]]
    for name, stats in found.items():
        rows.append([name, *(str(stats["counts"][key]) for key in COUNTS)])
    table(rows, out)


def _list(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    statuses = [args.status] if args.status else list(STATUSES)
    found = sorted(
        (ident, status)
        for status in statuses
        for ident in fl.fetch_by_status(args.collection, status)
    )
    if args.json:
        json.dump([{"ident": ident, "status": status} for ident, status in found], out, indent=2)
        out.write("\n")
    elif args.status:
        out.writelines(f"{printable(ident)}\n" for ident, _ in found)
    else:
        out.writelines(f"{printable(ident)}  {printable(status)}\n" for ident, status in found)


def _error(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    text = fl.fetch_error(args.collection, args.ident)
    if args.json:
        json.dump({"ident": args.ident, "error": text}, out, indent=2)
        out.write("\n")
    else:
        shown = printable(text, lines=True)
        out.write(shown if shown.endswith("\n") or not shown else shown + "\n")


def _log(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    text = fl.fetch_log(args.collection, args.ident)
    if args.json:
        json.dump({"ident": args.ident, "log": text}, out, indent=2)
        out.write("\n")
    else:
        out.write(printable(text, lines=True))


def _retry(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    done = fl.retry_errors(
        args.collection, workers=args.workers, allow_import_outside=args.allow_import_outside
    )
    failed = [resource.ident for resource in done if resource.status != "completed"]
    if args.json:
        json.dump({"retried": len(done), "failed": failed}, out, indent=2)
        out.write("\n")
        return
    out.write(f"retried {len(done)} resource(s) of {printable(args.collection)}: ")
    out.write(f"{len(done) - len(failed)} completed, {len(failed)} failed\n")
    out.writelines(f"  {printable(ident)}\n" for ident in failed)


ACTIONS: dict[str, Callable[[client.Flightlog, argparse.Namespace, TextIO], None]] = {
    "stats": _stats,
    "list": _list,
    "error": _error,
    "log": _log,
    "retry": _retry,
}


def command_resources(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    ACTIONS[args.action](fl, args, out)


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """The ``resources`` command and its actions."""
    resources = commands.add_parser(
        "resources", help="status, errors and logs of resource collections"
    )
    actions = resources.add_subparsers(dest="action", required=True, metavar="ACTION")
    shared = argparse.ArgumentParser(add_help=False, parents=[common])
    shared.add_argument(
        "--data-dir", help="folder of resource files, for stores without a folder of their own"
    )
    stats = actions.add_parser("stats", parents=[shared], help="counts per status")
    stats.add_argument("collection", nargs="?", metavar="COLLECTION")
    listing = actions.add_parser("list", parents=[shared], help="identifiers and statuses")
    listing.add_argument("collection", metavar="COLLECTION")
    listing.add_argument("--status", choices=STATUSES, help="only resources with this status")
    for name, what in (("error", "the traceback of a failed one"), ("log", "its log")):
        action = actions.add_parser(name, parents=[shared], help=what)
        action.add_argument("collection", metavar="COLLECTION")
        action.add_argument("ident", metavar="IDENT")
    retry = actions.add_parser(
        "retry", parents=[shared], help="compute every failed resource again"
    )
    retry.add_argument("collection", metavar="COLLECTION")
    retry.add_argument("--workers", type=int, help="compute this many at once (threads)")
    add_import_options(retry, "the collection's function")


def add_import_options(parser: argparse.ArgumentParser, what: str) -> None:
    """A command that imports user code to act: it may import a module outside the working
    directory when told (and the working directory is importable, as for ``python -m``)."""
    parser.add_argument(
        "--allow-import-outside",
        action="store_true",
        help=f"import the module of {what} even when its file is outside the working directory",
    )
    parser.set_defaults(imports_code=True)

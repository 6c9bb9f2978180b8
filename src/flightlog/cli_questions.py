"""``flightlog counts``, ``flightlog export-parquet`` and the filters of ``flightlog runs``:
questions over many runs on the command line, each a thin face over one ``Flightlog``
method."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any, TextIO

from . import client
from .cli_options import WHEN, when_option
from .cli_output import printable, table
from .errors import InvalidInputError
from .redaction import redact


def _pairs(items: list[str] | None, what: str) -> dict[str, Any] | None:
    """``NAME=VALUE`` options as a dict; a VALUE that reads as JSON is that (``0.1``,
    ``true``, ``"x"``), anything else a string."""
    if not items:
        return None
    found: dict[str, Any] = {}
    for item in items:
        name, equals, text = item.partition("=")
        if not equals or not name:
            raise InvalidInputError(f"--{what} takes NAME=VALUE, not {item!r}")
        try:
            found[name] = json.loads(text)
        except ValueError:
            found[name] = text
    return found


def _metric(text: str | None) -> tuple[str, str, Any] | None:
    if text is None:
        return None
    for symbol in ("<=", ">=", "==", "!=", "<", ">"):
        name, found, value = text.partition(symbol)
        if found and name.strip():
            try:
                return (name.strip(), symbol, json.loads(value))
            except ValueError:
                return (name.strip(), symbol, value.strip())
    raise InvalidInputError(f"--metric takes NAME<VALUE (or <=, >, >=, ==, !=), not {text!r}")


def run_filters(args: argparse.Namespace) -> dict[str, Any]:
    """The ``list_runs`` filters given to ``flightlog runs`` (and ``export-parquet``)."""
    return {
        "since": args.since,
        "until": args.until,
        "search": args.search,
        "params": _pairs(args.param, "param"),
        "metadata": _pairs(args.metadata, "metadata"),
        "metric": _metric(args.metric),
    }


def add_run_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", type=when_option, help=f"only runs created since: {WHEN}")
    parser.add_argument("--until", type=when_option, help="only runs created before (as --since)")
    parser.add_argument(
        "--search", help="only runs with this text in id, names, error, metadata or arguments"
    )
    add_value_filters(parser)


def add_value_filters(parser: argparse.ArgumentParser) -> None:
    """Filters by the values a run was called with, its metadata and its metrics."""
    parser.add_argument(
        "--param", action="append", metavar="NAME=VALUE", help="only runs called with this argument"
    )
    parser.add_argument(
        "--metadata", action="append", metavar="KEY=VALUE", help="only runs with this metadata"
    )
    parser.add_argument("--metric", metavar="NAME<VALUE", help="only runs whose last value passes")


def command_counts(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    counts = fl.counts(workflow=args.workflow, since=args.since, until=args.until, tag=args.tag)
    if args.json:
        json.dump(counts, out, indent=2)
        out.write("\n")
        return
    if not counts["runs"]:
        out.write(f"no runs in {printable(redact(fl.url))}\n")
        return
    statuses = [name for name in counts["runs"]] + [
        name for name in counts["steps"] if name not in counts["runs"]
    ]
    rows = [["", *statuses, "TOTAL"]]
    for what in ("runs", "steps"):
        found = counts[what]
        rows.append(
            [what, *(str(found.get(name, 0)) for name in statuses), str(sum(found.values()))]
        )
    table(rows, out)


def command_export_parquet(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    chosen = {"status": args.status, "workflow": args.workflow, "tag": args.tag}
    chosen |= {"limit": args.limit, **run_filters(args)}
    filters = {key: value for key, value in chosen.items() if value is not None}
    if args.run:  # with a filter too: an error, one line
        report = fl.export_parquet(args.directory, runs=args.run, **filters)
    else:
        report = fl.export_parquet(args.directory, **filters)
    if args.json:
        json.dump(report, out, indent=2)
        out.write("\n")
        return
    out.write(
        f"wrote {report['runs']} run(s), {report['steps']} step(s), {report['metrics']} "
        f"metric point(s) to {printable(str(args.directory))}\n"
    )


COMMANDS: dict[str, Callable[[client.Flightlog, argparse.Namespace, TextIO], None]] = {
    "counts": command_counts,
    "export-parquet": command_export_parquet,
}


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    counts = commands.add_parser(
        "counts", parents=[common], help="how many runs and steps have each status"
    )
    counts.add_argument("--workflow", help="only runs of this workflow")
    counts.add_argument("--tag", help="only runs with this tag")
    counts.add_argument("--since", type=when_option, help=f"only runs created since: {WHEN}")
    counts.add_argument("--until", type=when_option, help="only runs created before (as --since)")
    export = commands.add_parser(
        "export-parquet", parents=[common], help="runs, steps and metrics as Parquet files"
    )
    export.add_argument("directory", metavar="DIRECTORY")
    export.add_argument(
        "--run", action="append", metavar="RUN_ID", help="only this run (repeatable; no filters)"
    )
    export.add_argument("--status", action="append", help="only runs with this status (repeatable)")
    export.add_argument("--workflow", help="only runs of this workflow")
    export.add_argument("--tag", help="only runs with this tag")
    export.add_argument(
        "--limit", type=_positive, metavar="N", help="at most the N newest runs (default: all)"
    )
    add_run_filters(export)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a whole number >= 1: {text!r}")
    return value

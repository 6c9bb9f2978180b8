"""``flightlog delete``, ``flightlog gc`` and ``flightlog cache clear``: operating a store,
each a thin face over one ``Flightlog`` method (see :mod:`flightlog.operations`)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TextIO

from . import client
from .cli_output import printable
from .operations import GcReport


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    size = float(count)
    for unit in ("KB", "MB", "GB"):
        size /= 1024
        if size < 1024 or unit == "GB":
            break
    return f"{size:.1f} {unit}"


def _report(report: GcReport, args: argparse.Namespace, out: TextIO) -> None:
    if args.json:
        json.dump(asdict(report), out, indent=2)
        out.write("\n")
        return
    verb = "would delete" if report.dry_run else "deleted"
    out.writelines(f"{verb} {printable(run_id)}\n" for run_id in report.runs)
    out.writelines(
        f"kept {printable(run_id)}: {printable(why)}\n" for run_id, why in report.kept.items()
    )
    out.writelines(f"{verb} resource {printable(name)}\n" for name in report.resources)
    resources = f"{len(report.resources)} resources, " if report.resources else ""
    out.write(
        f"{verb} {len(report.runs)} runs, {report.steps} steps, {resources}"
        f"{report.blobs} blobs ({_size(report.bytes)})"
    )
    if report.compacted:
        out.write(f"; the store shrank by {_size(report.compacted)}")
    out.write("\n")
    if report.dry_run and report.runs:
        out.write("(a dry run: nothing was deleted; --yes deletes)\n")


def command_delete(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    report = fl.delete_run(
        *args.run_ids, force=args.force, dry_run=args.dry_run, vacuum=args.vacuum
    )
    _report(report, args, out)


def command_gc(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    report = fl.gc(
        older_than=args.older_than,
        keep_last=args.keep_last,
        status=args.status,
        dry_run=not args.yes,
        vacuum=args.vacuum,
    )
    _report(report, args, out)


def command_cache(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    cleared = fl.clear_cache(args.task, version=args.version)
    if args.json:
        json.dump(cleared, out, indent=2)
        out.write("\n")
        return
    what = "every task" if args.task is None else f"task {printable(args.task)}"
    out.write(
        f"cleared {sum(cleared.values())} cached results of {what} ({len(cleared)} task versions)\n"
    )


COMMANDS: dict[str, Callable[[client.Flightlog, argparse.Namespace, TextIO], None]] = {
    "delete": command_delete,
    "gc": command_gc,
    "cache": command_cache,
}


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    vacuum_help = "then rewrite an SQLite file to its smallest size (VACUUM; slower)"
    delete = commands.add_parser(
        "delete", parents=[common], help="delete runs with their steps, logs, metrics and files"
    )
    delete.add_argument("run_ids", metavar="RUN_ID", nargs="+")
    delete.add_argument(
        "--force",
        action="store_true",
        help="also when other runs took cached results from it (they keep their results)",
    )
    delete.add_argument("--dry-run", action="store_true", help="only say what would go")
    delete.add_argument("--vacuum", action="store_true", help=vacuum_help)
    gc = commands.add_parser(
        "gc", parents=[common], help="delete old runs by a retention rule (a dry run unless --yes)"
    )
    gc.add_argument("--older-than", metavar="AGE", help="last active more than AGE ago (30d, 12h)")
    gc.add_argument(
        "--keep-last", type=int, metavar="N", help="keep the N newest runs of each workflow"
    )
    gc.add_argument(
        "--status",
        action="append",
        help="only runs with this status (repeatable; default: finished and RESUMABLE)",
    )
    gc.add_argument("--yes", action="store_true", help="delete (without it: print what would go)")
    gc.add_argument("--vacuum", action="store_true", help=vacuum_help)
    cache = commands.add_parser("cache", parents=[common], help="clear cached results")
    actions = cache.add_subparsers(dest="action", required=True, metavar="ACTION")
    clear = actions.add_parser(
        "clear", parents=[common], help="stop serving a task's cached results (runs stay)"
    )
    clear.add_argument("task", metavar="TASK", nargs="?", help="the task's name (default: all)")
    clear.add_argument("--version", help="only this version (or task id prefix) of the task")

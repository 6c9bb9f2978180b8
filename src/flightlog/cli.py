"""The ``flightlog`` command: a thin face over the Python query API."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

from . import client
from .cli_attachments import add_parser as add_attachments_parser
from .cli_attachments import command_attachments
from .cli_live import COMMANDS as LIVE_COMMANDS
from .cli_live import add_parsers as add_live_parsers
from .cli_operations import COMMANDS as OPERATION_COMMANDS
from .cli_operations import add_parsers as add_operation_parsers
from .cli_options import add_global_options, add_runs_options, allowed_imports
from .cli_output import (
    EPILOG,
    EXIT_BUG,
    EXIT_CLOSED,
    EXIT_INTERRUPTED,
    PrintableFormatter,
    debug_wanted,
    dump,
    exit_status,
    printable,
    report,
    silence,
    table,
)
from .cli_questions import COMMANDS as QUESTION_COMMANDS
from .cli_questions import add_parsers as add_question_parsers
from .cli_questions import add_value_filters, run_filters
from .cli_resources import add_import_options, command_resources
from .cli_resources import add_parser as add_resources_parser
from .cli_resume import add_options as add_resume_all_options
from .cli_resume import resume_all
from .cli_show import add_options as add_show_options
from .cli_show import command_show
from .cli_stores import COMMANDS as STORE_COMMANDS
from .cli_stores import add_parsers as add_store_parsers
from .cli_tracking import COMMANDS as TRACKING_COMMANDS
from .cli_tracking import add_parsers as add_tracking_parsers
from .cli_ui import add_parser as add_ui_parser
from .cli_ui import command_ui
from .errors import FlightlogError, StoreWarning
from .redaction import redact


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _duration(stats: dict[str, Any]) -> str:
    seconds = stats.get("duration")
    if seconds is None:
        start = stats.get("start_time")
        return "-" if start is None else f"{time.time() - start:.1f}s+"
    if seconds < 1:
        return f"{seconds * 1000:.1f}ms"
    return f"{seconds:.2f}s"


def command_runs(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    runs = fl.list_runs(
        status=args.status,
        workflow=args.workflow,
        tag=args.tag,
        limit=args.limit,
        offset=args.offset,
        **run_filters(args),
    )
    if args.json:
        return dump(runs, out)
    if not runs:
        out.write(f"no runs in {printable(redact(fl.url))}\n")
        return None
    rows = [["RUN ID", "WORKFLOW", "STATUS", "START", "DURATION", "STEPS"]]
    for run in runs:
        rows.append(
            [
                run["run_id"],
                run["workflow"],
                run["status"],
                _when(run["stats"].get("start_time")),
                _duration(run["stats"]),
                str(run["step_count"]),
            ]
        )
    table(rows, out)
    return None


def command_plan(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    plan = fl.plan_resume(args.run_id)
    if args.json:
        return dump({"run_id": args.run_id, "steps": list(plan), "notes": plan.notes}, out)
    rows = [["STEP", "DECISION", "WHY"]]
    rows.extend([item["step"], item["decision"], item["why"]] for item in plan)
    table(rows, out)
    for note in plan.notes:
        out.write(f"note: {printable(note)}\n")
    return None


def command_explain(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    explained = fl.explain(args.run_id, args.step)
    if args.json:
        return dump(explained, out)
    source = f" (from run {printable(explained['source_run'])})" if explained["source_run"] else ""
    out.write(
        f"{printable(explained['step'])}: {printable(explained['decision'])}{source}\n"
        f"  {printable(explained['why'])}\n"
    )
    return None


def command_resume(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    if args.all or args.run_id is None:
        return resume_all(fl, args, out)
    try:
        output = fl.resume(
            args.run_id, strict=args.strict, allow_import_outside=args.allow_import_outside
        )
    except FlightlogError:
        raise
    except Exception as error:  # the workflow's own error: recorded with the run
        raise FlightlogError(
            f"run {args.run_id} failed again: {type(error).__name__}: {error} "
            f"(flightlog show {args.run_id} has the traceback)"
        ) from None
    status = fl.get_status(args.run_id)
    if args.json:
        return dump({"run_id": args.run_id, "status": status, "output": output}, out)
    shown = printable(json.dumps(output, default=str))
    out.write(f"resumed run {printable(args.run_id)}: {printable(status)}, output {shown}\n")
    return None


def command_cancel(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    fl.cancel(args.run_id)  # a finished run: ConflictError, one line from main, exit 4
    if args.json:
        return dump({"run_id": args.run_id, "status": "CANCELED"}, out)
    out.write(f"run {printable(args.run_id)} is now CANCELED; it starts no new step\n")
    return None


COMMANDS: dict[str, Callable[[client.Flightlog, argparse.Namespace, TextIO], None]] = {
    "runs": command_runs,
    "show": command_show,
    "plan": command_plan,
    "explain": command_explain,
    "resume": command_resume,
    "cancel": command_cancel,
    "resources": command_resources,
    "ui": command_ui,
    **TRACKING_COMMANDS,
    **LIVE_COMMANDS,
    "attachments": command_attachments,
    **OPERATION_COMMANDS,
    **QUESTION_COMMANDS,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flightlog",
        description="See what your recorded workflows did.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = add_global_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    runs = commands.add_parser("runs", parents=[common], help="list recent runs")
    runs.add_argument("--status", help="only runs with this status")
    runs.add_argument("--workflow", help="only runs of this workflow")
    runs.add_argument("--tag", help="only runs with this tag")
    runs.add_argument("--limit", type=int, default=20, help="at most this many runs (20)")
    add_runs_options(runs)
    add_value_filters(runs)
    show = commands.add_parser("show", parents=[common], help="show a run with its steps")
    show.add_argument("run_id", metavar="RUN_ID")
    show.add_argument(
        "--format",
        choices=("text", "json", "run-log"),
        default="text",
        help="text (default), json (as --json), or run-log: runnable's run-log JSON",
    )
    add_show_options(show)
    plan = commands.add_parser(
        "plan", parents=[common], help="what resuming a run would replay, serve or execute"
    )
    plan.add_argument("run_id", metavar="RUN_ID")
    explain = commands.add_parser(
        "explain", parents=[common], help="why a step ran, or where its result came from"
    )
    explain.add_argument("run_id", metavar="RUN_ID")
    explain.add_argument("step", metavar="STEP")
    resume = commands.add_parser(
        "resume", parents=[common], help="run a failed, canceled or crashed run again"
    )
    resume.add_argument("run_id", metavar="RUN_ID", nargs="?")
    resume.add_argument(
        "--strict", action="store_true", help="refuse a step whose code or arguments changed"
    )
    add_resume_all_options(resume)
    add_import_options(resume, "the run's workflow")
    cancel = commands.add_parser(
        "cancel", parents=[common], help="cancel a run that has not finished (from any process)"
    )
    cancel.add_argument("run_id", metavar="RUN_ID")
    add_resources_parser(commands, common)
    add_tracking_parsers(commands, common)
    add_live_parsers(commands, common)
    add_attachments_parser(commands, common)
    add_ui_parser(commands, common)
    add_operation_parsers(commands, common)
    add_store_parsers(commands, common)
    add_question_parsers(commands, common)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run one command; return its exit status (``cli_output.EXIT_STATUSES``). An error is
    one line on stderr, its traceback too with ``--debug`` or ``FLIGHTLOG_DEBUG=1``."""
    stream = out or sys.stdout
    debug = debug_wanted()
    try:
        args = build_parser().parse_args(argv)
        debug = debug or args.debug
        _run(args, stream)
        stream.flush()
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (| head): stop printing, quietly
        silence(stream)
        return EXIT_CLOSED
    except FlightlogError as error:
        report(error, bug=False, debug=debug)
        return exit_status(error)
    except Exception as error:
        report(error, bug=True, debug=debug)
        return EXIT_BUG
    return 0


def _run(args: argparse.Namespace, stream: TextIO) -> None:
    if args.command in STORE_COMMANDS:  # they open the stores they name themselves
        with _warnings_on_stderr():
            return STORE_COMMANDS[args.command](args, stream)
    options: dict[str, Any] = {"create": False}  # every command reads or acts on a store
    if getattr(args, "data_dir", None):
        options["data_dir"] = args.data_dir
    allowed = allowed_imports(args)
    if allowed:
        options["allow_imports"] = allowed
    importing = bool(allowed or getattr(args, "imports_code", False))
    with (
        _importable_here(importing),
        _imports_on_stderr(),
        _warnings_on_stderr(),
        client.open(args.url, **options) as fl,
    ):
        COMMANDS[args.command](fl, args, stream)


@contextlib.contextmanager
def _importable_here(needed: bool) -> Iterator[None]:
    """Modules in the working directory importable, as for ``python -m``, while a command
    that imports code runs."""
    here = os.getcwd()
    added = needed and here not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        yield
    finally:
        if added and here in sys.path:
            sys.path.remove(here)


@contextlib.contextmanager
def _warnings_on_stderr() -> Iterator[None]:
    """Each warning given while a command runs (e.g. a run left out of a listing because its
    record cannot be read), one line on stderr: ``flightlog: warning: ...``."""

    def show(message: Any, *_: Any, **__: Any) -> None:
        print(f"flightlog: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("always", StoreWarning)
        warnings.showwarning = show
        yield


@contextlib.contextmanager
def _imports_on_stderr() -> Iterator[None]:
    """Each module that flightlog imports to act (resume, retry) named on stderr, one line."""
    logger = logging.getLogger("flightlog.imports")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PrintableFormatter("flightlog: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``flightlog show RUN``: a run with its arguments (by parameter), output, steps and their
results, as text (previews; ``--full`` for every value whole) or JSON.

Fast and small for large runs: the steps are read a page at a time (``fl.iter_steps``), each
result decoded once, and written before the next page is read, so memory stays bounded and the
first lines come at once; the JSON of a large run is written one step per line by the C
encoder (with ``indent``, Python's encoder runs in pure Python: 30,000 steps took seconds).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Iterable
from json.encoder import encode_basestring
from typing import Any, TextIO

from . import client
from .cli_output import colour_wanted, paint, printable, status_text
from .cli_tracking import tracked_summary
from .errors import FlightlogError
from .query import named_arguments

PREVIEW = 60
"""The most characters a value's preview shows (without ``--full``)."""
PAGE = 1000
"""The most steps ``show`` holds at once: it reads, renders and writes them a page at a time."""


def when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def duration(stats: dict[str, Any]) -> str:
    seconds = stats.get("duration")
    if seconds is None:
        start = stats.get("start_time")
        return "-" if start is None else f"{time.time() - start:.1f}s+"
    if seconds < 1:
        return f"{seconds * 1000:.1f}ms"
    return f"{seconds:.2f}s"


def preview(value: Any, full: bool = False) -> str:
    """A value as JSON-like text on one line, cut to ``PREVIEW`` characters (``…`` saying
    so) unless ``full``; printable."""
    kind = type(value)
    if kind is int or kind is float:  # most results and arguments: no encoder needed
        text = repr(value)
        if len(text) <= PREVIEW or full:
            return text
    elif value is None:
        return "null"
    elif kind is bool:
        return "true" if value else "false"
    elif kind is str:
        text = encode_basestring(value)
    else:
        try:
            text = json.dumps(value, default=repr, ensure_ascii=False)
        except ValueError:  # a circular structure cannot come from a store, but be safe
            text = repr(value)
    if not full and len(text) > PREVIEW:
        text = text[: PREVIEW - 1] + "…"
    return printable(text)


def arguments_text(arguments: Any, full: bool) -> str:
    """``name=value, …`` for named arguments; a preview otherwise."""
    if isinstance(arguments, dict):
        return ", ".join(f"{printable(k)}={preview(v, full)}" for k, v in arguments.items())
    return preview(arguments, full)


def _indent(text: str, prefix: str) -> str:
    shown = printable(text, lines=True).rstrip("\n")
    return "".join(prefix + line + "\n" for line in shown.split("\n")) if shown else ""


def _output(fl: client.Flightlog, run: dict[str, Any]) -> tuple[bool, Any]:
    if run["status"] != "SUCCESSFUL":
        return False, None
    try:
        return True, fl.get_output(run["run_id"])
    except FlightlogError as error:  # an output that cannot be decoded here
        return True, {"unreadable": str(error)}


def command_show(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    if args.format == "run-log":
        for piece in fl.iter_run_log(args.run_id):
            out.write(piece)
        out.write("\n")
        return None
    run = fl.get_metadata(args.run_id)
    steps = fl.iter_steps(args.run_id, results=True, page=PAGE)
    first = list(itertools.islice(steps, PAGE))
    has_output, output = _output(fl, run)
    if args.json or args.format == "json":
        every = itertools.chain(first, steps)
        return dump_show(run, named_arguments(run), output if has_output else None, every, out)
    on = colour_wanted(out)
    full = args.full
    out.write(
        f"run {paint(printable(run['run_id']), '1', on)}  workflow {printable(run['workflow'])}"
        f"  {status_text(printable(run['status']), on)}\n"
    )
    # a run of one page is counted as listed; a longer one by its record (read once)
    _write_times(run, len(first) if len(first) < PAGE else run["step_count"], out)
    if run["tag"]:
        out.write(f"  tag {printable(run['tag'])}\n")
    if run["user_metadata"]:
        out.write(f"  metadata {preview(run['user_metadata'], full)}\n")
    named = named_arguments(run)
    if named:
        out.write(f"  arguments {arguments_text(named, full)}\n")
    if has_output:
        out.write(f"  output {preview(output, full)}\n")
    code = run["environment"].get("git_commit")
    if code:
        dirty = " (dirty)" if run["environment"].get("git_dirty") else ""
        out.write(f"  code {printable(code)}{dirty}\n")
    if run["error"]:
        out.write(_indent(run["error"]["traceback"], "  | "))
    tracked = tracked_summary(fl, args.run_id)
    out.writelines(f"  {printable(line)}\n" for line in tracked.get(None, []))
    page = first
    while page:  # one page of steps in memory at a time, written as it comes
        out.write("".join(_step_lines(page, tracked, on, full)))
        page = list(itertools.islice(steps, PAGE))
    return None


def _step_lines(
    steps: list[dict[str, Any]], tracked: dict[str | None, list[str]], on: bool, full: bool
) -> list[str]:
    lines: list[str] = []
    add = lines.append
    for step in steps:
        depth = "  " if step["parent"] is None else "    "
        origin = "" if step["origin"] == "executed" else f" ({printable(step['origin'])})"
        call = arguments_text(step["arguments"], full) if step["arguments"] else ""
        result = f" -> {preview(step['result'], full)}" if step["status"] == "SUCCESSFUL" else ""
        add(
            f"{depth}- {printable(step['name'])}  {status_text(step['status'], on)}"
            f"{origin}  {duration(step['stats'])}  ({call}){result}\n"
        )
        if step["user_metadata"]:
            add(f"{depth}    metadata {preview(step['user_metadata'], full)}\n")
        if step.get("reason"):
            add(f"{depth}    why: {printable(step['reason'])}\n")
        lines.extend(f"{depth}    {printable(line)}\n" for line in tracked.get(step["name"], []))
        attempts = step["attempts"]
        for attempt in attempts:
            if len(attempts) > 1 or attempt["error"]:
                add(
                    f"{depth}    attempt {attempt['attempt_number']}: "
                    f"{status_text(attempt['status'], on)}  {duration(attempt)}\n"
                )
            if attempt["error"]:
                add(_indent(attempt["error"]["traceback"], f"{depth}    | "))
        if step["log"]:
            add(f"{depth}    log:\n")
            add(_indent(step["log"], f"{depth}    > "))
    return lines


def _write_times(run: dict[str, Any], steps: int, out: TextIO) -> None:
    """The latest attempt's start and duration; for a resumed run, its first start and every
    attempt, each with the process that drove it."""
    attempts = run["attempts"]
    created = f"  created {when(run['created_time'])}" if len(attempts) > 1 else ""
    out.write(f"{created}  started {when(run['stats'].get('start_time'))}")
    out.write(f"  duration {duration(run['stats'])}  steps {steps}\n")
    if len(attempts) > 1:
        for attempt in attempts:
            out.write(
                f"  attempt {attempt['attempt_number']}: {printable(attempt['status'])}"
                f"  started {when(attempt['start_time'])}  {duration(attempt)}"
                f"  on {printable(attempt['host'] or '?')} pid {printable(attempt['pid'] or '?')}\n"
            )


def dump_show(
    run: dict[str, Any],
    named: dict[str, Any] | None,
    output: Any,
    steps: Iterable[dict[str, Any]],
    out: TextIO,
) -> None:
    """``{"run": ..., "named_arguments": ..., "output": ..., "steps": [...]}`` as JSON: the
    run indented, each step on a line of its own, written a page at a time as they come."""
    encode = json.JSONEncoder(default=str).encode
    head = json.dumps(
        {"run": run, "named_arguments": named, "output": output}, indent=2, default=str
    )
    out.write(head[:-2])  # without the closing "\n}"
    each = iter(steps)
    page = [encode(step) for step in itertools.islice(each, PAGE)]
    if not page:
        out.write(',\n  "steps": []\n}\n')
        return
    out.write(',\n  "steps": [\n    ')
    out.write(",\n    ".join(page))
    while page := [encode(step) for step in itertools.islice(each, PAGE)]:
        out.write(",\n    ")
        out.write(",\n    ".join(page))
    out.write("\n  ]\n}\n")


def add_options(show: argparse.ArgumentParser) -> None:
    """``show``'s own options besides RUN_ID and --format."""
    show.add_argument(
        "--full",
        action="store_true",
        help=f"show every argument, output and result whole (default: {PREVIEW} characters)",
    )

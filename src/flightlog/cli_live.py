"""``flightlog logs RUN [STEP] [--follow]`` and ``flightlog watch RUN``: following a run
while it runs, each a thin face over ``Flightlog.logs`` and ``Flightlog.progress``.

Both poll the store (a few reads a second); ``--follow`` and ``watch`` end when the step or
run has ended, and Ctrl-C ends them quietly (exit status 130).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from typing import Any, TextIO

from . import client
from .cli_output import colour_wanted, dump, paint, printable, status_text
from .errors import FlightlogError
from .live_query import FINISHED

POLL = 0.25
"""Seconds between two reads while following."""
BAR = 24


class _Tails:
    """What has been printed of each step's log: prints only what is new, whole lines when
    lines of several steps interleave (each prefixed by its step's name)."""

    def __init__(self, out: TextIO, prefixed: bool) -> None:
        self.out = out
        self.prefixed = prefixed
        self.shown: dict[str, int] = {}
        self.partial: dict[str, str] = {}

    def show(self, item: dict[str, Any]) -> None:
        name, log = item["step"], item["log"] or ""
        seen = self.shown.get(name, 0)
        if len(log) < seen:  # a new attempt of the step (a resume) wrote a log anew
            seen = 0
        new = log[seen:]
        self.shown[name] = len(log)
        ended = item["status"] in FINISHED
        if not self.prefixed:
            self.out.write(printable(new, lines=True))
            return
        text = self.partial.pop(name, "") + new
        lines = text.split("\n")
        rest = lines.pop()
        if rest and not ended:
            self.partial[name] = rest
        elif rest:
            lines.append(rest)
        head = printable(name)
        self.out.writelines(f"{head} | {printable(line)}\n" for line in lines)


def command_logs(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    found = fl.logs(args.run_id, args.step)
    if args.json and not args.follow:
        return dump(found, out)
    if args.json:
        raise FlightlogError("--follow prints text; leave out --json")
    tails = _Tails(out, prefixed=args.step is None)
    while True:
        for item in found:
            tails.show(item)
        out.flush()
        if not args.follow or _ended(fl, args.run_id, found, args.step):
            return None
        time.sleep(POLL)
        found = fl.logs(args.run_id, args.step)


def _ended(
    fl: client.Flightlog, run_id: str, found: list[dict[str, Any]], step: str | None
) -> bool:
    if step is not None:
        return all(item["status"] in FINISHED for item in found)
    return fl.get_status(run_id) in FINISHED


def progress_line(progress: dict[str, Any], on: bool) -> str:
    """One line saying how far the run is: status, counts, current step, rate, elapsed, and
    a bar when the total is known."""
    parts = [
        f"{printable(progress['run_id'])} {status_text(progress['status'], on)}",
        f"{progress['done']} done",
        f"{progress['running']} running",
        paint(f"{progress['failed']} failed", "31" if progress["failed"] else None, on),
    ]
    total = progress["total"]
    if total:
        ended = min(progress["ended"], total)
        filled = round(BAR * ended / total)
        percent = 100 * ended / total
        what = "" if progress["fanout"] is None else f" ({printable(progress['fanout'])} map)"
        parts.insert(1, f"[{'#' * filled}{'.' * (BAR - filled)}] {percent:3.0f}% of {total}{what}")
    if progress["current"] is not None and not progress["finished"]:
        parts.append(f"now {printable(progress['current'])}")
    rate = progress["rate"]
    if rate is not None:
        parts.append(f"{rate:.1f} steps/s")
    parts.append(_clock(progress["elapsed"]))
    return "  ".join(parts)


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def command_watch(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    """Print the run's progress until it ends: on a terminal one line rewritten in place,
    otherwise a line whenever it changes; an error (exit 1) if it did not succeed."""
    on = colour_wanted(out)  # colour: not with NO_COLOR; the line in place: any terminal
    in_place = not args.json and _terminal(out)
    last: tuple[Any, ...] = ()
    while True:
        progress = fl.progress(args.run_id)
        state = tuple(progress[key] for key in _STATE)
        if in_place:  # one line, rewritten in place
            out.write(f"\r\x1b[K{progress_line(progress, on)}")
        elif state != last:
            out.write((_json_line(progress) if args.json else progress_line(progress, on)) + "\n")
        last = state
        out.flush()
        if progress["finished"]:
            break
        time.sleep(args.interval)
    if in_place:
        out.write("\n")
    if progress["status"] != "SUCCESSFUL":
        raise FlightlogError(f"run {args.run_id} ended {progress['status']}")


def _terminal(out: TextIO) -> bool:
    """Whether ``out`` is a terminal that can rewrite a line (not ``TERM=dumb``)."""
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return out.isatty()
    except (OSError, ValueError):
        return False


# What makes a plain (piped) line worth printing: not the clock nor the rate alone.
_STATE = ("status", "done", "running", "failed", "pending", "current", "total", "ended")


def _json_line(progress: dict[str, Any]) -> str:
    return json.dumps(progress)


COMMANDS: dict[str, Callable[[client.Flightlog, argparse.Namespace, TextIO], None]] = {
    "logs": command_logs,
    "watch": command_watch,
}


def add_parsers(commands: Any, common: argparse.ArgumentParser) -> None:
    logs = commands.add_parser(
        "logs", parents=[common], help="what a run's steps printed and logged (--follow: live)"
    )
    logs.add_argument("run_id", metavar="RUN_ID")
    logs.add_argument("step", metavar="STEP", nargs="?", help="only this step's log")
    logs.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing new lines until the step (or run) ends; Ctrl-C stops",
    )
    watch = commands.add_parser(
        "watch", parents=[common], help="follow a run's progress live until it ends"
    )
    watch.add_argument("run_id", metavar="RUN_ID")
    watch.add_argument(
        "--interval", type=_interval, default=0.5, help="seconds between two looks (0.5)"
    )


def _interval(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= 3600:  # NaN fails too
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, not {text!r}")
    return seconds

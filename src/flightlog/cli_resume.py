"""``flightlog resume --all``: resume every run whose process died (and, when asked, every
failed one), one line per run."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from . import client
from .cli_output import dump, printable
from .errors import FlightlogError, InvalidInputError


def add_options(resume: argparse.ArgumentParser) -> None:
    resume.add_argument(
        "--all",
        action="store_true",
        help="resume every RESUMABLE run (its process died) instead of one RUN_ID",
    )
    resume.add_argument(
        "--include-failed",
        action="store_true",
        help="with --all: every FAILED run too (e.g. after fixing the failing task)",
    )


def resume_all(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    """Resume them all; an error if any of them failed again (all are tried first)."""
    if args.run_id is not None:
        raise InvalidInputError("give either a RUN_ID or --all, not both")
    if not args.all:
        raise InvalidInputError("resume needs a RUN_ID, or --all for every resumable run")
    outcomes = fl.resume_all(
        include_failed=args.include_failed, allow_import_outside=args.allow_import_outside
    )
    failed = {run_id: error for run_id, error in outcomes.items() if isinstance(error, Exception)}
    if args.json:
        dump(
            [_outcome(fl, run_id, value, failed.get(run_id)) for run_id, value in outcomes.items()],
            out,
        )
    else:
        if not outcomes:
            out.write("no run to resume\n")
        for run_id in outcomes:
            error = failed.get(run_id)
            if error is None:
                out.write(f"resumed run {printable(run_id)}: {fl.get_status(run_id)}\n")
            else:
                out.write(f"run {printable(run_id)} failed: {printable(_why(error))}\n")
    if failed:
        out.flush()
        raise FlightlogError(
            f"{len(failed)} of {len(outcomes)} run(s) did not succeed: " + ", ".join(sorted(failed))
        )


def _why(error: Exception) -> str:
    return str(error) if isinstance(error, FlightlogError) else f"{type(error).__name__}: {error}"


def _outcome(
    fl: client.Flightlog, run_id: str, value: Any, error: Exception | None
) -> dict[str, Any]:
    if error is not None:
        return {"run_id": run_id, "status": _status(fl, run_id), "error": _why(error)}
    return {"run_id": run_id, "status": _status(fl, run_id), "output": value}


def _status(fl: client.Flightlog, run_id: str) -> str | None:
    try:
        return fl.get_status(run_id)
    except FlightlogError:
        return None

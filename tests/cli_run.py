"""Running the command line in the test process: its exit status and what it printed."""

from __future__ import annotations

import io

from flightlog import cli


def run_cli(*args: str) -> tuple[int, str]:
    """``flightlog ARGS...``: its exit status and its standard output."""
    out = io.StringIO()
    code = cli.main(list(args), out=out)
    return code, out.getvalue()

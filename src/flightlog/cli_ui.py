"""``flightlog ui``: the web UI over a store (``flightlog[ui]``), a thin face over
:func:`flightlog.web.serve`."""

from __future__ import annotations

import argparse
import importlib
from typing import TextIO

from . import client
from .errors import MissingDependencyError


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser],
               common: argparse.ArgumentParser) -> None:  # fmt: skip
    ui = commands.add_parser(
        "ui", parents=[common], help="serve the web UI (runs, timelines, logs, metrics)"
    )
    ui.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    ui.add_argument("--port", type=int, default=8765, help="port (8765; 0 picks a free one)")
    ui.add_argument(
        "--token",
        help="require this token on every request (needed to bind other than loopback); "
        "opens the actions (cancel, resume, delete)",
    )
    ui.add_argument("--open", action="store_true", help="open the UI in a browser")


def command_ui(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    try:
        web = importlib.import_module("flightlog.web")
    except ImportError as error:
        raise MissingDependencyError(
            f"the web UI needs its extra ({error.name} is missing): pip install 'flightlog[ui]'"
        ) from None
    try:
        web.serve(fl, host=args.host, port=args.port, token=args.token,
                  open_browser=args.open)  # fmt: skip
    except KeyboardInterrupt:
        return

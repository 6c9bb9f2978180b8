"""``flightlog attachments list RUN`` and ``flightlog attachments get RUN NAME [-o FILE]``:
the files a run attached, thin over ``Flightlog.attachments`` and ``read_attachment``."""

from __future__ import annotations

import argparse
import os
from typing import Any, TextIO

from . import client
from .cli_output import dump, printable, table
from .errors import InvalidInputError


def command_attachments(fl: client.Flightlog, args: argparse.Namespace, out: TextIO) -> None:
    if args.action == "list":
        found = fl.attachments(args.run_id, args.step)
        if args.json:
            return dump(found, out)
        rows = [["STEP", "NAME", "SIZE", "SHA256"]]
        rows.extend(
            [item["step"] or "-", item["name"], str(item["size"]), item["sha256"][:12]]
            for item in found
        )
        table(rows, out)
        return None
    data = fl.read_attachment(args.run_id, args.name, args.step)
    if args.output is None or args.output == "-":
        if args.output is None and _is_terminal(out) and not _text(data):
            raise InvalidInputError(
                f"attachment {args.name!r} holds binary data: write it to a file with -o FILE "
                "(or -o - to print it anyway)"
            )
        out.flush()
        target = getattr(out, "buffer", None)
        if target is None:  # a text stream (tests, main(argv, out)): decode what is text
            out.write(data.decode("utf-8", errors="replace"))
        else:
            target.write(data)
            target.flush()
        return None
    _write(args.output, data)
    if args.json:
        return dump({"name": args.name, "file": args.output, "size": len(data)}, out)
    out.write(f"wrote {len(data)} bytes to {printable(args.output)}\n")
    return None


def _is_terminal(out: TextIO) -> bool:
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())


def _text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in data


def _write(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it (never half a file)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InvalidInputError(f"cannot write {path!r}: folder {folder!r} does not exist")
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.part")
    try:
        with open(temporary, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except OSError as error:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise InvalidInputError(f"cannot write {path!r}: {error.strerror or error}") from None


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    attachments = commands.add_parser("attachments", help="the files a run attached")
    actions = attachments.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[common], help="the files attached, by step")
    listing.add_argument("run_id", metavar="RUN_ID")
    listing.add_argument("--step", help="only those of this step")
    get = actions.add_parser("get", parents=[common], help="the bytes of one attached file")
    get.add_argument("run_id", metavar="RUN_ID")
    get.add_argument("name", metavar="NAME")
    get.add_argument("--step", help="the step that attached it (when several did)")
    get.add_argument(
        "-o", "--output", metavar="FILE", help="write it to FILE (- or none: standard output)"
    )

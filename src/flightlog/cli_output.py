"""What the command line prints: text made safe for a terminal, tables and JSON, and one line
with a documented exit status for every error.

Every text renderer of ``flightlog`` passes what it shows from a store (names, tags, run ids,
logs, tracebacks, metadata) through :func:`printable`, so that no terminal control sequence a
run recorded (an ANSI escape, a ``\\r``, a title-setting OSC) reaches a terminal or a pipe raw:
each shows escaped (``\\x1b``). JSON output (``--json``) is escaped by JSON itself.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import traceback
from collections.abc import Mapping
from typing import Any, TextIO

from .errors import ConfigurationError, ConflictError, NotFoundError, StoreError
from .redaction import redact

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BUG = 70
EXIT_INTERRUPTED = 130
EXIT_CLOSED = 141

# Documented in ``flightlog --help`` and the README's "Command line" section.
EXIT_STATUSES: tuple[tuple[int, str], ...] = (
    (0, "success"),
    (EXIT_ERROR, "error: any other flightlog error (bad input, a resume that failed again, ...)"),
    (EXIT_USAGE, "usage: an unknown command or option, a missing argument"),
    (3, "not found: no such run, step, collection or resource"),
    (4, "conflict: the record is in another state (e.g. cancel of a finished run)"),
    (5, "store: the store failed or refused (unreachable, full, read-only, newer schema)"),
    (6, "configuration: a malformed or unknown store URL, a missing optional package"),
    (EXIT_BUG, "bug: an unexpected error inside flightlog (--debug shows its traceback)"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C)"),
    (EXIT_CLOSED, "closed: the reader closed the output early (| head); nothing more printed"),
)
_STATUS_OF = ((NotFoundError, 3), (ConflictError, 4), (StoreError, 5), (ConfigurationError, 6))

EPILOG = (
    "exit statuses:\n"
    + "".join(f"  {status:<5}{meaning}\n" for status, meaning in EXIT_STATUSES)
    + "\nAn error prints one line; --debug (before or after the command), or FLIGHTLOG_DEBUG=1,\n"
    "prints its traceback too."
)

# C0 controls (but tab and newline, where lines are kept), DEL, C1 controls, and the
# invisible characters that reorder or break what follows them.
_INVISIBLE = "\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_CONTROL_IN_LINE = re.compile(f"[\x00-\x1f{_INVISIBLE}]")
_CONTROL_IN_TEXT = re.compile(f"[\x00-\x08\x0b-\x1f{_INVISIBLE}]")
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(found: re.Match[str]) -> str:
    char = found.group()
    if char in _SHORT:
        return _SHORT[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def printable(value: object, *, lines: bool = False) -> str:
    """``value`` as text that is safe to print: every control character escaped visibly
    (``\\x1b``, ``\\r``, ``\\u202e``). With ``lines``, newlines and tabs are kept (a log, a
    traceback; ``\\r\\n`` counts as a newline); otherwise the text stays on one line."""
    text = value if isinstance(value, str) else str(value)
    if lines:
        return _CONTROL_IN_TEXT.sub(_escape, text.replace("\r\n", "\n"))
    return _CONTROL_IN_LINE.sub(_escape, text)


# The colour of each status (SGR codes) on a terminal.
STATUS_COLOURS = {
    "SUCCESSFUL": "32",
    "FAILED": "31",
    "RUNNING": "36",
    "RESUMABLE": "33",
    "CANCELED": "35",
    "PENDING": "2",
}


def colour_wanted(stream: object, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether to colour what goes to ``stream``: only a terminal, and never when
    ``NO_COLOR`` is set (https://no-color.org) or ``TERM`` is ``dumb``."""
    if environ.get("NO_COLOR") or environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):
        return False


def paint(text: str, code: str | None, on: bool) -> str:
    """``text`` in the SGR style ``code`` (e.g. "1" bold, "31" red) when ``on``."""
    return f"\x1b[{code}m{text}\x1b[0m" if on and code else text


def status_text(status: str, on: bool) -> str:
    """A status, coloured after its meaning when ``on``."""
    return paint(status, STATUS_COLOURS.get(status), on)


def table(rows: list[list[str]], out: TextIO) -> None:
    """Rows as aligned columns, every cell printable; the first row is the header. On a
    terminal (see :func:`colour_wanted`) the header is bold and statuses are coloured."""
    shown = [[printable(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in shown) for i in range(len(shown[0]))]
    on = colour_wanted(out)
    for number, row in enumerate(shown):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        if on:
            code = "1"
            cells = [
                paint(cell, code if number == 0 else STATUS_COLOURS.get(plain), on)
                for cell, plain in zip(cells, row, strict=True)
            ]
        out.write("  ".join(cells).rstrip() + "\n")


def dump(value: Any, out: TextIO) -> None:
    """``value`` as indented JSON (which escapes control characters itself)."""
    json.dump(value, out, indent=2, default=str)
    out.write("\n")


def exit_status(error: BaseException) -> int:
    """The documented exit status of a flightlog error (see ``EXIT_STATUSES``)."""
    for kind, status in _STATUS_OF:
        if isinstance(error, kind):
            return status
    return EXIT_ERROR


def debug_wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether ``FLIGHTLOG_DEBUG`` asks for tracebacks (set, and not 0, false, no or off)."""
    value = environ.get("FLIGHTLOG_DEBUG", "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def report(error: BaseException, *, bug: bool, debug: bool) -> None:
    """Say on stderr what went wrong, in one line (after the traceback with ``debug``),
    passwords in URLs redacted; a closed stderr is ignored."""
    message = f"{type(error).__name__}: {error}" if bug else str(error)
    line = f"flightlog: error: {printable(redact(message.strip()))}"
    if bug:
        line += (
            "; this is a bug in flightlog: run the command again with --debug (or "
            "FLIGHTLOG_DEBUG=1) to see the traceback, and please report it"
        )
    text = line + "\n"
    if debug:
        shown = "".join(traceback.format_exception(error))
        text = printable(redact(shown), lines=True) + text
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def silence(stream: TextIO) -> None:
    """After the reader of ``stream`` went away: point its file at the null device, so that
    the last flush at exit does not fail again."""
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, descriptor)
    finally:
        os.close(null)


class PrintableFormatter(logging.Formatter):
    """A log formatter whose lines are printable, passwords in URLs redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(redact(super().format(record)), lines=True)

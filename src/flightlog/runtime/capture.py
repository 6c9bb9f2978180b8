"""Capture of ``print`` output and ``logging`` records into the step that emits them.

Nothing is taken away from the user: output still reaches the console and records still reach
their handlers. ``sys.stdout``/``sys.stderr`` are wrapped by a thin tee that keeps every
attribute of the stream it wraps, and logging records are captured by a LogRecord factory, not
by a handler on the root logger (which would silence ``logging.lastResort``).
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any, TextIO

from .state import CURRENT_STEP

_install_lock = threading.Lock()
_factory_installed = False


class _Tee:
    """A text stream that also copies what is written inside a step into that step's log."""

    def __init__(self, stream: TextIO) -> None:
        self._flightlog_stream = stream

    def write(self, text: str) -> int:
        frame = CURRENT_STEP.get()
        if frame is not None:
            frame.log.append(text)
        return self._flightlog_stream.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._flightlog_stream, name)


def _install_factory() -> None:
    global _factory_installed
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        frame = CURRENT_STEP.get()
        if frame is not None:
            sink = frame.log
            try:
                message = record.getMessage()
            except Exception:  # a bad format string: logging reports it itself
                message = str(record.msg)
            sink.append(f"{record.levelname} {record.name}: {message}\n")
            if record.exc_info and record.exc_info[1] is not None:
                sink.append(logging.Formatter().formatException(record.exc_info) + "\n")
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


def ensure_capture() -> None:
    """Make sure the current streams and the logging factory feed step logs (cheap to repeat)."""
    if type(sys.stdout) is _Tee and type(sys.stderr) is _Tee and _factory_installed:
        return
    with _install_lock:
        if sys.stdout is not None and type(sys.stdout) is not _Tee:
            sys.stdout = _Tee(sys.stdout)
        if sys.stderr is not None and type(sys.stderr) is not _Tee:
            sys.stderr = _Tee(sys.stderr)
        if not _factory_installed:
            _install_factory()

"""``flightlog.track()`` and ``flightlog.attach()``: values and files recorded with a step.

Inside a step, what is tracked belongs to that step; in a workflow's own body, outside any
step, it belongs to the run (its ``task_step`` is None). Points are buffered in memory and
written with the step's end record (the run's, with the next step's end record or at the
run's end); see :mod:`flightlog.runtime.tracked`. Attached bytes are written to the store at
once (content-addressed: the same bytes are stored once), their reference with the step.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, OutsideRunError
from ..model import AttachmentRecord
from ..runtime.state import CURRENT_RUN, CURRENT_STEP, RunState
from ..runtime.tracked import Tracked, run_buffer
from .values import PLAIN, STEP_LIMIT, check_name, check_step, tracked_value

_now = time.time


def _outside(what: str) -> OutsideRunError:
    return OutsideRunError(
        f"flightlog.{what}() was called outside any run: call it inside a task or a workflow "
        "(a resource function records its result, its log through ctx.logger and its files "
        "in ctx.subdir, not tracked values)"
    )


def _add(tracked: Tracked, step: Any, values: dict[str, Any]) -> None:
    if type(step) is not int or not 0 <= step < STEP_LIMIT:
        step = check_step(step)
    for value in values.values():
        if type(value) not in PLAIN:  # convert every value before recording any
            values = {name: tracked_value(name, item) for name, item in values.items()}
            break
    now = _now()
    series = tracked.series
    for name, value in values.items():
        points = series.get(name)
        if points is None:
            points = tracked.points(check_name(name))
        points.append((step, value, now))


def track(step: int = 0, **values: Any) -> None:
    """Record each value against the current step at series step ``step``.

    ``track(loss=0.5, step=1)``, then ``track(loss=0.4, step=2)`` makes a series. Values:
    numbers, strings, booleans, None, JSON-like dicts and lists, pydantic models (dumped as a
    dict, by alias) and dataclasses. A value that cannot be recorded raises
    SerializationError naming its key, and nothing of that call is recorded. Outside any run:
    OutsideRunError.
    """
    frame = CURRENT_STEP.get()
    if frame is None:
        state = CURRENT_RUN.get()
        if state is None:
            raise _outside("track")
        with state.tracked_lock:
            _add(run_buffer(state), step, values)
        return
    tracked = frame.tracked
    if tracked is None:
        tracked = frame.tracking()
    if len(values) != 1 or type(step) is not int or not 0 <= step < STEP_LIMIT:
        _add(tracked, step, values)
        return
    # The common case, written out: one plain value at a valid step.
    for name, value in values.items():
        if type(value) not in PLAIN:
            _add(tracked, step, values)
            return
        points = tracked.series.get(name)
        if points is None:
            points = tracked.points(check_name(name))
        points.append((step, value, _now()))


def _attachment_name(name: Any) -> str:
    if (
        not isinstance(name, str)
        or not name
        or name in (".", "..")
        or any(character in name for character in "/\\\0")
    ):
        raise InvalidInputError(
            f"an attachment name must be a non-empty file name without '/', '\\' or NUL, "
            f"not {name!r}"
        )
    return name


def attach(name_or_path: str | os.PathLike[str], data: bytes | None = None) -> str:
    """Store a file with the current step (or the run, outside any step); return its sha256.

    ``attach(path)`` stores the file's bytes under the file's name; ``attach(name,
    data=bytes)`` stores the bytes under that name. The same bytes are stored once however
    many steps attach them. A step that attaches one name twice keeps the later file.
    """
    state: RunState | None = CURRENT_RUN.get()
    if state is None:
        raise _outside("attach")
    if data is None:
        path = Path(name_or_path)
        try:
            content = path.read_bytes()
        except OSError as error:
            raise InvalidInputError(f"attach(): cannot read {str(path)!r}: {error}") from None
        name = _attachment_name(path.name)
    else:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidInputError(
                f"attach(): data must be bytes, not {type(data).__name__} "
                "(encode text first, e.g. text.encode())"
            )
        name = _attachment_name(os.fspath(name_or_path))
        content = bytes(data)
    digest = state.store.put_blob(content)
    frame = CURRENT_STEP.get()
    if frame is not None:
        tracked = frame.tracking()
        tracked.attachments.append(
            AttachmentRecord(
                name, tracked.position, tracked.step_name, len(content), digest, _now()
            )
        )
        return digest
    with state.tracked_lock:
        tracked = run_buffer(state)
        tracked.attachments.append(AttachmentRecord(name, None, None, len(content), digest, _now()))
    return digest

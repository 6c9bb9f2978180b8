"""Timeouts: an attempt is interrupted where Python allows it, and never left running.

Every attempt runs in the caller's thread, so the next attempt, and the step's and the run's
records, only come after it has really ended:

- an ``async`` task's attempt is cancelled at its deadline (``asyncio.timeout``), and ends when
  the coroutine has finished cancelling (its ``finally`` blocks have run);
- a plain task called on the main thread is interrupted by an alarm signal
  (``setitimer(ITIMER_REAL)``): the handler raises :class:`StepTimeoutError` inside the task's
  code. Nested steps each have their own deadline; the earliest fires, and an enclosing step's
  deadline stays armed when an inner step ends. The handler is installed only while a step with
  a timeout runs, only when SIGALRM has no handler of its own (the previous handler and timer
  are restored), and it never raises inside flightlog's own code (it tries again 10 ms later);
- otherwise (a plain task on another thread, e.g. in a run started with ``run_async``, or when
  SIGALRM is taken) the attempt runs to its end and is then recorded as timed out.

Whatever the case, an attempt that ran longer than its timeout counts as timed out: what it
returned is discarded (it went on after it was interrupted, or could not be).
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import sysconfig
import threading
import time
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from ..errors import CanceledError, StepTimeoutError
from . import retries

if TYPE_CHECKING:
    from .steps import StepCall

_ALARM = hasattr(signal, "SIGALRM") and hasattr(signal, "setitimer")
_AGAIN = 0.01  # seconds: when the alarm finds flightlog's own code running, it tries again
_SOON = 0.0005  # seconds: the shortest timer (0 would disarm it)
_OWNER = "_flightlog_deadline"  # set on the error of an interrupted attempt: its deadline

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
# Flightlog's own code where an alarm may raise: the waits between attempts.
_INTERRUPTIBLE = frozenset({retries.pause.__code__})


class _Deadline:
    """An attempt with a timeout that the alarm watches (main thread only)."""

    __slots__ = ("at", "call", "fired", "number", "started", "timeout")

    def __init__(self, call: StepCall, timeout: float, number: int) -> None:
        self.started = time.monotonic()
        self.at = self.started + timeout
        self.call = call
        self.timeout = timeout
        self.number = number
        self.fired = False


_deadlines: list[_Deadline] = []  # the attempts on the main thread, outermost first
_previous: Any = None  # SIGALRM's handler before the outermost of them


def run_attempt(
    call: StepCall, timeout: float, function: Callable[..., Any], args: Any, kwargs: Any
) -> Any:
    """One attempt of a plain task, within ``timeout`` seconds."""
    deadline = _Deadline(call, timeout, len(call.step.attempts) + 1)
    why = _alarm_unusable()
    try:
        if why is None:
            value = _with_alarm(deadline, function, args, kwargs)
        else:
            value = function(*args, **kwargs)
    except Exception as error:
        _check_end(deadline, error, why or "it went on after it was interrupted")
        raise
    _check_end(deadline, None, why or "it went on after it was interrupted")
    return value


async def run_attempt_async(
    call: StepCall, timeout: float, function: Callable[..., Awaitable[Any]], args: Any, kwargs: Any
) -> Any:
    """One attempt of an ``async`` task, within ``timeout`` seconds: cancelled at the
    deadline, and over only when the coroutine has finished cancelling."""
    deadline = _Deadline(call, timeout, len(call.step.attempts) + 1)
    try:
        value = await _cancel_at_deadline(deadline, function(*args, **kwargs))
    except Exception as error:
        _check_end(deadline, error, "it went on after it was cancelled")
        raise
    _check_end(deadline, None, "it went on after it was cancelled")
    return value


def interrupted_elsewhere(error: BaseException, call: StepCall) -> bool:
    """Whether ``error`` is the alarm of an enclosing step, passing through ``call``: such an
    error fails ``call`` at once, whatever its retries."""
    deadline = getattr(error, _OWNER, None)
    return deadline is not None and deadline.call is not call and deadline in _deadlines


def _timed_out(deadline: _Deadline, how: str) -> StepTimeoutError:
    error = StepTimeoutError(
        f"step {deadline.call.step.name!r} attempt {deadline.number} ran longer than its "
        f"timeout of {deadline.timeout:g} s and was {how}"
    )
    setattr(error, _OWNER, deadline)
    return error


def _check_end(deadline: _Deadline, error: BaseException | None, why: str) -> None:
    """Raise StepTimeoutError when the attempt that just ended ran past its deadline."""
    if isinstance(error, CanceledError) or hasattr(error, _OWNER):
        return  # a canceled run, or a timeout that interrupted the attempt: as they are
    ran = time.monotonic() - deadline.started
    if ran <= deadline.timeout:
        return
    raise StepTimeoutError(
        f"step {deadline.call.step.name!r} attempt {deadline.number} ran {ran:.3f} s, longer "
        f"than its timeout of {deadline.timeout:g} s; {why}: it ran to its end, and what it "
        f"{'returned' if error is None else 'raised'} was discarded"
    ) from error


# -- async tasks ----------------------------------------------------------------------------------
if sys.version_info >= (3, 11):

    async def _cancel_at_deadline(deadline: _Deadline, awaitable: Awaitable[Any]) -> Any:
        import asyncio  # loaded already: an async step runs

        scope = asyncio.timeout(deadline.timeout)
        try:
            async with scope:
                return await awaitable
        except TimeoutError as error:
            if scope.expired():
                raise _timed_out(deadline, "cancelled") from error
            raise

else:  # pragma: no cover - Python 3.10

    async def _cancel_at_deadline(deadline: _Deadline, awaitable: Awaitable[Any]) -> Any:
        import asyncio

        try:
            return await asyncio.wait_for(awaitable, deadline.timeout)
        except asyncio.TimeoutError as error:  # not the builtin TimeoutError before 3.11
            raise _timed_out(deadline, "cancelled") from error


# -- plain tasks on the main thread: the alarm ----------------------------------------------------
def _alarm_unusable() -> str | None:
    """Why an alarm cannot interrupt an attempt here, or None when it can."""
    if not _ALARM:
        return "this platform has no SIGALRM"
    if threading.current_thread() is not threading.main_thread():
        return "a plain task outside the main thread cannot be interrupted"
    handler = signal.getsignal(signal.SIGALRM)
    if handler is _on_alarm and _deadlines:
        return None
    if handler is not signal.SIG_DFL:
        return "SIGALRM has a handler of its own"
    if signal.getitimer(signal.ITIMER_REAL)[0]:
        return "an alarm timer of its own is running"
    return None


def _with_alarm(deadline: _Deadline, function: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    global _previous
    if not _deadlines:
        _previous = signal.signal(signal.SIGALRM, _on_alarm)
    _deadlines.append(deadline)
    try:
        _arm()
        return function(*args, **kwargs)
    finally:
        _deadlines.remove(deadline)
        _arm()  # an enclosing step's deadline, or nothing
        if not _deadlines:
            _settle()
            if signal.getsignal(signal.SIGALRM) is _on_alarm:
                signal.signal(signal.SIGALRM, _previous)
            _previous = None


def _arm() -> None:
    """Set the timer for the earliest deadline still to fire (or clear it)."""
    pending = [deadline.at for deadline in _deadlines if not deadline.fired]
    if pending:
        signal.setitimer(signal.ITIMER_REAL, max(min(pending) - time.monotonic(), _SOON))
    else:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _settle() -> None:
    """A Python call: a signal that arrived just before the timer was cleared is handled
    here, by the alarm's handler (which then finds nothing to do), not after the previous
    handler is back."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    now = time.monotonic()
    expired = [i for i, each in enumerate(_deadlines) if not each.fired and each.at <= now]
    if not expired:  # early, or left over from an attempt that has ended
        _arm()
        return
    index = expired[0]
    deadline = _deadlines[index]
    if _in_flightlog(frame):
        signal.setitimer(signal.ITIMER_REAL, _AGAIN)
        return
    for inner in _deadlines[index:]:  # the outermost expired one unwinds the inner ones
        inner.fired = True
    _arm()
    raise _timed_out(deadline, "interrupted")


@functools.cache
def _standard_library() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple({os.path.join(paths[key], "") for key in ("stdlib", "platstdlib")})


def _in_flightlog(frame: FrameType | None) -> bool:
    """Whether flightlog's own code is running (through the standard library, maybe)."""
    standard_library = _standard_library()
    while frame is not None:
        code = frame.f_code
        if code in _INTERRUPTIBLE:
            return False
        filename = code.co_filename
        if filename.startswith(_PACKAGE):
            return True
        standard = filename.startswith(standard_library) and "-packages" not in filename
        if not (standard or filename.startswith("<frozen")):
            return False
        frame = frame.f_back
    return False

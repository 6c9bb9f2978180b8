"""The run follows the work into threads.

A new thread starts with an empty :mod:`contextvars` context, so a task called from a user's
``ThreadPoolExecutor`` (or ``threading.Thread``) inside a workflow would not see its run and would
become a run of its own. Once a run starts in this process, :func:`follow_context` makes work handed
to a thread pool, and threads started, inside a run carry the context they were handed over in
(its run, its current step): their task calls are steps of that run (children of that step).
Outside any run nothing changes. ``asyncio.to_thread`` passes the context on by itself.

A pool's own worker threads are not given the context of the submission that started them (they
outlive it); each piece of work is. flightlog's own threads are left as they are.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from .state import CURRENT_RUN

_lock = threading.Lock()
_installed = False
_ORIGINAL_SUBMIT = ThreadPoolExecutor.submit
_ORIGINAL_START = threading.Thread.start


def _submit(
    self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
) -> Future[Any]:
    if CURRENT_RUN.get() is None:
        return _ORIGINAL_SUBMIT(self, fn, *args, **kwargs)
    return _ORIGINAL_SUBMIT(self, contextvars.copy_context().run, fn, *args, **kwargs)


def _start(self: threading.Thread) -> None:
    if CURRENT_RUN.get() is not None and _follows(self):
        context = contextvars.copy_context()
        run = self.run
        self.run = lambda: context.run(run)  # type: ignore[method-assign]
    _ORIGINAL_START(self)


def _follows(thread: threading.Thread) -> bool:
    """Whether a thread started inside a run takes the run's context: not a pool's worker (it
    serves later submissions too), not flightlog's own threads."""
    if thread.name.startswith("flightlog-"):
        return False
    target = getattr(thread, "_target", None)
    module = getattr(target, "__module__", None) or ""
    return not module.startswith(("concurrent.futures", "flightlog.", "asyncio"))


def follow_context() -> None:
    """Install the hand-over (once per process; cheap to call again)."""
    global _installed
    if _installed:
        return
    with _lock:
        if not _installed:
            ThreadPoolExecutor.submit = _submit  # type: ignore[method-assign,assignment]
            threading.Thread.start = _start  # type: ignore[method-assign]
            _installed = True

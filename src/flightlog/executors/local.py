"""Executors of this machine: inline (the caller's thread), a thread pool, a process pool."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..errors import WorkerLostError
from .base import Executor


class Inline(Executor):
    """Runs each step at once in the thread that submits it (the default)."""

    name = "inline"
    local = True

    def _submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            value = function(*args)
        except BaseException as error:
            future.set_exception(error)
        else:
            future.set_result(value)
        return future


class Threads(Executor):
    """A pool of threads of this process (``max_workers`` default: as ThreadPoolExecutor's)."""

    name = "threads"
    local = True

    def _start(self) -> None:
        self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="flightlog-step")

    def _stop(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        return self._pool.submit(function, *args)


class Processes(Executor):
    """A pool of worker processes on this machine (``max_workers`` default: the CPU count).

    ``start_method``: "spawn" (default: safe with threads), "forkserver" or "fork". Functions,
    arguments and results cross by pickle: tasks must be importable by module and name."""

    name = "processes"

    def __init__(self, max_workers: int | None = None, *, start_method: str = "spawn") -> None:
        super().__init__(max_workers)
        self.start_method = start_method

    def _start(self) -> None:
        context = multiprocessing.get_context(self.start_method)
        self._pool = ProcessPoolExecutor(self.max_workers or os.cpu_count(), mp_context=context)

    def _stop(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        try:
            return self._pool.submit(function, *args)
        except BrokenProcessPool:  # a worker died: the pool is replaced, steps go on
            with self._lock:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._start()
            return self._pool.submit(function, *args)

    def lost(self, error: BaseException) -> BaseException:
        if isinstance(error, BrokenProcessPool):
            return WorkerLostError(
                "the worker process running the step died (or the process pool broke when "
                f"another worker died): {error}"
            )
        return error

"""Executors of this machine: inline (the caller's thread), a thread pool, a process pool."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ..errors import WorkerLostError
from .base import Executor, settle


class Inline(Executor):
    """Runs each step at once in the thread that submits it (the default)."""

    name = "inline"
    local = True

    def _submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        settle(future, function, *args)
        return future


class Threads(Executor):
    """A pool of threads of this process (``max_workers`` default: ``min(32, CPUs + 4)``, as
    ThreadPoolExecutor's). Steps go to its threads through one queue, without a future each."""

    name = "threads"
    local = True

    def _start(self) -> None:
        self._queue: queue.SimpleQueue[Callable[[], Any] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = threading.Semaphore(0)
        self._size = self.max_workers or min(32, (os.cpu_count() or 1) + 4)

    def _stop(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        self._threads = []

    def run_soon(self, function: Callable[[], Any]) -> None:
        """Run ``function()`` in one of the pool's threads (it reports its own outcome)."""
        if not self._started:
            with self._lock:
                if not self._started:
                    self._start()
                    self._started = True
        self._queue.put(function)
        if not self._idle.acquire(blocking=False) and len(self._threads) < self._size:
            thread = threading.Thread(
                target=self._work, name=f"flightlog-step-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _work(self) -> None:
        queue_get, idle = self._queue.get, self._idle
        while True:
            function = queue_get()
            if function is None:
                return
            function()
            idle.release()

    def _submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()

        def run() -> None:
            if future.set_running_or_notify_cancel():
                settle(future, function, *args)

        self.run_soon(run)
        return future


class Processes(Executor):
    """A pool of worker processes on this machine (``max_workers`` default: the CPU count).

    ``start_method``: "spawn" (default: safe with threads), "forkserver" or "fork". Functions,
    arguments and results cross by pickle: tasks must be importable by module and name."""

    name = "processes"

    def __init__(self, max_workers: int | None = None, *, start_method: str = "spawn") -> None:
        super().__init__(max_workers)
        self.start_method = start_method

    def _start(self) -> None:
        # multiprocessing is loaded when a pool is first made, not with flightlog
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context(self.start_method)
        self._pool = ProcessPoolExecutor(
            self.max_workers or os.cpu_count(),
            mp_context=context,
            initializer=watch_parent,
            initargs=(os.getpid(),),
        )

    def _stop(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self._pool.submit(function, *args)
        except BrokenProcessPool:  # a worker died: the pool is replaced, steps go on
            with self._lock:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._start()
            return self._pool.submit(function, *args)

    def lost(self, error: BaseException) -> BaseException:
        from concurrent.futures.process import BrokenProcessPool

        if isinstance(error, BrokenProcessPool):
            return WorkerLostError(
                "the worker process running the step died (or the process pool broke when "
                f"another worker died): {error}"
            )
        return error


def watch_parent(parent: int) -> None:
    """In a pool's worker: end this process when the driver that made the pool is gone (killed
    with SIGKILL, its pool cannot tell its workers), checked every second."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="flightlog-parent-watch", daemon=True).start()

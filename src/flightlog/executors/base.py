"""The one seam between flightlog and whatever runs steps: an :class:`Executor` takes a
function and its arguments and gives back a :class:`concurrent.futures.Future` of its value.

An executor is *local* when the function runs in this process (inline, threads): the step then
runs its whole lifecycle where it runs, recording as it goes. Otherwise (processes, Ray, Dask)
the function crosses to a worker by the engine's own serialization, the worker runs the step and
sends back its outcome, and the driver records it (see :mod:`flightlog.runtime.remote`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ..errors import ConfigurationError


class Executor:
    """Runs functions somewhere and gives back futures of their values.

    Subclasses implement :meth:`_start` (make the engine's pool or client; called once, at the
    first submission) and :meth:`_submit`; :meth:`shutdown` ends what ``_start`` made.
    """

    name = "executor"
    local = False  # True when submitted functions run in this process
    # True when workers may be on other machines: what crosses is pickled with cloudpickle,
    # tasks of the driver's script by value (see flightlog.runtime.remote).
    sends_by_value = False

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None and (
            not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1
        ):
            raise ConfigurationError(
                f"executor {self.name!r}: max_workers must be an integer >= 1, not {max_workers!r}"
            )
        self.max_workers = max_workers
        self._lock = threading.Lock()
        self._started = False

    def submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run ``function(*args)`` on the engine; the future resolves with its value or error."""
        if not self._started:
            with self._lock:
                if not self._started:
                    self._start()
                    self._started = True
        return self._submit(function, *args)

    def was_canceled(self, error: BaseException) -> bool:
        """Whether the engine failed a step with ``error`` because it was canceled there."""
        return False

    def parallelism(self) -> int:
        """How many steps the engine runs at once, about (to size the chunks of a ``map``)."""
        return self.max_workers or os.cpu_count() or 1

    def run_soon(self, function: Callable[[], Any]) -> None:
        """For local executors: run ``function()`` (which reports its own outcome) soon."""
        function()

    def cancel(self, future: Future[Any]) -> bool:
        """Cancel a submitted function that has not started (True when it will never run)."""
        return future.cancel()

    def lost(self, error: BaseException) -> BaseException:
        """The error to record for a step the engine failed without running it to its end (its
        worker died: a broken pool, a killed worker)."""
        return error

    def shutdown(self) -> None:
        """End what the executor started (pools, local clusters); it starts again if used."""
        with self._lock:
            if self._started:
                self._stop()
                self._started = False

    def _start(self) -> None:
        pass

    def _stop(self) -> None:
        pass

    def _submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        workers = "" if self.max_workers is None else f"max_workers={self.max_workers}"
        return f"{type(self).__name__}({workers})"


def settle(future: Future[Any], function: Callable[..., Any], *args: Any) -> None:
    """Resolve ``future`` with ``function(*args)``: its value, or the error it raised."""
    try:
        value = function(*args)
    except BaseException as error:
        future.set_exception(error)
    else:
        future.set_result(value)

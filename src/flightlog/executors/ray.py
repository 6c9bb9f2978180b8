"""Steps as Ray tasks (extra ``flightlog[ray]``)."""

from __future__ import annotations

import atexit
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ..errors import MissingDependencyError, WorkerLostError
from .base import Executor


class RayExecutor(Executor):
    """Runs steps as Ray tasks. ``address``: a running cluster ("auto", "ray://host:10001");
    without one, a local Ray is started at the first submitted step and shut down at exit.
    Other keyword arguments go to ``ray.init`` (``num_cpus``, ``runtime_env`` …);
    ``remote_options`` to every task's ``.options(...)`` (``num_cpus``, ``resources`` …).
    An already initialised Ray is used as it is (and left running)."""

    name = "ray"
    sends_by_value = True

    def __init__(
        self,
        address: str | None = None,
        *,
        max_workers: int | None = None,
        remote_options: dict[str, Any] | None = None,
        **init_options: Any,
    ) -> None:
        super().__init__(max_workers)
        self.address = address
        self.init_options = init_options
        # A worker that dies mid-step is an attempt of the step: the task's ``retries`` apply
        # and every attempt is recorded (Ray's own retry would hide it), unless set here.
        self.remote_options = {"max_retries": 0, **(remote_options or {})}
        self._owned = False

    def _start(self) -> None:
        try:
            import ray
        except ImportError:
            raise MissingDependencyError(
                "the ray executor needs Ray: pip install 'flightlog[ray]'"
            ) from None
        if not ray.is_initialized():
            options = dict(self.init_options)
            if self.max_workers is not None and self.address is None:
                options.setdefault("num_cpus", self.max_workers)
            options.setdefault("include_dashboard", False)
            options.setdefault("log_to_driver", True)
            ray.init(address=self.address, **options)
            self._owned = True
            atexit.register(self.shutdown)
        self._ray = ray
        self._remote = ray.remote(_call).options(**self.remote_options)
        # Engine futures by their concurrent.futures twins, for cancel.
        self._refs: dict[int, Any] = {}

    def _stop(self) -> None:
        if self._owned:
            self._ray.shutdown()
            self._owned = False

    def _submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        ref = self._remote.remote(function, *args)
        future: Future[Any] = ref.future()
        self._refs[id(future)] = ref
        future.add_done_callback(lambda done: self._refs.pop(id(done), None))
        return future

    def was_canceled(self, error: BaseException) -> bool:
        # Also RayTaskError(TaskCancelledError), a class that Ray makes from both, which a
        # chunk of a map gets when it is canceled.
        return "TaskCancelledError" in {cls.__name__ for cls in type(error).__mro__}

    def lost(self, error: BaseException) -> BaseException:
        names = {cls.__name__ for cls in type(error).__mro__}
        if names & {"WorkerCrashedError", "NodeDiedError", "OwnerDiedError", "ActorDiedError"}:
            return WorkerLostError(f"the Ray worker running the step died: {error}")
        return error

    def cancel(self, future: Future[Any]) -> bool:
        ref = self._refs.get(id(future))
        if ref is None:
            return False
        try:
            self._ray.cancel(ref, force=False)
        except Exception:  # it ended meanwhile
            return False
        return True


def _call(function: Callable[..., Any], *args: Any) -> Any:
    return function(*args)

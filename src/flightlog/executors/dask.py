"""Steps as Dask futures (extra ``flightlog[dask]``)."""

from __future__ import annotations

import atexit
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ..errors import MissingDependencyError, WorkerLostError
from .base import Executor, settle


class DaskExecutor(Executor):
    """Runs steps on a Dask cluster. ``address``: a scheduler ("tcp://scheduler:8786") or a
    ``distributed.Client``; without one, a ``LocalCluster`` on 127.0.0.1 (dashboards off) is
    started at the first submitted step and closed at exit (``max_workers`` workers of one
    thread each; other keyword arguments go to ``LocalCluster``)."""

    name = "dask"
    sends_by_value = True

    def __init__(
        self,
        address: Any = None,
        *,
        max_workers: int | None = None,
        **cluster_options: Any,
    ) -> None:
        super().__init__(max_workers)
        self.address = address
        self.cluster_options = cluster_options
        self._cluster: Any = None
        self._owned_client = False
        self._futures: dict[int, Any] = {}  # engine futures by their twins, for cancel

    def _start(self) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise MissingDependencyError(
                "the dask executor needs Dask: pip install 'flightlog[dask]'"
            ) from None
        if isinstance(self.address, Client):
            self._client = self.address
            return
        if self.address is None:
            options: dict[str, Any] = {
                "host": "127.0.0.1",
                "dashboard_address": "127.0.0.1:0",
                "worker_dashboard_address": "127.0.0.1:0",
                "n_workers": self.max_workers or 2,
                "threads_per_worker": 1,
                "processes": True,
            }
            options.update(self.cluster_options)
            self._cluster = LocalCluster(**options)
            self._client = Client(self._cluster)
        else:
            self._client = Client(self.address)
        self._owned_client = True
        atexit.register(self.shutdown)

    def _stop(self) -> None:
        if self._owned_client:
            self._client.close()
            self._owned_client = False
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def _submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        engine = self._client.submit(function, *args, pure=False)
        future: Future[Any] = Future()
        self._futures[id(future)] = engine

        def relay(done: Any) -> None:
            self._futures.pop(id(future), None)
            if done.status == "cancelled":
                future.cancel()
                future.set_running_or_notify_cancel()
                return
            settle(future, done.result)

        engine.add_done_callback(relay)
        return future

    def lost(self, error: BaseException) -> BaseException:
        if type(error).__name__ == "KilledWorker":
            return WorkerLostError(f"the Dask workers running the step died: {error}")
        return error

    def cancel(self, future: Future[Any]) -> bool:
        engine = self._futures.get(id(future))
        if engine is None or engine.done():
            return False
        engine.cancel()
        return True

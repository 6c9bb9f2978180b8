"""Where submitted steps run: inline, threads, processes, Ray or Dask, behind one seam.

``flightlog.open(url, executor="threads")`` sets a store's default; ``@fl.workflow(executor=...,
max_workers=...)`` a workflow's. A name ("inline", "threads", "processes", "ray", "dask") or an
executor object (``Threads(8)``, ``Processes(4)``, ``Ray(address="auto")``,
``Dask("tcp://scheduler:8786")``).
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigurationError
from .base import Executor
from .local import Inline, Processes, Threads


def Ray(*args: Any, **kwargs: Any) -> Executor:
    """Steps as Ray tasks (extra ``flightlog[ray]``); see :class:`flightlog.executors.ray.Ray`."""
    from .ray import RayExecutor

    return RayExecutor(*args, **kwargs)


def Dask(*args: Any, **kwargs: Any) -> Executor:
    """Steps as Dask futures (extra ``flightlog[dask]``); see
    :class:`flightlog.executors.dask.DaskExecutor`."""
    from .dask import DaskExecutor

    return DaskExecutor(*args, **kwargs)


_NAMED = {"inline": Inline, "threads": Threads, "processes": Processes, "ray": Ray, "dask": Dask}


def resolve_executor(spec: Any, max_workers: int | None = None) -> Executor | None:
    """The executor that ``spec`` names (None: inline, the fast path)."""
    if spec is None or spec == "inline":
        if max_workers is not None:
            raise ConfigurationError("max_workers needs an executor other than 'inline'")
        return None
    if isinstance(spec, Executor):
        if max_workers is not None:
            raise ConfigurationError(
                "max_workers goes to the executor object itself (e.g. Threads(max_workers=8))"
            )
        return spec
    if isinstance(spec, str) and spec in _NAMED:
        made = _NAMED[spec](max_workers) if max_workers is not None else _NAMED[spec]()
        return made
    raise ConfigurationError(
        f"unknown executor {spec!r}; use one of {sorted(_NAMED)} or an executor object "
        "(flightlog.executors.Threads(...), Processes(...), Ray(...), Dask(...))"
    )


__all__ = ["Dask", "Executor", "Inline", "Processes", "Ray", "Threads", "resolve_executor"]

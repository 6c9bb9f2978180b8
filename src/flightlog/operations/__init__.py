"""Operating a store for years: deleting runs, retention (``gc``) and clearing the cache,
copying a store elsewhere, upgrading its schema. Each operation speaks only the ``Store``
protocol, so plugins take part too.

See :mod:`flightlog.operations.retention` for what goes with a run and what never goes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..lazy import load

if TYPE_CHECKING:
    from .cache import clear_cache
    from .durations import parse_age
    from .retention import GcReport, collect, delete_runs

_LAZY = {
    "GcReport": ".retention",
    "clear_cache": ".cache",
    "collect": ".retention",
    "delete_runs": ".retention",
    "parse_age": ".durations",
}


def __getattr__(name: str) -> Any:  # loaded when first used (flightlog's import stays light)
    return load(__name__, globals(), name, _LAZY.get(name))


__all__ = ["GcReport", "clear_cache", "collect", "delete_runs", "parse_age"]

"""Operating a store for years: deleting runs, retention (``gc``) and clearing the cache,
copying a store elsewhere, upgrading its schema. Each operation speaks only the ``Store``
protocol, so plugins take part too.

See :mod:`flightlog.operations.retention` for what goes with a run and what never goes.
"""

from __future__ import annotations

from .cache import clear_cache
from .durations import parse_age
from .retention import GcReport, collect, delete_runs

__all__ = ["GcReport", "clear_cache", "collect", "delete_runs", "parse_age"]

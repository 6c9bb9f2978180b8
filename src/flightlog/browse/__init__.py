"""Browsing what happened, for faces that show it page by page: runs filtered, counted and
paged; a run's steps as light columns for a timeline; previews of stored values; runs side by
side. Read-only, over the Python query API and the store interface (no SQL here)."""

from .browser import Browser
from .compare import compare_runs, step_differences
from .filters import RUN_SORTS, RunFilter, parse_when
from .preview import preview, step_values
from .runs import MAX_PAGE, runs_page
from .series import metric_series, thin
from .timeline import failing_steps, step_outline, timeline

__all__ = [
    "MAX_PAGE",
    "RUN_SORTS",
    "Browser",
    "RunFilter",
    "compare_runs",
    "failing_steps",
    "metric_series",
    "parse_when",
    "preview",
    "runs_page",
    "step_differences",
    "step_outline",
    "step_values",
    "thin",
    "timeline",
]

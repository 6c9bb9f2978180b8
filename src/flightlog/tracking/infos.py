"""The ``info`` dicts that trackers receive, in the shape of bandsaw's info files.

They are built by :mod:`flightlog.bandsaw` (below the stores, which write the same shapes in
the JSON-files layout); this module names them for the tracking layer.
"""

from __future__ import annotations

from ..bandsaw import (
    distribution_info,
    execution_info,
    metric_points,
    metrics_info,
    redacted_url,
    result_info,
    run_info,
    session_entries,
    session_info,
    start_date,
    step_ids,
    task_info,
    value_info,
    value_infos,
)

__all__ = [
    "distribution_info",
    "execution_info",
    "metric_points",
    "metrics_info",
    "redacted_url",
    "result_info",
    "run_info",
    "session_entries",
    "session_info",
    "start_date",
    "step_ids",
    "task_info",
    "value_info",
    "value_infos",
]

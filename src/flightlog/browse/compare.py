"""Runs side by side: their arguments, outcome and last metric values in rows (with which rows
differ), and a step-by-step difference of two runs."""

from __future__ import annotations

import json
from typing import Any

from ..query import Queries, named_arguments
from ..tracked_query import TrackedQueries


def _flat(value: Any, prefix: str, into: dict[str, str]) -> None:
    if isinstance(value, dict) and value:
        for key in value:
            _flat(value[key], f"{prefix}.{key}" if prefix else str(key), into)
    elif isinstance(value, list) and value and len(value) <= 50:
        for index, item in enumerate(value):
            _flat(item, f"{prefix}[{index}]", into)
    else:
        into[prefix or "(value)"] = json.dumps(value, ensure_ascii=False, default=repr)


def compare_runs(
    queries: Queries, tracked: TrackedQueries, run_ids: list[str]
) -> list[dict[str, Any]]:
    """Rows ``{"group", "name", "values": [one text per run, None where absent], "differs"}``:
    the run's outline (workflow, status, tag, duration, steps), its arguments by parameter
    name (nested dicts and short lists flattened: ``config.rate``, ``files[0]``; ``args[0]``
    where the parameters were not recorded) and the last value of each metric."""
    runs = [queries.get_metadata(run_id) for run_id in run_ids]
    last = tracked.compare(run_ids)
    groups: list[tuple[str, list[dict[str, str]]]] = []
    summary = []
    for run in runs:
        duration = run["stats"].get("duration")
        summary.append({
            "workflow": run["workflow"], "status": run["status"], "tag": str(run["tag"] or ""),
            "duration": "" if duration is None else f"{duration:.3f}s",
            "steps": str(run["step_count"]),
            "error": "" if run["error"] is None else run["error"]["message"],
        })  # fmt: skip
    groups.append(("run", summary))
    arguments = []
    for run in runs:  # by parameter name where the workflow's parameters were recorded
        flat: dict[str, str] = {}
        named = named_arguments(run)
        _flat(run["arguments"] if named is None else named, "", flat)
        arguments.append(flat)
    groups.append(("arguments", arguments))
    metrics = [
        {name: json.dumps(value, default=repr) for name, value in last[run_id].items()}
        for run_id in run_ids
    ]
    groups.append(("metrics", metrics))
    rows = []
    for group, columns in groups:
        names: dict[str, None] = {}
        for column in columns:
            names.update(dict.fromkeys(column))
        for name in names:
            values = [column.get(name) for column in columns]
            rows.append(
                {"group": group, "name": name, "values": values, "differs": len(set(values)) > 1}
            )
    return rows


def _step_summary(step: dict[str, Any]) -> dict[str, Any]:
    return {
        "task_id": step["task_id"],
        "execution_id": step["execution_id"],
        "status": step["status"],
        "origin": step["origin"],
        "duration": step["stats"].get("duration"),
    }


def step_differences(queries: Queries, first: str, second: str) -> list[dict[str, Any]]:
    """Per step name (in the first run's order, then the second's new names): both runs'
    summaries (None where absent) and what differs: "missing", "code" (task identity),
    "arguments" (execution identity), "outcome" (status), "duration" (more than 20% and
    10 ms apart)."""
    left = {step["name"]: _step_summary(step) for step in queries.steps(first)}
    right = {step["name"]: _step_summary(step) for step in queries.steps(second)}
    rows = []
    for name in [*left, *(name for name in right if name not in left)]:
        a, b = left.get(name), right.get(name)
        differences = []
        if a is None or b is None:
            differences.append("missing")
        else:
            if a["task_id"] != b["task_id"]:
                differences.append("code")
            if a["execution_id"] != b["execution_id"]:
                differences.append("arguments")
            if a["status"] != b["status"]:
                differences.append("outcome")
            da, db = a["duration"], b["duration"]
            if da is not None and db is not None and abs(da - db) > max(0.01, 0.2 * max(da, db)):
                differences.append("duration")
        rows.append({"name": name, "first": a, "second": b, "differences": differences})
    return rows

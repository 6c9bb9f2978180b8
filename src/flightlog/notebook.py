"""How the query API's answers show in a notebook (Jupyter's ``_repr_html_``): a list of runs,
a run's steps, and one run or step, as HTML tables. They are the plain lists and dicts the
query API always returned (equal to them, JSON-serialisable), with a display of their own;
every shown text is escaped."""

from __future__ import annotations

import html
import json
import time
from typing import Any


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) > 80:
        text = text[:79] + "…"
    return html.escape(text)


def _when(epoch: float | None) -> str:
    return "" if epoch is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _seconds(stats: dict[str, Any]) -> str:
    duration = stats.get("duration")
    return "" if duration is None else f"{duration:.3f} s"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class RunList(list[dict[str, Any]]):
    """Runs as ``list_runs`` gives them; a table in a notebook."""

    def _repr_html_(self) -> str:
        rows = [
            [_cell(run["run_id"]), _cell(run["workflow"]), _cell(run["status"]),
             _cell(run["tag"]), _when(run["stats"].get("start_time")),
             _seconds(run["stats"]), str(run["step_count"])]
            for run in self
        ]  # fmt: skip
        header = ["run id", "workflow", "status", "tag", "start", "duration", "steps"]
        return _table(header, rows)


class StepList(list[dict[str, Any]]):
    """A run's steps as ``steps`` gives them; a table in a notebook."""

    def _repr_html_(self) -> str:
        rows = [
            [_cell(step["name"]), _cell(step["status"]), _cell(step["origin"]),
             _seconds(step["stats"]), _cell(step["arguments"]), _cell(step.get("result")),
             _cell((step["error"] or {}).get("message"))]
            for step in self
        ]  # fmt: skip
        header = ["step", "status", "origin", "duration", "arguments", "result", "error"]
        return _table(header, rows)


class RecordInfo(dict[str, Any]):
    """A run's or a step's metadata as ``get_metadata`` gives it; a two-column table in a
    notebook."""

    def _repr_html_(self) -> str:
        rows = [[html.escape(key), _cell(value)] for key, value in self.items()]
        return _table(["field", "value"], rows)

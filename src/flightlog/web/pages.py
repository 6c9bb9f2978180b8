"""The reading pages of a run: the runs list, a run, a step. Each parses the address, asks
the Python API, renders: the state of every view lives in its URL."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..browse import RunFilter
from ..errors import FlightlogError, InvalidInputError
from ..query import named_arguments
from .context import context_of

STEP_PAGE = 100
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
               ".gif": "image/gif", ".webp": "image/webp"}  # fmt: skip
TEXT_TYPES = (".txt", ".log", ".csv", ".json", ".md", ".yaml", ".yml", ".tsv", ".py", ".out")


def integer(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise InvalidInputError(f"{name} must be an integer, not {text!r}") from None


def run_filter(request: Request) -> RunFilter:
    query = request.query_params
    return RunFilter.parse(
        statuses=query.getlist("status"),
        workflow=query.get("workflow"),
        tag=query.get("tag"),
        since=query.get("since"),
        until=query.get("until"),
        text=query.get("q"),
    )


def runs_page_of(request: Request) -> dict[str, Any]:
    fl = context_of(request).fl
    query = request.query_params
    return fl.browse.runs(
        run_filter(request),
        sort=query.get("sort") or "created",
        descending=query.get("order", "desc") != "asc",
        offset=integer(request, "offset", 0),
        limit=integer(request, "limit", 50),
    )


def runs(request: Request) -> Response:
    page = runs_page_of(request)
    query = request.query_params
    state = [(key, value) for key, value in query.multi_items() if key not in ("offset",)]
    return context_of(request).pages.render(
        request, "runs.html", page=page, query=query, state=state, title="Runs"
    )


def _code_and_environment(environment: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    code_keys = ("git_commit", "git_dirty", "git_remote", "entry")
    code = {key: environment[key] for key in code_keys if key in environment}
    rest = {key: value for key, value in environment.items() if key not in code_keys}
    return code, rest


def run(request: Request) -> Response:
    context = context_of(request)
    fl = context.fl
    run_id = request.path_params["run_id"]
    metadata = fl.get_metadata(run_id)
    outline = context.timelines.outline(fl, metadata)
    offset = max(0, integer(request, "offset", 0))
    rows = [
        {
            "name": outline.names[index],
            "task": outline.task_names[index],
            "parent": outline.parents[index],
            "status": outline.statuses[index].value,
            "start": outline.start_times[index],
            "end": outline.end_times[index],
            "origin": outline.origins[index].value,
            "attempts": len(outline.attempts.get(index, ())) or 1,
        }
        for index in range(offset, min(len(outline), offset + STEP_PAGE))
    ]
    failing = []
    if metadata["status"] != "SUCCESSFUL":
        failing = fl.browse.failing_steps(run_id, outline)
    code, environment = _code_and_environment(metadata["environment"])
    return context.pages.render(
        request,
        "run.html",
        run=metadata,
        arguments=named_arguments(metadata),  # by parameter name, as `flightlog show` says
        rows=rows,
        offset=offset,
        step_page=STEP_PAGE,
        step_count=len(outline),
        failing=failing,
        identity=code,
        environment=environment,
        can_delete=hasattr(fl, "delete_run"),
        title=f"Run {run_id}",
    )


def plan(request: Request) -> Response:
    context = context_of(request)
    run_id = request.path_params["run_id"]
    metadata = context.fl.get_metadata(run_id)
    try:
        found: Any = context.fl.plan_resume(run_id)
        notes = list(found.notes)
    except FlightlogError as error:
        found, notes = [], [str(error)]
    return context.pages.render(
        request, "plan.html", run=metadata, plan=list(found), notes=notes, title=f"Plan {run_id}"
    )


def _log_lines(log: str, search: str, level: str) -> list[str]:
    lines = log.splitlines()
    if level:
        lines = [line for line in lines if level.upper() in line]
    if search:
        needle = search.lower()
        lines = [line for line in lines if needle in line.lower()]
    return lines


def step(request: Request) -> Response:
    context = context_of(request)
    fl = context.fl
    run_id, name = request.path_params["run_id"], request.path_params["name"]
    metadata = fl.get_metadata(run_id, name)
    values = fl.browse.step_values(run_id, name)
    query = request.query_params
    search, level = query.get("log_q", ""), query.get("level", "")
    metrics: dict[str, list[dict[str, Any]]] = {}
    for point in fl.metrics(run_id):
        if point["task_step"] == name:
            metrics.setdefault(point["name"], []).append(point)
    attachments = fl.attachments(run_id, name)
    for item in attachments:
        lower = item["name"].lower()
        item["image"] = any(lower.endswith(suffix) for suffix in IMAGE_TYPES)
        item["text"] = None
        if lower.endswith(TEXT_TYPES) and item["size"] <= 64 * 1024:
            data = fl.read_attachment(run_id, item["name"], name)
            item["text"] = data.decode("utf-8", errors="replace")
    try:
        explained: dict[str, Any] | None = fl.explain(run_id, name)
    except FlightlogError as error:
        explained = {"decision": "unknown", "why": str(error)}
    return context.pages.render(
        request,
        "step.html",
        run_id=run_id,
        step=metadata,
        values=values,
        log_lines=_log_lines(metadata["log"], search, level),
        log_total=len(metadata["log"].splitlines()),
        search=search,
        level=level,
        metrics={key: (points[-1], len(points)) for key, points in metrics.items()},
        attachments=attachments,
        explained=explained,
        title=f"Step {name}",
    )

"""JSON for the pages' scripts (and for anyone scripting against the server): a page of runs,
a run's timeline (from a step index on, for live updates), a step's live state, metric
series, and attachment bytes."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..errors import InvalidInputError, NotFoundError
from .analysis import chosen_runs
from .context import context_of
from .pages import IMAGE_TYPES, integer, runs_page_of


def as_json(value: Any) -> Response:
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=repr)
    return Response(body, media_type="application/json")


def runs(request: Request) -> Response:
    return as_json(runs_page_of(request))


def timeline(request: Request) -> Response:
    """The run's timeline from step ``first`` on, packed (see :mod:`.timelines`)."""
    context = context_of(request)
    run = context.fl.get_metadata(request.path_params["run_id"])
    first = max(0, integer(request, "first", 0))
    if first == 0 and "gzip" in request.headers.get("accept-encoding", ""):
        data = context.timelines.gzipped(context.fl, run)  # compressed once per run
        headers = {"content-encoding": "gzip", "vary": "Accept-Encoding"}
        return Response(data, media_type="application/json", headers=headers)
    text = context.timelines.text(context.fl, run, first)
    return Response(text, media_type="application/json")


def step_live(request: Request) -> Response:
    """The step's status, end and log from character ``after`` on (a tail)."""
    fl = context_of(request).fl
    metadata = fl.get_metadata(request.path_params["run_id"], request.path_params["name"])
    after = max(0, integer(request, "after", 0))
    log = metadata["log"]
    return as_json(
        {
            "status": metadata["status"],
            "stats": metadata["stats"],
            "log": log[after:],
            "log_end": len(log),
        }
    )


def metrics(request: Request) -> Response:
    """``{run_id: {metric: {"steps", "values", "total", "thinned"}}}`` (values not numbers:
    null) for the runs given (``run=``, repeated) and the metric ``name`` if given; with
    ``points=N``, each series thinned to about N points that keep its envelope (a plot N/2
    pixels wide loses nothing it could show)."""
    fl = context_of(request).fl
    name = request.query_params.get("name") or None
    points = integer(request, "points", 0) or None
    return as_json(
        {run_id: fl.browse.metric_series(run_id, name, points) for run_id in chosen_runs(request)}
    )


def statuses(request: Request) -> Response:
    """``{run_id: status}`` for the runs given (``run=``, repeated; ``runs=``), null for a run
    that is not there: what a live page polls to know when to stop."""
    fl = context_of(request).fl
    found: dict[str, str | None] = {}
    for run_id in chosen_runs(request):
        try:
            found[run_id] = fl.get_status(run_id)
        except NotFoundError:
            found[run_id] = None
    return as_json(found)


def attachment(request: Request) -> Response:
    """The bytes of an attachment: a download, or shown in the page (``inline=1``) for images
    of the common raster types only (an SVG could carry script)."""
    fl = context_of(request).fl
    run_id, name = request.path_params["run_id"], request.path_params["name"]
    step = request.query_params.get("step") or None
    data = fl.read_attachment(run_id, name, step)
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    inline = request.query_params.get("inline") == "1"
    if inline and suffix not in IMAGE_TYPES:
        raise InvalidInputError(f"attachment {name!r} is not an image that can be shown")
    media = IMAGE_TYPES[suffix] if inline else "application/octet-stream"
    safe_name = "".join(char if char.isalnum() or char in "._-" else "_" for char in name)
    disposition = "inline" if inline else f'attachment; filename="{safe_name}"'
    return Response(data, media_type=media, headers={"content-disposition": disposition})

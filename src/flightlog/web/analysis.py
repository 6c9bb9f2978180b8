"""The pages across runs: metrics plotted, runs compared, resource collections."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from ..errors import InvalidInputError, NotFoundError
from .context import context_of

if TYPE_CHECKING:
    from ..client import Flightlog

RESOURCE_STATUSES = ("completed", "pending", "error", "unavailable")


# The statuses of a run that may still record metrics: its plots follow it.
LIVE = ("RUNNING", "PENDING")


def chosen_runs(request: Request) -> list[str]:
    """The runs chosen: ``run=`` repeated (check boxes, links), and ``runs=`` holding ids
    separated by spaces (a typed list)."""
    found = [run_id for run_id in request.query_params.getlist("run") if run_id]
    found += (request.query_params.get("runs") or "").split()
    return list(dict.fromkeys(found))


def metrics(request: Request) -> Response:
    fl = context_of(request).fl
    run_ids = chosen_runs(request)
    last = fl.compare(run_ids) if run_ids else {}
    names = sorted({name for values in last.values() for name in values})
    live = any(_status(fl, run_id) in LIVE for run_id in run_ids)
    return context_of(request).pages.render(
        request,
        "metrics.html",
        run_ids=run_ids,
        names=names,
        last=last,
        live=live,
        title="Metrics",
    )


def _status(fl: Flightlog, run_id: str) -> str | None:
    try:
        return fl.get_status(run_id)
    except NotFoundError:
        return None


def compare(request: Request) -> Response:
    fl = context_of(request).fl
    run_ids = chosen_runs(request)
    only_differences = request.query_params.get("diff") == "1"
    rows = fl.browse.compare(run_ids) if run_ids else []
    if only_differences:
        rows = [row for row in rows if row["differs"]]
    steps = fl.browse.step_differences(run_ids[0], run_ids[1]) if len(run_ids) >= 2 else []
    return context_of(request).pages.render(
        request,
        "compare.html",
        run_ids=run_ids,
        rows=rows,
        steps=steps,
        only_differences=only_differences,
        title="Compare runs",
    )


def resources(request: Request) -> Response:
    fl = context_of(request).fl
    return context_of(request).pages.render(
        request, "resources.html", collections=fl.stats(), title="Resources"
    )


def collection(request: Request) -> Response:
    fl = context_of(request).fl
    name = request.path_params["collection"]
    status = request.query_params.get("status") or "error"
    if status not in RESOURCE_STATUSES:
        known = ", ".join(RESOURCE_STATUSES)
        raise InvalidInputError(f"unknown resource status {status!r}; known: {known}")
    counts = fl.stats(name)["counts"]
    idents = fl.fetch_by_status(name, status)
    return context_of(request).pages.render(
        request,
        "collection.html",
        name=name,
        counts=counts,
        status=status,
        statuses=RESOURCE_STATUSES,
        idents=idents[:1000],
        more=max(0, len(idents) - 1000),
        title=f"Collection {name}",
    )


def resource(request: Request) -> Response:
    fl = context_of(request).fl
    name, ident = request.path_params["collection"], request.path_params["ident"]
    return context_of(request).pages.render(
        request,
        "resource.html",
        name=name,
        ident=ident,
        status=fl.status(name, ident),
        error=fl.fetch_error(name, ident),
        log=fl.fetch_log(name, ident),
        title=f"Resource {ident}",
    )

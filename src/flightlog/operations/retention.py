"""Deleting runs, by name or by a retention rule, with what they alone used.

What goes with a run: its steps, metric chunks and attachment references (the store deletes
them together, see ``Store.delete_run``), then the resources it computed that no kept run used,
with their folders (see :mod:`flightlog.resources.retention`: what a crash in between leaves,
``gc`` sweeps), then the blobs that no kept run references. What
never goes:

- a live run (RUNNING, or PENDING, with its owner alive); a run whose owner died reads
  RESUMABLE and may go;
- a run whose cached results a kept run took (a kept run's step served from cache names it
  as its ``source_run``): retention keeps it, and an explicit delete refuses it unless
  ``force`` (the kept run keeps its own copy of the result; only the link dangles);
- a blob that a kept record references (an attachment, or a value out of line in a run's
  arguments or output, a step's arguments or result, a resource: ``referenced_blobs``), or
  that was put while a live run may still reference it: blobs put (or put again) after the
  earliest start of the runs live when the deletion began (and, on a store that several
  hosts share, within ``blob_grace`` seconds before it: their clocks may differ) stay.

Each run is deleted by a compare-and-set against the state it was judged in, so a run resumed
or finished meanwhile, or one that a new run took cached results from meanwhile, stays and is
reported kept. Runs are deleted dependents first, so a run and the runs that took its cached
results can go together. Afterwards a store whose files do not shrink by themselves (SQLite)
is compacted.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..codec_blobs import blob_references
from ..errors import ConflictError, InvalidInputError, NotFoundError
from ..model import ResourceRecord, Run, Status
from ..resources import retention as resource_retention
from ..runtime.flights import RESERVED_PREFIX
from ..runtime.liveness import effective_end, effective_status
from ..stores import CompactingStore, Store, iter_steps
from .durations import parse_age

_LIVE = frozenset({Status.RUNNING, Status.PENDING})
_DEFAULT_STATUSES = frozenset({Status.SUCCESSFUL, Status.FAILED, Status.CANCELED, Status.RESUMABLE})
SHARED_STORE_GRACE = 600.0
"""Seconds of ``blob_grace`` by default on stores that several hosts share (PostgreSQL)."""


@dataclass
class GcReport:
    """What a deletion removed (or, for a dry run, would remove).

    ``runs``: the ids of the runs, ``steps``: how many steps they held, ``resources``: the
    resources they computed that no kept run used, as ``"collection/ident"`` (records and
    folders), ``blobs`` and ``bytes``: the blobs that went with them (and blobs no run
    referenced any more) and their size. ``kept``: runs that matched but stay, and why.
    ``compacted``: bytes the store's files shrank by afterwards (SQLite).
    """

    runs: list[str] = field(default_factory=list)
    steps: int = 0
    resources: list[str] = field(default_factory=list)
    blobs: int = 0
    bytes: int = 0
    dry_run: bool = False
    kept: dict[str, str] = field(default_factory=dict)
    compacted: int = 0


def _last_activity(run: Run) -> float:
    times = (effective_end(run), run.start_time, run.created_time, run.last_seen)
    return max((moment for moment in times if moment is not None), default=0.0)


def _grace(store: Store, blob_grace: float | None) -> float:
    if blob_grace is not None:
        return parse_age(blob_grace, "blob_grace")
    shared = type(store).__name__ == "PostgresStore"
    return SHARED_STORE_GRACE if shared else 0.0


def _blob_limit(runs: Iterable[Run], started: float, grace: float) -> float:
    """Blobs last put before this may go: the start of the deletion, or of the earliest
    run live then, less the grace."""
    limit = started
    for run in runs:
        if effective_status(run) in _LIVE:
            limit = min(limit, run.start_time or run.created_time or started)
    return limit - grace


def _protect(store: Store, chosen: dict[str, Run], kept: dict[str, str]) -> dict[str, set[str]]:
    """Take out of ``chosen`` every run whose cached results a run not chosen took (until no
    more change); return who took from whom among the rest."""
    while True:
        dependents = store.cache_dependents(list(chosen))
        outside = {
            run_id: users - set(chosen)
            for run_id, users in dependents.items()
            if run_id in chosen and users - set(chosen)
        }
        if not outside:
            return dependents
        for run_id, users in outside.items():
            del chosen[run_id]
            kept[run_id] = f"kept runs took cached results from it: {', '.join(sorted(users))}"


def _blobs(store: Store, runs: Sequence[Run]) -> dict[str, int]:
    """The blobs that the runs reference (attachments, and values out of line in their
    arguments, output and steps) and no other run's attachment does, with their sizes.
    Values out of line of other records are checked at the end (:func:`_finish`)."""
    sizes: dict[str, int] = {}
    values: set[str] = set()
    for run in runs:
        for item in store.list_attachments(run.run_id):
            sizes[item.sha256] = item.size
        values |= blob_references(run.arguments) | blob_references(run.output)
        for step in iter_steps(store, run.run_id):
            values |= blob_references(step.arguments) | blob_references(step.result)
    for digest in values - set(sizes):
        size = store.blob_size(digest)
        if size is not None:
            sizes[digest] = size
    going = {run.run_id for run in runs}
    users = store.blob_users(list(sizes))
    return {digest: size for digest, size in sizes.items() if users.get(digest, set()) <= going}


def _resources(
    store: Store,
    root: Path | None,
    going: list[ResourceRecord],
    report: GcReport,
    blobs: dict[str, int],
) -> None:
    """Delete (or, for a dry run, name) the resources judged to go with the chosen runs,
    after the runs (only those of runs deleted go: see :mod:`flightlog.resources.retention`);
    add the blobs their values held out of line to ``blobs``."""
    if not report.dry_run:
        going = resource_retention.delete_resources(store, root, going, report.runs)
    report.resources = [  # not the claims of cache keys: flightlog's own records
        f"{record.collection}/{record.ident}"
        for record in going
        if not record.collection.startswith(RESERVED_PREFIX)
    ]
    _value_blobs(store, going, blobs)


def _value_blobs(store: Store, records: Iterable[ResourceRecord], blobs: dict[str, int]) -> None:
    for record in records:
        for digest in blob_references(record.arguments) | blob_references(record.result):
            if digest not in blobs:
                size = store.blob_size(digest)
                if size is not None:
                    blobs[digest] = size


def _execute(
    store: Store,
    chosen: dict[str, Run],
    dependents: dict[str, set[str]],
    report: GcReport,
    *,
    force: bool,
) -> None:
    """Delete the chosen runs, each after the runs that took its cached results."""
    pending = dict(chosen)
    while pending:
        ready = [run_id for run_id in pending if not (dependents.get(run_id, set()) & set(pending))]
        cycle = not ready  # runs that took each other's results: all of them go, so force
        for run_id in ready or list(pending):
            run = pending.pop(run_id)
            try:
                deleted = store.delete_run(
                    run_id,
                    expected_status=run.status,
                    expected_resumes=run.resumes,
                    force=force or cycle,
                )
            except NotFoundError:
                deleted = False  # deleted by another process meanwhile
            if deleted:
                report.runs.append(run_id)
                report.steps += run.step_count
            else:
                report.kept[run_id] = "it changed meanwhile (resumed, finished, or used)"


def _finish(
    store: Store,
    report: GcReport,
    blobs: dict[str, int],
    limit: float,
    vacuum: bool,
) -> GcReport:
    if blobs:  # what a record that stays refers to stays: attachments, values out of line
        used = store.referenced_blobs(except_runs=report.runs if report.dry_run else ())
        blobs = {digest: size for digest, size in blobs.items() if digest not in used}
    if report.dry_run:
        report.blobs, report.bytes = len(blobs), sum(blobs.values())
        return report
    deleted = store.delete_blobs(list(blobs), put_before=limit)
    report.blobs, report.bytes = len(deleted), sum(deleted.values())
    if isinstance(store, CompactingStore) and (report.runs or report.blobs or vacuum):
        report.compacted = store.compact(full=vacuum)
    return report


def delete_runs(
    store: Store,
    run_ids: Sequence[str],
    *,
    force: bool = False,
    dry_run: bool = False,
    vacuum: bool = False,
    blob_grace: float | None = None,
    resource_root: Path | None = None,
) -> GcReport:
    """Delete the named runs (see the module's rules); resource folders are under
    ``resource_root`` (None: the resources' records only). A run that is unknown
    (NotFoundError), live, or whose cached results a run not named took (unless ``force``)
    (ConflictError) stops the deletion before anything is deleted."""
    started = time.time()
    if not run_ids:
        raise InvalidInputError("name at least one run to delete")
    chosen: dict[str, Run] = {}
    for run_id in run_ids:
        run = store.get_run(run_id)
        if run is None:
            raise NotFoundError(f"no run with id {run_id!r} in {store.url}")
        status = effective_status(run)
        if status in _LIVE:
            raise ConflictError(
                f"run {run_id!r} is {status.value}: its owner is alive; cancel it first"
            )
        chosen[run_id] = run
    dependents = store.cache_dependents(list(chosen))
    for run_id, users in dependents.items():
        others = users - set(chosen)
        if others and not force:
            raise ConflictError(
                f"runs took cached results from run {run_id!r}: {', '.join(sorted(others))}; "
                "delete them too, or force it (they keep their results)"
            )
    report = GcReport(dry_run=dry_run)
    limit = _blob_limit(store.list_runs(statuses=_LIVE), started, _grace(store, blob_grace))
    blobs = _blobs(store, list(chosen.values()))
    going = resource_retention.resources_going(store, chosen)  # judged before the runs go
    if dry_run:
        report.runs = list(chosen)
        report.steps = sum(run.step_count for run in chosen.values())
    else:
        _execute(store, chosen, dependents, report, force=force)
    _resources(store, resource_root, going, report, blobs)
    return _finish(store, report, blobs, limit, vacuum)


def collect(
    store: Store,
    *,
    older_than: str | float | None = None,
    keep_last: int | None = None,
    statuses: Iterable[Status] | None = None,
    dry_run: bool = False,
    vacuum: bool = False,
    blob_grace: float | None = None,
    resource_root: Path | None = None,
) -> GcReport:
    """Delete the runs that a retention rule lets go (see the module's rules): runs with one
    of ``statuses`` (default: every finished status and RESUMABLE), whose last activity is
    more than ``older_than`` ago, beyond the ``keep_last`` newest runs of their workflow;
    then every blob that no run references (put before the limit). At least one rule must
    be given."""
    started = time.time()
    if older_than is None and keep_last is None and statuses is None:
        raise InvalidInputError(
            "say which runs may go: older_than, keep_last or status (gc keeps everything else)"
        )
    age = None if older_than is None else parse_age(older_than, "older_than")
    if keep_last is not None and (isinstance(keep_last, bool) or keep_last < 0):
        raise InvalidInputError(f"keep_last must be a whole number >= 0, not {keep_last!r}")
    wanted = _DEFAULT_STATUSES if statuses is None else frozenset(statuses)
    runs = store.list_runs()  # newest first
    report = GcReport(dry_run=dry_run)
    chosen: dict[str, Run] = {}
    seen: dict[str, int] = {}
    for run in runs:
        newer = seen.get(run.workflow, 0)
        seen[run.workflow] = newer + 1
        status = effective_status(run)
        if status not in wanted:
            continue
        if status in _LIVE:
            report.kept[run.run_id] = f"it is {status.value}: its owner is alive"
            continue
        if age is not None and _last_activity(run) > started - age:
            continue
        if keep_last is not None and newer < keep_last:
            continue
        chosen[run.run_id] = run
    dependents = _protect(store, chosen, report.kept)
    limit = _blob_limit(runs, started, _grace(store, blob_grace))
    blobs = _blobs(store, list(chosen.values()))
    going = resource_retention.resources_going(store, chosen)  # judged before the runs go
    blobs.update(store.unused_blobs(put_before=limit))
    if dry_run:
        report.runs = list(chosen)
        report.steps = sum(run.step_count for run in chosen.values())
    else:
        _execute(store, chosen, dependents, report, force=False)
        # and what a deletion that stopped part-way left: resources whose run is gone
        known = {(record.collection, record.ident) for record in going}
        going += [
            r for r in resource_retention.orphans(store) if (r.collection, r.ident) not in known
        ]
        resource_retention.sweep_trash(resource_root)
    _resources(store, resource_root, going, report, blobs)
    return _finish(store, report, blobs, limit, vacuum)

"""Copy runs and resources from one store to another, losslessly: ``flightlog.copy``.

Everything goes through the :class:`~flightlog.stores.Store` protocol, so any two stores (memory,
SQLite, JSON files, PostgreSQL, a plugin's) can be source and destination. What is copied, for
each run: the run record (arguments, status, history of attempts, owner, output, error, ...)
with ``put_run``; its steps (attempts, results, logs, errors, origins) with ``finish_step``; the
task versions they name with ``record_task``; its metric chunks and attachment references, in
the order they were written, with ``record_tracked``, and the attachments' bytes with
``put_blob`` (checked against their sha256); the blobs of values stored out of line (large
results and arguments) with ``put_blob_stream``, a piece at a time, before the record that
names them; its uses of resources with ``record_resource_uses``. Then every resource with
``put_resource``, its task version, and its folder (``resources/<collection>/<ident>/``:
``ctx.subdir`` files and log) when both stores have a data directory.

Copying is idempotent: what the destination holds already is compared first and not written
again, so copying twice adds nothing, and a run that changed in the source since (it finished,
was resumed, recorded more steps or metrics) is brought up to date. A run id that names a
different run in the destination (another workflow, or created at another time) is a conflict:
it is left alone and reported, and the copy goes on.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

from ..codec_blobs import blob_references
from ..errors import InvalidInputError, NotFoundError, StoreError
from ..model import AttachmentRecord, MetricChunk, ResourceRecord, Run, Status
from ..questions.times import parse_time
from ..redaction import redact
from ..resources.names import check_collection, check_ident
from ..runtime.flights import RESERVED_PREFIX
from ..stores import Store, open_store
from ..stores.base import FinishedStep

__all__ = ["CopyProgress", "CopyReport", "copy_store", "parse_since"]

STEP_BATCH = 1000
"""Steps written in one transaction (``Store.finish_steps``)."""
_FINISHED = frozenset({Status.SUCCESSFUL, Status.FAILED, Status.CANCELED})


class HasStore(Protocol):
    """What ``flightlog.open`` returns: anything with a ``store``."""

    @property
    def store(self) -> Store: ...


Source = str | Store | HasStore


@dataclass
class CopyReport:
    """What a copy wrote: ``runs`` created or brought up to date (``unchanged`` ones were
    there already), ``steps`` written, metric ``chunks`` and ``attachments`` appended,
    ``blobs`` put, ``tasks`` versions recorded, ``resources`` written, runs' ``uses`` of
    resources recorded; and the ``conflicts`` (run ids, or ``collection/ident``) left alone,
    each with why."""

    runs: int = 0
    unchanged: int = 0
    steps: int = 0
    chunks: int = 0
    attachments: int = 0
    blobs: int = 0
    tasks: int = 0
    resources: int = 0
    uses: int = 0
    conflicts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready dict (what ``flightlog copy --json`` prints)."""
        return {
            "runs": self.runs,
            "unchanged": self.unchanged,
            "steps": self.steps,
            "chunks": self.chunks,
            "attachments": self.attachments,
            "blobs": self.blobs,
            "tasks": self.tasks,
            "resources": self.resources,
            "uses": self.uses,
            "conflicts": list(self.conflicts),
        }


@dataclass(frozen=True)
class CopyProgress:
    """Where a copy is: ``done`` of ``total`` items of ``phase`` ("runs" or "resources")."""

    phase: str
    done: int
    total: int


def parse_since(value: object, now: float | None = None) -> float:
    """A moment as Unix epoch seconds, read as every ``since`` is (see
    :func:`flightlog.questions.parse_time`). InvalidInputError names a value that is not a
    time."""
    moment = parse_time(value, "since", now=now)
    if moment is None:
        raise InvalidInputError("since must be a time, not None")
    return moment


def _last_touched(run: Run) -> float:
    """The latest moment the run's record speaks of."""
    times = [run.created_time, run.start_time, run.end_time, run.last_seen]
    times.extend(attempt.end_time or attempt.start_time for attempt in run.history)
    return max((moment for moment in times if moment is not None), default=0.0)


def _same_run(found: Run, run: Run) -> bool:
    """Whether ``found`` (in the destination) is a copy of ``run``, perhaps out of date."""
    return (found.workflow, found.created_time, found.arguments) == (
        run.workflow,
        run.created_time,
        run.arguments,
    )


def _chunk_key(chunk: MetricChunk) -> str:
    # repr, not ==: a NaN value is equal to nothing, not even itself
    values = (chunk.name, chunk.position, chunk.step_name, chunk.steps, chunk.values, chunk.times)
    return repr(tuple(list(part) if isinstance(part, Sequence) and not isinstance(part, str)
                      else part for part in values))  # fmt: skip


def _missing_tail(have: Sequence[Any], want: Sequence[Any], key: Callable[[Any], Any]) -> Any:
    """``want``'s items after those the destination ``have``s already (a prefix), or None
    when what it has is not a prefix of ``want``."""
    if len(have) > len(want):
        return None
    for mine, theirs in zip(have, want, strict=False):
        if key(mine) != key(theirs):
            return None
    return list(want[len(have) :])


class _Pieces:
    """A blob's pieces as the source reads them (checked against its digest at the end), read
    again when the destination retries its write."""

    def __init__(self, source: Store, digest: str) -> None:
        self.source, self.digest = source, digest

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.source.read_blob_chunks(self.digest))


class _Copier:
    def __init__(
        self,
        source: Store,
        target: Store,
        report: CopyReport,
        folders: tuple[Path, Path] | None,
    ) -> None:
        self.source = source
        self.target = target
        self.report = report
        self.folders = folders
        self.tasks_seen: set[str] = set()
        self.blobs_seen: set[str] = set()

    def values(self, *texts: str | None) -> None:
        """Copy the blobs that values stored out of line name (large results and arguments),
        streamed a piece at a time and checked, before the record that names them."""
        for digest in sorted(set().union(*(blob_references(text) for text in texts))):
            if digest in self.blobs_seen:
                continue
            size = self.source.blob_size(digest)
            if size is None:
                raise StoreError(
                    f"the source {redact(self.source.url)} lacks the blob {digest} that a "
                    "value stored out of line refers to"
                )
            if self.target.put_blob_stream(digest, size, _Pieces(self.source, digest)):
                self.report.blobs += 1
            self.blobs_seen.add(digest)

    def task(self, task_id: str | None) -> None:
        if task_id is None or task_id in self.tasks_seen:
            return
        self.tasks_seen.add(task_id)
        task = self.source.get_task(task_id)
        if task is not None and self.target.get_task(task_id) is None:
            self.target.record_task(task)
            self.report.tasks += 1

    def run(self, run: Run) -> None:
        found = self.target.get_run(run.run_id)
        if found is not None and not _same_run(found, run):
            self.report.conflicts.append(
                f"run {run.run_id}: the destination holds another run under this id "
                f"(workflow {found.workflow!r}, created {found.created_time})"
            )
            return
        changed = found is None
        # The destination's count of the run's steps (kept by a finished run where the store
        # keeps counts): one that differs from the source's is counted again below (a copy
        # stopped after the steps but before the run was written again kept a stale one).
        stale = found is not None and found.step_count != run.step_count
        if found is not None:
            found.step_count = run.step_count
            changed = found != run
        if changed:
            self.values(run.arguments, run.output)
            self.target.put_run(run)
        steps = self.steps(run.run_id)
        if (steps or stale) and run.status in _FINISHED:  # written again: counted now
            self.target.put_run(run)
        tracked = self.tracked(run.run_id) + self.uses(run.run_id)
        if changed or steps or tracked:
            self.report.runs += 1
        else:
            self.report.unchanged += 1

    def steps(self, run_id: str) -> int:
        present = {step.position: step for step in self.target.list_steps(run_id)}
        written = 0
        batch: list[FinishedStep] = []
        for step in self.source.list_steps(run_id):
            self.task(step.task_id)
            if present.get(step.position) != step:
                self.values(step.arguments, step.result)
                batch.append((step, (), ()))
                if len(batch) >= STEP_BATCH:
                    self.target.finish_steps(batch)
                    written += len(batch)
                    batch = []
        if batch:
            self.target.finish_steps(batch)
            written += len(batch)
        self.report.steps += written
        return written

    def tracked(self, run_id: str) -> int:
        chunks: list[MetricChunk] | None = _missing_tail(
            self.target.list_metrics(run_id), self.source.list_metrics(run_id), _chunk_key
        )
        if chunks is None:
            self.report.conflicts.append(
                f"run {run_id}: its metrics in the destination differ from the source's"
            )
            chunks = []
        have = self.target.list_attachments(run_id)
        want = self.source.list_attachments(run_id)
        attachments: list[AttachmentRecord] | None = _missing_tail(have, want, lambda a: a)
        if attachments is None:
            self.report.conflicts.append(
                f"run {run_id}: its attachments in the destination differ from the source's"
            )
            attachments = []
        for digest in dict.fromkeys(record.sha256 for record in attachments):
            self.blob(digest)
        if chunks or attachments:
            self.target.record_tracked(run_id, metrics=chunks, attachments=attachments)
        self.report.chunks += len(chunks)
        self.report.attachments += len(attachments)
        return len(chunks) + len(attachments)

    def uses(self, run_id: str) -> int:
        """The run's uses of resources that the destination lacks."""
        have = set(self.target.resource_uses([run_id]))
        missing = [use for use in self.source.resource_uses([run_id]) if use not in have]
        if missing:
            self.target.record_resource_uses(missing)
        self.report.uses += len(missing)
        return len(missing)

    def blob(self, digest: str) -> None:
        data = self.source.get_blob(digest)
        if data is None:
            raise StoreError(
                f"the source {redact(self.source.url)} lacks the attachment blob {digest}"
            )
        if hashlib.sha256(data).hexdigest() != digest:
            raise StoreError(
                f"the source {redact(self.source.url)} holds damaged bytes under blob {digest}"
            )
        self.target.put_blob(data)
        self.report.blobs += 1

    def resource(self, record: ResourceRecord, found: ResourceRecord | None) -> None:
        self.task(record.task_id)
        if found != record:
            self.values(record.arguments, record.result)
            self.target.put_resource(record)
            self.report.resources += 1
        if self.folders is not None:
            collection = check_collection(record.collection)
            ident = check_ident(collection, record.ident)
            source, target = (root / "resources" / collection / ident for root in self.folders)
            if source.is_dir() and not source.is_symlink():
                shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)


def _opened(place: Source, create: bool, what: str) -> tuple[Store, bool]:
    """The store, and whether this copy opened it (and so closes it)."""
    if isinstance(place, str):
        return open_store(place, create=create), True
    store = cast(Store, getattr(place, "store", place))
    if not all(hasattr(store, name) for name in ("url", "list_runs", "list_steps")):
        raise InvalidInputError(
            f"the {what} of a copy must be a store URL, a store or a Flightlog, "
            f"not {type(place).__name__}"
        )
    return store, False


def _check_target(store: Store) -> None:
    missing = [name for name in ("put_run", "put_resource") if not hasattr(store, name)]
    if missing:
        raise StoreError(
            f"the store {redact(store.url)} cannot take copies: it lacks "
            f"{' and '.join(missing)} (Store methods that a copy needs: its plugin must add them)"
        )


def _selected(source: Store, runs: Iterable[str] | None, since: float | None) -> list[Run]:
    """The runs to copy, oldest first (so that they keep their order in the destination)."""
    if isinstance(runs, str):
        runs = [runs]
    if runs is None:
        found = list(reversed(source.list_runs()))
    else:
        found = []
        for run_id in dict.fromkeys(runs):
            run = source.get_run(run_id)
            if run is None:
                raise NotFoundError(f"no run with id {run_id!r} in {redact(source.url)}")
            found.append(run)
    if since is not None:
        found = [run for run in found if _last_touched(run) >= since]
    return found


def _resources(source: Store, since: float | None) -> list[ResourceRecord]:
    # Cache claims (reserved collections) coordinate computations in flight: not history.
    counts = source.count_resources()
    collections = sorted(
        {c.collection for c in counts if not c.collection.startswith(RESERVED_PREFIX)}
    )
    found = [record for name in collections for record in source.list_resources(name)]
    if since is not None:
        found = [
            record
            for record in found
            if max(
                (t for t in (record.created_time, record.start_time, record.end_time) if t),
                default=0.0,
            )
            >= since
        ]
    return found


def copy_store(
    source: Source,
    target: Source,
    *,
    runs: Iterable[str] | None = None,
    since: object = None,
    resources: bool | None = None,
    data_dirs: tuple[str | Path | None, str | Path | None] = (None, None),
    progress: Callable[[CopyProgress], None] | None = None,
) -> CopyReport:
    """Copy runs (all, or those of ``runs``; with ``since``, only those created or changed
    since then) and resources from ``source`` to ``target`` (URLs, opened stores or
    Flightlog objects). Resources are copied unless ``runs`` names runs (or ``resources`` is
    False); their folders when both stores have a data directory (or ``data_dirs`` gives
    them). ``progress`` is called as items are done. Returns what was written."""
    moment = None if since is None else parse_since(since)
    source_store, close_source = _opened(source, False, "source")
    try:  # every named run found before the destination is opened (made, if missing)
        chosen = _selected(source_store, runs, moment)
        target_store, close_target = _opened(target, True, "destination")
    except BaseException:
        if close_source:
            source_store.close()
        raise
    try:
        folders = None
        roots = [
            given or store.data_directory()
            for given, store in zip(data_dirs, (source_store, target_store), strict=True)
        ]
        if roots[0] is not None and roots[1] is not None:
            pair = (Path(roots[0]).absolute(), Path(roots[1]).absolute())
            folders = None if pair[0] == pair[1] else pair
        _check_target(target_store)
        report = CopyReport()
        copier = _Copier(source_store, target_store, report, folders)
        for done, run in enumerate(chosen, 1):
            copier.run(run)
            if progress is not None:
                progress(CopyProgress("runs", done, len(chosen)))
        if resources if resources is not None else runs is None:
            records = _resources(source_store, moment)
            present: dict[tuple[str, str], ResourceRecord] = {}
            for name in sorted({record.collection for record in records}):
                present.update(((name, r.ident), r) for r in target_store.list_resources(name))
            for done, record in enumerate(records, 1):
                copier.resource(record, present.get((record.collection, record.ident)))
                if progress is not None:
                    progress(CopyProgress("resources", done, len(records)))
        return report
    finally:
        try:
            if close_target:
                target_store.close()
        finally:
            if close_source:
                source_store.close()

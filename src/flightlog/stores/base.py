"""The one interface every store implements.

A store is the single authoritative source of runtime state. It speaks in model records
(:mod:`flightlog.model`), never in rows or dicts, and each method states what it guarantees.
Every store must pass the conformance suite in ``flightlog.testing``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from ..model import (
    AttachmentRecord,
    ErrorInfo,
    MetricChunk,
    Owner,
    ResourceCount,
    ResourceRecord,
    ResourceStatus,
    ResourceUse,
    Run,
    RunAttempt,
    Status,
    Step,
    StepOutline,
    TaskRecord,
)
from ..selection import RunSelection, StatusCounts

FinishedStep = tuple[Step, Sequence[MetricChunk], Sequence[AttachmentRecord]]
"""A step's end record with the metrics and attachments recorded with it."""

SCHEMA_VERSION = 5
"""The schema version this flightlog writes; stores refuse to write a newer one, and migrate
an older one forward when they open it (version 2 added a run's history and last-seen time,
and a task's constants; version 3 the time each blob was last put, and the indexes that
deleting runs needs; version 4 which run computed each resource and which runs used it)."""


@runtime_checkable
class Store(Protocol):
    """Durable (or, for ``memory://``, process-local) storage of runs, tasks and steps.

    All methods are safe to call from many threads at once. Writes are atomic: a reader sees a
    record either before or after a write, never half of it. Times are Unix epoch seconds.
    """

    url: str

    def schema_version(self) -> int:
        """The schema version of the data in this store."""
        ...

    def create_run(self, run: Run) -> None:
        """Insert a new run, durably. Raises ConflictError if its run_id exists already."""
        ...

    def restart_run(
        self,
        run_id: str,
        *,
        expected_resumes: int,
        owner: Owner,
        start_time: float,
        lease_expires: float | None,
        history: Sequence[RunAttempt] = (),
    ) -> Run:
        """Claim an existing run for another attempt (resume): RUNNING, new owner and start.

        Compare-and-set: succeeds only while the run's ``resumes`` still equals
        ``expected_resumes`` (read by the caller when it decided the run may be resumed), so of
        many concurrent callers exactly one gets the run; the others get ConflictError and
        nothing changes. Clears end_time, error, output and any cancel request; increments
        ``resumes``; sets ``last_seen`` to ``start_time``; replaces the run's ``history`` with
        ``history`` (the caller passes the history it read plus the attempt that just ended:
        since the claim holds only for the ``resumes`` it read, no attempt is lost or doubled).
        All in one atomic write, durable on return. Raises NotFoundError for an unknown run_id.
        """
        ...

    def finish_run(
        self,
        run_id: str,
        *,
        status: Status,
        end_time: float | None,
        output: str | None = None,
        error: ErrorInfo | None = None,
        expected_resumes: int | None = None,
    ) -> Status:
        """Record the outcome of the run's attempt that the caller drives, durably, and return
        the status the run has afterwards. Unknown run_id: NotFoundError.

        Compare-and-set against cancels and later resumes, in one atomic write:

        - a RUNNING run (whose ``resumes`` equals ``expected_resumes``, when given) gets
          ``status``, ``end_time``, ``output`` and ``error``, and ``status`` is returned;
        - a run canceled meanwhile (CANCELED by :meth:`request_cancel`, same ``resumes``) stays
          CANCELED, without output or error: only its ``end_time`` becomes the one given (when
          its owner really stopped), and CANCELED is returned;
        - any other run (finished already, or claimed by a later resume) is left as it is, and
          its stored status is returned.

        Either write also clears ``lease_expires``: the owner has let go of the run.
        """
        ...

    def renew_leases(self, run_ids: Sequence[str], lease_expires: float) -> None:
        """Extend the lease of RUNNING runs and record the time of the renewal (this process's
        clock, ``time.time()``) as their ``last_seen``; runs that are not RUNNING are left
        alone."""
        ...

    def request_cancel(self, run_id: str, *, end_time: float) -> bool:
        """Cancel a run that has not finished: compare-and-set, one atomic write, durable on
        return. A stored RUNNING run (its owner alive, or gone: it reads RESUMABLE) or a stored
        RESUMABLE one (its owner gave it up) becomes CANCELED at once, with
        ``cancel_requested`` set and ``end_time``; a live owner notices the request, starts no
        new step, and records its real end with :meth:`finish_run`. Returns True.

        A finished run (SUCCESSFUL, FAILED or CANCELED already, perhaps finished just before)
        is left as it is: returns False. Unknown run_id: NotFoundError.
        """
        ...

    def get_run(self, run_id: str) -> Run | None:
        """The run with its step count, or None."""
        ...

    def list_runs(
        self,
        *,
        statuses: Iterable[Status] | None = None,
        workflow: str | None = None,
        tag: str | None = None,
        limit: int | None = None,
    ) -> list[Run]:
        """Runs matching every given filter (stored status), newest first (by creation)."""
        ...

    def select_runs(
        self, selection: RunSelection, *, offset: int = 0, limit: int | None = None
    ) -> list[Run]:
        """The runs in the selection (see :class:`~flightlog.selection.RunSelection`; by
        stored status), with their step counts, newest first (by creation), skipping the
        first ``offset`` of them and giving at most ``limit``. SQL stores answer from their
        indexes; the time does not grow with the number of steps."""
        ...

    def count_statuses(self, selection: RunSelection) -> StatusCounts:
        """How many runs of the selection have each stored status, and how many of their
        steps have each status. SQL stores keep a finished run's counts (written when it
        finishes) and count only the steps of runs still going."""
        ...

    def order_runs(
        self,
        selection: RunSelection,
        *,
        order: str = "created",
        descending: bool = True,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[Run]:
        """The runs in the selection, with their step counts, in an order of
        :data:`~flightlog.stores.python_ordering.RUN_ORDERS` (``created``: creation order, as
        :meth:`select_runs`; the others by a stored column, runs that tie newest first in
        either direction), skipping ``offset`` and giving at most ``limit``. SQL stores read
        only the page's runs. Unknown order: InvalidInputError."""
        ...

    def workflow_names(self, selection: RunSelection) -> list[str]:
        """The workflow names of the runs in the selection, each once, sorted."""
        ...

    def count_runs(self, selection: RunSelection) -> dict[Status, int]:
        """How many runs of the selection have each stored status (non-zero counts only):
        the ``runs`` of :meth:`count_statuses`, without reading their steps' counts."""
        ...

    def record_task(self, task: TaskRecord) -> None:
        """Insert a task version if its task_id is not recorded yet (idempotent). Every field
        is read back as given, ``components`` and ``constants`` included."""
        ...

    def get_task(self, task_id: str) -> TaskRecord | None:
        """The recorded task version, or None."""
        ...

    def start_step(self, step: Step) -> None:
        """Make a running step visible. Never overwrites a step already recorded under the
        same run and position (a late start record loses to the finished one)."""
        ...

    def finish_step(
        self,
        step: Step,
        *,
        metrics: Sequence[MetricChunk] = (),
        attachments: Sequence[AttachmentRecord] = (),
    ) -> None:
        """Record a step in its final (or latest) state, durably, replacing any record of the
        same run and position. The run must exist (else NotFoundError).

        ``metrics`` and ``attachments`` (what the step tracked, and possibly what the run's
        own body tracked meanwhile) are appended to the run's, never replacing earlier ones,
        with the step's end record: once the end record is visible, so are they (one
        transaction where the database has them; otherwise they are written first).
        """
        ...

    def finish_steps(self, finished: Sequence[FinishedStep]) -> None:
        """Record several steps as :meth:`finish_step` does, each with what it tracked, in one
        transaction where the database has them (the driver of a fan-out commits completions
        that arrive together at once). On a store without transactions they are written one
        after the other, in order."""
        ...

    def append_step_log(self, run_id: str, position: int, text: str) -> bool:
        """Append ``text`` to the log of the step at ``position`` while it is recorded RUNNING
        (its output so far, written while it runs so that other processes can follow it), and
        return True. A step not recorded, or recorded in any other status, is left alone and
        False returned: a late append never changes a finished step, whose end record holds
        its whole log. Atomic against :meth:`finish_step` and other appends (none is lost);
        durable on return. Nothing else of the step changes."""
        ...

    def get_step(self, run_id: str, name: str) -> Step | None:
        """The step of that name in that run, or None."""
        ...

    def list_steps(self, run_id: str) -> list[Step]:
        """The run's steps in call order (position); empty for an unknown run."""
        ...

    def steps_page(
        self,
        run_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        after: int | None = None,
    ) -> list[Step]:
        """Part of the run's steps in call order: those after position ``after`` (if given),
        less the first ``offset``, at most ``limit``; empty for an unknown run. Reads only
        those steps."""
        ...

    def find_cached(self, task_id: str, execution_id: str) -> Step | None:
        """The latest SUCCESSFUL step of a cache-enabled task with these identities, or None."""
        ...

    def tasks_named(self, name: str) -> list[TaskRecord]:
        """Every recorded version of the task called ``name``."""
        ...

    def cached_steps(self, task_id: str, limit: int) -> list[Step]:
        """The latest SUCCESSFUL steps of a cache-enabled task version, newest first."""
        ...

    # -- tracked values (see flightlog.tracking) ----------------------------------------------
    def record_tracked(
        self,
        run_id: str,
        *,
        metrics: Sequence[MetricChunk] = (),
        attachments: Sequence[AttachmentRecord] = (),
    ) -> None:
        """Append metric chunks and attachment references to a run outside any step's end
        record (what the run's own body tracked, at its end). Atomic where the database has
        transactions; durable on return. Unknown run_id: NotFoundError."""
        ...

    def list_metrics(self, run_id: str, name: str | None = None) -> list[MetricChunk]:
        """The run's metric chunks (only those of metric ``name``, if given) in the order they
        were written; empty for an unknown run. Callers must not change them."""
        ...

    def metrics_of_runs(self, run_ids: Sequence[str], name: str) -> dict[str, list[MetricChunk]]:
        """The chunks of metric ``name`` of each given run, by run id, each run's in the order
        written (as :meth:`list_metrics`); runs without that metric, and unknown ones, are left
        out. SQL stores read a few hundred runs' chunks in one query."""
        ...

    def list_attachments(self, run_id: str) -> list[AttachmentRecord]:
        """The run's attachment references in the order they were written (a name attached
        twice by one step appears twice; the later one wins); empty for an unknown run."""
        ...

    def put_blob(self, data: bytes) -> str:
        """Store bytes under their sha256 hex digest and return it, durably. Idempotent: the
        same bytes are stored once, however often they are put."""
        ...

    def get_blob(self, sha256: str) -> bytes | None:
        """The bytes stored under that digest, or None."""
        ...

    def put_blob_stream(self, sha256: str, size: int, chunks: Iterable[bytes | memoryview]) -> bool:
        """Store ``size`` bytes, given as the pieces of ``chunks`` (of any sizes; the caller
        computed their ``sha256``), under that digest, durably, holding about one piece at a
        time (SQL and files stores). Idempotent: when the digest is stored already nothing is
        written but the blob's put time (as :meth:`put_blob` does; see :meth:`unused_blobs`)
        and False is returned. A blob is whole or absent, never partly visible; the
        same blob as ``get_blob`` gives. ``chunks`` may be iterated again (a retry)."""
        ...

    def blob_size(self, sha256: str) -> int | None:
        """The size of the blob stored under that digest, or None when there is none."""
        ...

    def read_blob_chunks(self, sha256: str) -> Iterator[bytes]:
        """The blob's bytes a piece at a time, in order (nothing for an unknown digest). The
        pieces are hashed as they pass: after the last one, StoreError if they do not hash
        to the digest. A blob deleted while it is read either reads whole or raises
        MissingBlobError, never the StoreError of damaged bytes."""
        ...

    def keep_blobs(self, digests: Sequence[str]) -> set[str]:
        """Stamp each stored blob of ``digests`` as put now (as :meth:`put_blob_stream` does
        for a blob it has: a deletion whose ``put_before`` is earlier leaves it), and return
        the digests that are not stored (deleted, or never put). Atomic per blob against
        :meth:`delete_blobs`: a blob is either kept (and stays) or reported missing. A
        cache hit calls it before it reads and refers to the blobs of its result."""
        ...

    def referenced_blobs(self, *, except_runs: Collection[str] = ()) -> set[str]:
        """Every blob digest that a record of the store refers to: its attachments, and the
        values stored out of line (see :mod:`flightlog.codec_blobs`) in runs' arguments and
        outputs, steps' arguments and results, resources' arguments and results. A blob
        outside this set is referred to by nothing (what ``gc`` may remove). The runs named
        in ``except_runs`` (with their steps and attachments) are left out: what else refers
        to a blob that those runs do (``gc``'s dry run)."""
        ...

    # -- resources (see flightlog.resources) -------------------------------------------------
    def data_directory(self) -> str | None:
        """The local directory that holds files belonging with this store's records (resource
        folders go under its ``resources/``), or None when the store has no local file; then
        the caller chooses one (``flightlog.open(url, data_dir=...)``)."""
        ...

    def get_resource(self, collection: str, ident: str) -> ResourceRecord | None:
        """The resource's current record, or None if it was never declared nor computed."""
        ...

    def claim_resource(self, record: ResourceRecord, *, expected_attempt: int | None) -> bool:
        """Make the resource PENDING for the claimer described by ``record`` (its owner, lease,
        start time, arguments, task_id and history), inserting it when absent.

        Compare-and-set: succeeds only while the stored ``attempt`` still equals
        ``expected_attempt`` (0 for a resource absent or only declared; None for one absent,
        with no record at all), so of many concurrent claimers exactly one wins; it returns True
        and the stored attempt becomes ``expected_attempt + 1`` (1 for None; ``record.attempt``
        must say so). Clears result, error and end time; a declared resource keeps its
        ``created_time``. Losers get False and nothing changes. One atomic write, durable on
        return.
        """
        ...

    def finish_resource(self, record: ResourceRecord) -> bool:
        """Record the outcome of a claimed computation (status COMPLETED or ERROR, result,
        error, end time), clearing owner and lease, only while the stored ``attempt`` equals
        ``record.attempt`` (the claim still holds). Returns whether it did. One atomic write,
        durable on return."""
        ...

    def declare_resources(self, collection: str, idents: Sequence[str], created_time: float) -> int:
        """Record the identifiers not recorded yet as UNAVAILABLE (attempt 0); resources that
        exist are left alone. Returns how many were added. Atomic as a whole."""
        ...

    def list_resources(
        self, collection: str, *, status: ResourceStatus | None = None
    ) -> list[ResourceRecord]:
        """The collection's resources (with that stored status, if given), by identifier."""
        ...

    def resource_identifiers(self, collection: str, status: ResourceStatus) -> list[str]:
        """The identifiers of the collection's resources with that stored status, sorted;
        served from an index, without reading the records."""
        ...

    def count_resources(
        self, collection: str | None = None, *, times: bool = False
    ) -> list[ResourceCount]:
        """How many resources each collection (or the one given) has per stored status, one
        entry per non-zero status. Without ``times`` this is served from an index alone; with
        it, each entry also gives the earliest ``created_time`` and ``start_time`` and the
        latest ``end_time``."""
        ...

    def renew_resource_leases(
        self, claims: Sequence[tuple[str, str, int]], lease_expires: float
    ) -> None:
        """Extend the lease of each ``(collection, ident, attempt)`` that is still PENDING
        under that attempt; others are left alone."""
        ...

    # -- copying and restoring (see flightlog.operations.copy) -------------------------------
    def put_run(self, run: Run) -> None:
        """Insert the run, or replace every field of the recorded run with its run_id, exactly
        as given (``step_count`` aside: it is counted); the run's steps, metrics and
        attachments are kept, and a new run takes the next place in the creation order. No
        compare-and-set: this copies and restores records (``flightlog.copy``), never to be
        used on a run whose owner records into it. One atomic write, durable on return."""
        ...

    def put_resource(self, record: ResourceRecord) -> None:
        """Insert the resource, or replace its recorded state, exactly as given (status,
        attempt, owner, lease, times, history: no field is cleared or kept from before). No
        compare-and-set: this copies and restores records, never to be used on a resource
        that a claimer computes. One atomic write, durable on return."""
        ...

    # -- which runs computed and used which resources (schema version 4) ---------------------
    def record_resource_uses(self, uses: Sequence[ResourceUse]) -> None:
        """Record that runs fetched resources; a use already recorded (the same run and
        resource) is left as it was. One atomic write, durable on return."""
        ...

    def resource_uses(self, run_ids: Sequence[str]) -> list[ResourceUse]:
        """The uses recorded by the given runs (unknown runs have none), in no set order."""
        ...

    def resource_users(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], set[str]]:
        """For each given ``(collection, ident)``, the ids of the runs that recorded a use of
        it; resources that no run used are absent."""
        ...

    def resources_computed_by(self, run_ids: Sequence[str]) -> list[ResourceRecord]:
        """The resources whose latest computation a given run claimed (their ``run_id`` is
        one of ``run_ids``), in no set order."""
        ...

    def delete_resource(self, collection: str, ident: str, *, attempt: int) -> bool:
        """Delete the resource's record, only while its ``attempt`` is still the one given
        (a compare-and-set: the caller claimed it first, see
        :mod:`flightlog.resources.retention`). Uses recorded of it stay (those of deleted runs
        go with their runs). Durable on return; returns whether it deleted (False for an
        unknown resource). Its folder is the caller's."""
        ...

    # -- deleting (see flightlog.operations) -------------------------------------------------
    def delete_run(
        self,
        run_id: str,
        *,
        expected_status: Status,
        expected_resumes: int,
        force: bool = False,
    ) -> bool:
        """Delete the run and everything recorded under it: its steps (attempts, results,
        logs), metric chunks, attachment references and resource uses. Task versions, blobs
        and resource records stay. One atomic write, durable on return: readers see the whole
        run or nothing.

        Compare-and-set: only while the run's stored status and ``resumes`` still equal the
        expected ones (read by the caller when it judged that the run may go), so a run
        resumed, canceled or finished meanwhile stays. Unless ``force``, only while no step
        of another run was served from its cache (a step with origin CACHED whose
        ``source_run`` is this run; its own steps do not count). Returns whether it deleted.
        Afterwards cache lookups serve the latest remaining successful step of the deleted
        steps' identities, if any (and never a step that :meth:`clear_cache` cleared).
        Unknown run_id: NotFoundError.
        """
        ...

    def cache_dependents(self, run_ids: Sequence[str]) -> dict[str, set[str]]:
        """For each given run whose cached results other runs took (their steps with origin
        CACHED name it as ``source_run``), the ids of those other runs; runs that no other
        run took from (and unknown ones) are absent. Served from an index where the store has
        one."""
        ...

    def blob_users(self, digests: Sequence[str]) -> dict[str, set[str]]:
        """For each given digest, the ids of the runs whose attachment references name it;
        digests that no reference names are absent."""
        ...

    def unused_blobs(self, *, put_before: float | None = None) -> dict[str, int]:
        """Every stored blob that no attachment reference names and that was last put
        (:meth:`put_blob`) before ``put_before`` (epoch seconds; None: now, by the store's
        clock), with its size in bytes."""
        ...

    def delete_blobs(
        self, digests: Sequence[str], *, put_before: float | None = None
    ) -> dict[str, int]:
        """Delete those of the given blobs that no attachment reference names and that were
        last put before ``put_before`` (None: now, by the store's clock); return the deleted
        ones with their sizes. Each blob's check and deletion are atomic against
        :meth:`put_blob` and against writes of attachment references: a blob put again or
        referenced meanwhile stays. Unknown digests are skipped."""
        ...

    def clear_cache(self, task_id: str, execution_id: str | None = None) -> int:
        """Stop serving from cache the results recorded so far of a cache-enabled task
        version (of one execution of it, if ``execution_id`` is given): :meth:`find_cached`
        and :meth:`cached_steps` no longer return those steps, now or after any later
        delete. The steps' records stay as they were (``cache`` included); steps recorded
        afterwards are served again. Returns how many cached results were cleared (0 when
        there were none); durable on return."""
        ...

    def close(self) -> None:
        """Release connections; the store must not be used afterwards."""
        ...


@runtime_checkable
class CheckedStore(Protocol):
    """An optional method that a store may have besides :class:`Store`'s; the runtime calls it
    where present (``getattr(store, "check", None)``)."""

    def check(self) -> None:
        """Raise StoreError when the store no longer holds what this process records into it
        (the SQLite store: its file was deleted or replaced while it had it open), saying
        what happened; return quietly otherwise, and when it cannot tell. It must be cheap
        (a ``stat``, no query while all is well) and safe from any thread: the runtime calls
        it at the end of every run, before recording the run's outcome, and every few seconds
        from its monitor thread while runs record (never on a step's path). Once it has
        raised, it raises again on every call."""
        ...


@runtime_checkable
class OutlinedStore(Protocol):
    """An optional method for faces that draw big runs; where a store lacks it, readers build
    the outline from :meth:`Store.list_steps` (``flightlog.browse`` does)."""

    def step_outline(self, run_id: str) -> StepOutline:
        """The run's steps in call order, light (no values, logs or metadata): the same as
        an outline built from :meth:`Store.list_steps`, only faster; empty for an unknown
        run."""
        ...


STEP_ROW_FIELDS = (
    "position", "name", "task_id", "execution_id", "status", "start_time", "end_time",
    "arguments", "extras",
)  # fmt: skip
"""The fields of a row of :meth:`StepRowStore.step_rows`, in order (then ``result``, when
asked for)."""

STEP_ROW_EXTRAS = (
    "parent", "attempts", "error", "user_metadata", "options", "log", "origin", "source_run",
    "reason",
)  # fmt: skip
"""The fields of a step that most steps lack, in a row's ``extras``, in order."""


@runtime_checkable
class StepRowStore(Protocol):
    """An optional method for listing huge runs (``fl.steps()``, ``iter_steps``): a run's
    steps as plain rows, as stored, without a :class:`~flightlog.model.Step` per step; where
    a store lacks it, readers use :meth:`Store.steps_page`."""

    def step_rows(
        self,
        run_id: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        after: int | None = None,
        results: bool = True,
    ) -> list[tuple[Any, ...]]:
        """The steps that :meth:`Store.steps_page` gives for the same arguments, each as a
        tuple of :data:`STEP_ROW_FIELDS`, then, with ``results``, the result's encoded text
        (each column costs: a row holds only what the reader asked for). ``status`` as its
        text; ``arguments`` as its encoded text; ``extras`` None when all of
        :data:`STEP_ROW_EXTRAS` are None, else
        those nine, as a sequence or as the text of a JSON array: ``origin`` as its text
        (None for an executed step), ``attempts``, ``error``, ``user_metadata`` and
        ``options`` as the JSON text of what the step records (None, or the text of an empty
        value, when it has none), the others text or None. (A step's task name is not in a
        row: readers have it from :meth:`Store.get_task`.) Empty for an unknown run."""
        ...


@runtime_checkable
class UncountedRunStore(Protocol):
    """An optional method for questions that need a run but not its steps (``get_status``):
    where a store counts a live run's steps when it reads it, this reads it without."""

    def get_run_uncounted(self, run_id: str) -> Run | None:
        """The run as :meth:`Store.get_run` gives it, but with ``step_count`` 0: none of its
        steps is read or counted, however many it has."""
        ...


@runtime_checkable
class CompactingStore(Protocol):
    """An optional method of stores whose files do not shrink by themselves when records are
    deleted (SQLite); ``flightlog.operations`` calls it after deleting, where present."""

    def compact(self, *, full: bool = False) -> int:
        """Give the space of deleted records back to the file system: the free pages the
        store can release without rewriting it (SQLite's incremental vacuum) and its log;
        with ``full``, rewrite the whole file (SQLite's ``VACUUM``: slower, needs free disk
        space of the file's size, and waits for other writers). Returns the bytes the files
        shrank by (0 when they did not)."""
        ...


def iter_steps(store: Store, run_id: str, page: int = 1000) -> Iterator[Step]:
    """The run's steps in call order, read ``page`` at a time with ``steps_page`` (a huge run
    is never held whole); none for an unknown run."""
    after: int | None = None
    while steps := store.steps_page(run_id, limit=page, after=after):
        yield from steps
        if len(steps) < page:
            return
        after = steps[-1].position

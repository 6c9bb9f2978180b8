"""Fetching resources: served from the store, or claimed, computed once and recorded.

A fetch reads the resource's record (one query). A completed one is returned at once. Otherwise
the fetching process claims it (one atomic compare-and-set write that only succeeds while no
live process holds it, see :meth:`Store.claim_resource`), runs the function, and records the
outcome (one more write). While a collection's fetches keep finding no record (computing a new
collection), the claim comes first, of a resource with no record at all, and the read only when
the claim fails: one read fewer per resource computed, and a claim that writes nothing before
the read when the guess is wrong (a declared resource too: it is read, then claimed).

A process that finds the resource claimed by a live process waits for that computation
(threads of this process wake when it ends; other processes poll with backoff) and gets its
result or its error. A claim whose process died reads as "error" and is taken over by the next
fetch.

Inside a run, a claim names the run and step (``ResourceRecord.run_id``, ``position``), and a
fetch first records the run's use of the resource (once per run and resource:
``Store.record_resource_uses``), then reads it. Deleting a run takes the resources it computed
unless a run that stays used them (see :mod:`flightlog.resources.retention`); recording the
use before the read orders a fetch against such a deletion: the deletion either sees the use
and keeps the resource, or happened before the read, which then finds no record and computes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import codec
from ..codec_blobs import out_of_line
from ..errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ResourceError,
    SchemaVersionError,
    SerializationError,
)
from ..model import Attempt, ErrorInfo, ResourceRecord, ResourceStatus, ResourceUse, Status
from ..runtime.flights import RESERVED_PREFIX
from ..runtime.state import CURRENT_RUN, CURRENT_STEP
from . import bulk
from .claims import FLIGHTS, LEASE_SECONDS, Flight, death_of, process_owner, split_pending
from .collection import CollectionOptions, Resource, ResourceCollection, same_arguments
from .context import Context
from .files import ResourceFiles, collection_folder
from .names import check_collection, check_ident

if TYPE_CHECKING:
    from ..stores import Store

COMPLETED = ResourceStatus.COMPLETED
PENDING = ResourceStatus.PENDING
ERROR = ResourceStatus.ERROR
STATUSES = tuple(status.value for status in ResourceStatus)
POLL_FIRST = 0.002
POLL_MAX = 0.25


def _label(name: str, ident: str) -> str:
    return f"resource {ident!r} of collection {name!r}"


class ResourceEngine:
    """The resources of one store: the collections defined here, and every operation."""

    def __init__(
        self,
        store: Store,
        root: Path,
        *,
        serializer: str = "json",
        allow_pickle: bool = False,
        allow_imports: codec.Imports = False,
    ) -> None:
        self.store = store
        self.root = root
        self.serializer = serializer
        self.allow_pickle = allow_pickle or serializer == "pickle"
        self.allow_imports = allow_imports
        self.collections: dict[str, ResourceCollection] = {}

    # -- definitions ---------------------------------------------------------------------------
    def define(
        self, name: str, function: Callable[..., Any], options: CollectionOptions
    ) -> ResourceCollection:
        collection = ResourceCollection(self, check_collection(name), function, options)
        self.collections[collection.name] = collection
        try:  # hadrosaur makes the collection's folder when it is defined
            collection_folder(self.root, collection.name).mkdir(parents=True, exist_ok=True)
        except OSError:  # read-only: made, or refused with its error, when first written
            pass
        return collection

    def _defined(self, name: str, why: str) -> ResourceCollection:
        collection = self.collections.get(name)
        if collection is None:
            raise NotFoundError(
                f"resource collection {name!r} has no function in this process, which is "
                f"needed to {why}: define it with @fl.resource({name!r})"
            )
        return collection

    def files(self, name: str, ident: str) -> ResourceFiles:
        return ResourceFiles(self.root, name, ident)

    def decode(self, text: str, collection: str | None = None) -> Any:
        """Decode stored text; pickled values only when this recorder allows pickle, or the
        collection (defined here) pickles its own results."""
        allow = self.allow_pickle
        if not allow and collection is not None:
            defined = self.collections.get(collection)
            allow = defined is not None and defined.options.serializer == "pickle"
        with out_of_line(self.store):  # large values: in the store's blobs
            return codec.decode(text, allow_pickle=allow, allow_imports=self.allow_imports)

    def view(self, record: ResourceRecord) -> Resource:
        """The resource as users see it (a PENDING one whose process died reads "error")."""
        status = record.status
        if status is PENDING:
            why = death_of(record)
            if why is not None:
                return Resource(self, record, "error", why)
        return Resource(self, record, status.value)

    # -- fetch ---------------------------------------------------------------------------------
    def fetch(
        self,
        name: str,
        ident: Any,
        args: Any = None,
        *,
        recompute: bool | str = False,
        wait: bool = True,
    ) -> Resource:
        if type(name) is not str or name not in self.collections:  # defined: checked then
            name = check_collection(name)
        ident = check_ident(name, ident)
        if recompute is False and wait:
            collection = self.collections.get(name)
            if collection is not None and collection.claim_first:
                done = self._claim_first(collection, ident, args)
                if done is not None:
                    return done
        self.note_uses(name, (ident,))
        record = self.store.get_resource(name, ident)
        if recompute is False and record is not None and record.status is COMPLETED:
            return Resource(self, record, "completed")
        if recompute is not False and recompute is not True and recompute != "stale":
            raise InvalidInputError(f"recompute must be False, True or 'stale', not {recompute!r}")
        return self._fetch(name, ident, args, recompute, wait, record)

    def _claim_first(
        self, collection: ResourceCollection, ident: str, args: Any
    ) -> Resource | None:
        """Claim and compute a resource expected to have no record yet, without reading first
        (the claim fails, writing nothing, when it has one); None when it had one."""
        args = {} if args is None else args
        try:
            text = self._encode_arguments(collection.name, ident, args)
        except SerializationError:
            return None  # a stored result needs no args: the usual path says whether they do
        done = self._compute(collection, ident, args, text, None, None, absent=True)
        if done is None:
            collection.claim_first = False  # it exists: read first from now on
        return done

    def _fetch(
        self,
        name: str,
        ident: str,
        args: Any,
        recompute: bool | str,
        wait: bool,
        record: ResourceRecord | None,
    ) -> Resource:
        collection = self.collections.get(name)
        args = {} if args is None else args
        text: str | None = None
        while True:
            why = None
            if record is not None and record.status is PENDING:
                why = death_of(record)
                if why is None:  # a live process computes it: wait for it, or say so
                    if not wait:
                        return Resource(self, record, "pending")
                    waited = self._wait(record)
                    if waited is not None:
                        return Resource(self, waited, "completed")
                    record = None  # deleted meanwhile (see retention): compute it
                    continue
            elif record is not None and record.status is COMPLETED:
                if recompute is False:
                    return Resource(self, record, "completed")
                if recompute == "stale":
                    collection = self._defined(name, "tell whether its code changed")
                    text = text or self._encode_arguments(name, ident, args)
                    if record.task_id == collection.task_id and same_arguments(
                        record.arguments, text, args, self.allow_pickle
                    ):
                        return Resource(self, record, "completed")
            if collection is None:
                collection = self._defined(name, f"compute {ident!r}")
            text = text or self._encode_arguments(name, ident, args)
            done = self._compute(collection, ident, args, text, record, why)
            if done is not None:
                return done
            # Another process claimed it first: look again (its fresh result will do).
            recompute = False
            record = self.store.get_resource(name, ident)

    def note_uses(self, name: str, idents: Iterable[str]) -> None:
        """Inside a run, record its use of these resources (those not recorded yet by this
        run), in one write, before they are read (see the module's notes)."""
        state = CURRENT_RUN.get()
        if state is None or state.ended:
            return
        used = state.resources_used
        fresh = [ident for ident in dict.fromkeys(idents) if (name, ident) not in used]
        if not fresh:
            return
        frame = CURRENT_STEP.get()
        position = None if frame is None else frame.position
        uses = [ResourceUse(state.run_id, name, ident, position) for ident in fresh]
        try:
            self.store.record_resource_uses(uses)
        except SchemaVersionError:
            return  # a store read as an older schema: nothing can be deleted there either
        used.update((name, ident) for ident in fresh)

    def _encode_arguments(self, name: str, ident: str, args: Any) -> str:
        if type(args) is dict and not args:
            return "{}"
        try:
            with out_of_line(self.store):
                return codec.encode(args, serializer=self.serializer)
        except SerializationError as error:
            raise SerializationError(
                f"{_label(name, ident)}: its args cannot be recorded: {error}"
            ) from None

    def _wait(self, record: ResourceRecord) -> ResourceRecord | None:
        """Wait for the live computation of ``record``; its finished record, or its error;
        None when the record was deleted meanwhile."""
        name, ident, store = record.collection, record.ident, self.store
        flight = FLIGHTS.find(store, name, ident)
        if flight is not None and flight.attempt == record.attempt:
            _join(flight)
        delay = POLL_FIRST
        while True:
            current = store.get_resource(name, ident)
            if current is None:  # deleted with the run that computed it: compute it again
                return None
            if current.status is COMPLETED:
                return current
            if current.status is ERROR:
                error = current.error
                detail = f": {error.type}: {error.message}" if error else ""
                raise ResourceError(
                    f"{_label(name, ident)} failed in the process that computed it{detail}",
                    error,
                )
            if current.status is PENDING:
                why = death_of(current)
                if why is not None:
                    raise ResourceError(f"{_label(name, ident)}: {why}")
            time.sleep(delay)
            delay = min(delay * 1.5, POLL_MAX)

    def _compute(
        self,
        collection: ResourceCollection,
        ident: str,
        args: Any,
        text: str,
        previous: ResourceRecord | None,
        why: str | None,
        absent: bool = False,
    ) -> Resource | None:
        """Claim, run and record one computation; None when another process claimed first
        (or, with ``absent``, when the resource has a record: it is then claimed only if it
        has none at all)."""
        store, name = self.store, collection.name
        if not collection.recorded:
            store.record_task(collection.record())
            collection.recorded = True
        expected = 0 if previous is None else previous.attempt
        start = time.time()
        history: list[Attempt] = []
        created = start
        if previous is not None:
            history = _history(previous, why)
            created = previous.created_time or start
        attempt = expected + 1
        state = CURRENT_RUN.get()
        run_id = position = None
        if state is not None and not state.ended:
            run_id, frame = state.run_id, CURRENT_STEP.get()
            position = None if frame is None else frame.position
        if (
            previous is not None
            and previous.status is COMPLETED
            and previous.run_id is not None
            and previous.run_id != run_id
        ):  # computed again: the run that computed it before used it, and keeps it so
            store.record_resource_uses(
                [ResourceUse(previous.run_id, name, ident, previous.position)]
            )
        claim = ResourceRecord(
            name,
            ident,
            PENDING,
            attempt,
            collection.task_id,
            text,
            None,
            None,
            start,
            None,
            process_owner(),
            start + LEASE_SECONDS,
            created,
            history,
            run_id,
            position,
        )
        flight = FLIGHTS.begin(store, name, ident, attempt)
        if flight is None:  # another thread here computes it: its outcome is ours
            other = FLIGHTS.find(store, name, ident)
            if other is not None:
                _join(other)
            return None
        try:
            claimed = store.claim_resource(claim, expected_attempt=None if absent else expected)
        except BaseException:
            FLIGHTS.end(flight)
            raise
        if not claimed:
            FLIGHTS.end(flight)
            return None
        collection.claim_first = previous is None
        options = collection.options
        ctx = Context(
            name,
            ident,
            args,
            attempt,
            self.files(name, ident),
            options.log_max_bytes,
            options.log_backups,
        )
        try:
            try:
                value = collection.function(ident, args, ctx)
                result = self._encode_result(name, ident, value, options.serializer)
            except BaseException as error:
                ctx.log_failure(error)
                ctx.close()
                claim.status = ERROR
                claim.error = ErrorInfo.from_exception(error)
                claim.end_time = time.time()
                store.finish_resource(claim)
                raise
            ctx.close()
            claim.status = COMPLETED
            claim.result = result
            claim.end_time = time.time()
            claim.owner = None
            claim.lease_expires = None
            if not store.finish_resource(claim):
                raise ConflictError(
                    f"{_label(name, ident)} was taken over by another process while this one "
                    "computed it (its lease ran out); this result was not recorded"
                )
        except BaseException as error:
            flight.error = error
            raise
        finally:
            FLIGHTS.end(flight)
        return Resource(self, claim, "completed", value=value)

    def _encode_result(self, name: str, ident: str, value: Any, serializer: str) -> str:
        try:
            with out_of_line(self.store):
                return codec.encode(value, serializer=serializer)
        except SerializationError as error:
            raise SerializationError(
                f"{_label(name, ident)}: its result of type {type(value).__name__!r} cannot be "
                f"encoded: {error}"
            ) from error

    # -- questions -----------------------------------------------------------------------------
    def get(self, name: str, ident: Any) -> Resource:
        name = check_collection(name)
        ident = check_ident(name, ident)
        record = self.store.get_resource(name, ident)
        return self.view(record or ResourceRecord(name, ident))

    def status(self, name: str, ident: Any) -> str:
        return self.get(name, ident).status

    def _known(self, name: str, ident: Any) -> Resource:
        found = self.get(name, ident)
        if found.attempt == 0 and found.status == "unavailable":
            raise NotFoundError(f"{_label(found.collection, found.ident)} was never computed")
        return found

    def fetch_error(self, name: str, ident: Any) -> str:
        return self._known(name, ident).error or ""

    def fetch_log(self, name: str, ident: Any) -> str:
        found = self._known(name, ident)
        return self.files(found.collection, found.ident).read_log()

    def stats(self, name: str | None = None) -> dict[str, Any]:
        if name is not None:
            name = check_collection(name)
        totals: dict[str, dict[str, int]] = {}
        if name is not None:
            totals[name] = _empty_counts()
        else:
            for defined in sorted(self.collections):
                totals[defined] = _empty_counts()
        for count in self.store.count_resources(name):
            if count.collection.startswith(RESERVED_PREFIX):  # flightlog's own
                continue
            counts = totals.setdefault(count.collection, _empty_counts())
            if count.status is PENDING:  # look at each: its process may have died
                dead = len(split_pending(self.store, count.collection)[1])
                counts["error"] += dead
                counts["pending"] += count.count - dead
            else:
                counts[count.status.value] += count.count
            counts["total"] += count.count
        if name is not None:
            return {"counts": totals[name]}
        return {collection: {"counts": counts} for collection, counts in sorted(totals.items())}

    def fetch_by_status(self, name: str, status: str) -> list[str]:
        name = check_collection(name)
        wanted = _status(status)
        if wanted is COMPLETED or wanted is ResourceStatus.UNAVAILABLE:
            return self.store.resource_identifiers(name, wanted)
        live, dead = split_pending(self.store, name)
        if wanted is PENDING:
            return live
        found = self.store.resource_identifiers(name, ERROR)
        return sorted(found + dead) if dead else found

    def stale(self, name: str) -> list[str]:
        name = check_collection(name)
        current = self._defined(name, "tell whose code changed").task_id
        return [
            record.ident
            for record in self.store.list_resources(name, status=COMPLETED)
            if record.task_id != current
        ]

    def fetch_many(
        self,
        name: str,
        idents: Iterable[Any],
        args: Any = None,
        *,
        workers: int | None = None,
        recompute: bool | str = False,
        progress: bool | None = None,
    ) -> list[Resource]:
        return bulk.fetch_many(
            self, name, idents, args, workers=workers, recompute=recompute, progress=progress
        )

    def retry_errors(
        self,
        name: str,
        *,
        workers: int | None = None,
        progress: bool | None = None,
        allow_import_outside: bool = False,
    ) -> list[Resource]:
        return bulk.retry_errors(
            self,
            name,
            workers=workers,
            progress=progress,
            allow_import_outside=allow_import_outside,
        )

    def declare(self, name: str, idents: Iterable[Any]) -> int:
        name = check_collection(name)
        if isinstance(idents, (str, bytes)):
            raise InvalidInputError(
                f"declare({name!r}, ...) takes a list of identifiers, "
                f"not one {type(idents).__name__}"
            )
        checked = list(dict.fromkeys(check_ident(name, ident) for ident in idents))
        return self.store.declare_resources(name, checked, time.time())


def _join(flight: Flight) -> None:
    """Wait for a computation running in another thread of this process; raise its error."""
    if flight.thread == threading.get_ident():
        raise ConflictError(
            f"{_label(flight.collection, flight.ident)} is being computed by this very thread: "
            "its function fetched it again, which would wait for itself for ever"
        )
    flight.wait()
    if flight.error is not None:
        raise flight.error


def _empty_counts() -> dict[str, int]:
    return {"total": 0, "pending": 0, "completed": 0, "error": 0, "unavailable": 0}


def _status(status: object) -> ResourceStatus:
    try:
        return ResourceStatus(str(status).lower())
    except ValueError:
        raise InvalidInputError(
            f"unknown resource status {status!r}; known: {', '.join(STATUSES)}"
        ) from None


def _history(previous: ResourceRecord, why: str | None) -> list[Attempt]:
    """The history a new computation records: the previous one's, plus the previous
    computation itself when there was one."""
    status = previous.status
    start = previous.start_time or previous.created_time or 0.0
    if status is COMPLETED:
        earlier = Attempt(previous.attempt, start, previous.end_time, Status.SUCCESSFUL, None)
    elif status is ERROR:
        earlier = Attempt(previous.attempt, start, previous.end_time, Status.FAILED, previous.error)
    elif status is PENDING:
        text = why or "the process computing it died"
        died = ErrorInfo("flightlog.errors.ResourceError", text, text + "\n")
        earlier = Attempt(previous.attempt, start, None, Status.FAILED, died)
    else:
        return list(previous.history)
    return [*previous.history, earlier]

"""Many resources at once: ``fetch_many`` (in parallel when asked) and ``retry_errors``,
with a progress bar on a terminal, or in a notebook (see
:mod:`flightlog.resources.notebook_progress`).

``fetch_many`` first declares the identifiers it was given (those not recorded yet are
recorded "unavailable"), so that the collection's size is known while they are computed
(``flightlog watch resource:<collection>`` draws its bar from it)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import InvalidInputError, NotFoundError
from ..runtime.importing import import_user_module
from .collection import ResourceCollection
from .names import check_collection, check_ident
from .notebook_progress import NotebookProgress, notebook_display

if TYPE_CHECKING:
    from .collection import Resource
    from .engine import ResourceEngine

BAR_WIDTH = 30
REDRAW_EVERY = 0.1


class ProgressBar:
    """``images [#########.........] 312/1000 (3 errors) 4.1s`` on one redrawn line."""

    def __init__(self, label: str, total: int, stream: TextIO) -> None:
        self.label = label
        self.total = total
        self.stream = stream
        self.done = 0
        self.errors = 0
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._drawn = 0.0
        self._draw()

    def advance(self, failed: bool) -> None:
        with self._lock:
            self.done += 1
            self.errors += failed
            now = time.monotonic()
            if now - self._drawn >= REDRAW_EVERY or self.done == self.total:
                self._draw()

    def _draw(self) -> None:
        self._drawn = time.monotonic()
        filled = BAR_WIDTH * self.done // self.total if self.total else BAR_WIDTH
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        errors = f" ({self.errors} error{'s' * (self.errors != 1)})" if self.errors else ""
        seconds = self._drawn - self._started
        self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total}{errors} {seconds:.1f}s")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def _bar(label: str, total: int, progress: bool | None) -> ProgressBar | NotebookProgress | None:
    """In a notebook an HTML display, else a text bar on stderr (by default only when it is
    a terminal); nothing with ``progress=False`` or nothing to do."""
    if progress is False or not total:
        return None
    display = notebook_display()
    if display is not None:
        return NotebookProgress(label, total, display)
    stream = sys.stderr
    if progress is None:
        isatty = getattr(stream, "isatty", None)
        progress = bool(isatty and isatty())
    return ProgressBar(label, total, stream) if progress else None


def fetch_many(
    engine: ResourceEngine,
    name: str,
    idents: Iterable[Any],
    args: Any = None,
    *,
    workers: int | None = None,
    recompute: bool | str = False,
    progress: bool | None = None,
) -> list[Resource]:
    """Fetch every identifier; a failed computation does not stop the others (its resource
    comes back with status "error" and the error text). Resources come back in the order
    given."""
    name = check_collection(name)
    if isinstance(idents, (str, bytes)):
        raise InvalidInputError(
            f"fetch_many({name!r}, ...) takes a list of identifiers, not one "
            f"{type(idents).__name__}"
        )
    jobs = [(check_ident(name, ident), args) for ident in idents]
    return _run(engine, name, jobs, workers, recompute, progress, declare=True)


def retry_errors(
    engine: ResourceEngine,
    name: str,
    *,
    workers: int | None = None,
    progress: bool | None = None,
    allow_import_outside: bool = False,
) -> list[Resource]:
    """Compute again, with the arguments it was computed with, every resource whose status
    is "error" (including those whose process died); each keeps its earlier error in its
    history. The collection's function is imported from where it was recorded when this
    process has not defined it (see :func:`import_collection`)."""
    name = check_collection(name)
    failed = engine.fetch_by_status(name, "error")
    if failed:
        import_collection(engine, name, allow_outside=allow_import_outside)
    jobs = []
    for ident in failed:
        record = engine.store.get_resource(name, ident)
        text = None if record is None else record.arguments
        jobs.append((ident, None if text is None else engine.decode(text)))
    return _run(engine, name, jobs, workers, False, progress)


def _run(
    engine: ResourceEngine,
    name: str,
    jobs: list[tuple[str, Any]],
    workers: int | None,
    recompute: bool | str,
    progress: bool | None,
    *,
    declare: bool = False,
) -> list[Resource]:
    if workers is not None and (
        not isinstance(workers, int) or isinstance(workers, bool) or workers < 1
    ):
        raise InvalidInputError(f"workers must be a positive integer or None, not {workers!r}")
    if declare and len(jobs) > 1 and name in engine.collections:
        idents = list(dict.fromkeys(ident for ident, _ in jobs))
        engine.store.declare_resources(name, idents, time.time())
    engine.note_uses(name, [ident for ident, _ in jobs])  # inside a run: one write for all
    bar = _bar(name, len(jobs), progress)

    def one(job: tuple[str, Any]) -> Resource:
        ident, args = job
        failed = True
        try:
            found = engine.fetch(name, ident, args, recompute=recompute)
            failed = False
            return found
        except Exception:
            record = engine.store.get_resource(name, ident)
            if record is None or engine.view(record).status != "error":
                raise  # not a failed computation: a problem for the whole batch
            return engine.view(record)
        finally:
            if bar is not None:
                bar.advance(failed)

    try:
        if workers is None or workers == 1 or len(jobs) < 2:
            return [one(job) for job in jobs]
        with ThreadPoolExecutor(workers, thread_name_prefix=f"flightlog-{name}") as pool:
            return list(pool.map(one, jobs))
    finally:
        if bar is not None:
            bar.close()


def import_collection(
    engine: ResourceEngine, name: str, *, allow_outside: bool = False
) -> ResourceCollection:
    """The collection's function, defined here, or imported from where it was recorded (the
    module and name of each version of its function are recorded with it). The import says
    so, and a module outside the working directory is refused unless ``allow_outside`` (see
    :mod:`flightlog.runtime.importing`)."""
    name = check_collection(name)
    found = engine.collections.get(name)
    if found is not None:
        return found
    tried = []
    for task in engine.store.tasks_named(f"resource:{name}"):
        entry = task.options.get("entry") or {}
        module, qualname = entry.get("module"), entry.get("qualname")
        if not module or not qualname:
            continue
        tried.append(f"{module}.{qualname}")
        try:
            target: Any = import_user_module(
                module,
                purpose=f"to retry resource collection {name!r}",
                allow_outside=allow_outside,
            )
            for part in qualname.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError):
            continue
        if isinstance(target, ResourceCollection):
            return engine.define(name, target.function, target.options)
    where = f" (tried {', '.join(sorted(set(tried)))})" if tried else ""
    raise NotFoundError(
        f"the function of resource collection {name!r} is not defined in this process and "
        f"cannot be imported{where}; run from the folder of its module"
    )

"""The resource methods of ``Flightlog`` (hadrosaur's names), written once here."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from .collection import CollectionOptions, Resource, ResourceCollection
from .engine import ResourceEngine

if TYPE_CHECKING:
    from ..stores import Store

DEFAULT_DATA_DIR = ".flightlog"


def data_root(store: Store, data_dir: str | os.PathLike[str] | None) -> Path:
    """Where resource folders go: ``data_dir`` if given, else the store's own data directory
    (the SQLite file's folder, a files store's root), else ``.flightlog/`` here."""
    if data_dir is not None:
        return Path(data_dir).absolute()
    return Path(store.data_directory() or DEFAULT_DATA_DIR).absolute()


class ResourceMethods:
    """Resource collections: cached computations keyed by an identifier in a named
    collection, with their status, result, arguments, times, error and log."""

    _resources: ResourceEngine

    @overload
    def resource(self, collection: Callable[..., Any], /) -> ResourceCollection: ...

    @overload
    def resource(
        self,
        collection: str | None = None,
        /,
        *,
        version: str | None = None,
        serializer: str | None = None,
        log_max_bytes: int = 10 * 1024 * 1024,
        log_backups: int = 3,
    ) -> Callable[[Callable[..., Any]], ResourceCollection]: ...

    def resource(
        self,
        collection: str | Callable[..., Any] | None = None,
        /,
        *,
        version: str | None = None,
        serializer: str | None = None,
        log_max_bytes: int = 10 * 1024 * 1024,
        log_backups: int = 3,
    ) -> ResourceCollection | Callable[[Callable[..., Any]], ResourceCollection]:
        """Make ``function(ident, args, ctx)`` compute the resources of a collection
        (``@fl.resource("images")``; bare ``@fl.resource`` names it after the function).

        ``version`` replaces the code part of its identity (as for tasks); ``serializer``
        ("json" or "pickle") encodes results; ``log_max_bytes`` and ``log_backups`` rotate each
        resource's log. Returns a :class:`ResourceCollection`.
        """
        engine = self._resources
        options = CollectionOptions(
            version=version,
            serializer=serializer or engine.serializer,
            log_max_bytes=log_max_bytes,
            log_backups=log_backups,
        )
        if callable(collection):
            function = collection
            return engine.define(function.__name__, function, options)

        def decorate(function: Callable[..., Any]) -> ResourceCollection:
            name = collection if collection is not None else function.__name__
            return engine.define(name, function, options)

        return decorate

    def fetch(
        self,
        collection: str,
        ident: Any,
        args: Any = None,
        *,
        recompute: bool | str = False,
        wait: bool = True,
    ) -> Resource:
        """The resource, computed now if it never was, errored, or ``recompute`` asks for it
        (True: always; "stale": when the code or the args differ from those recorded);
        otherwise its stored result at once. An error in the function is recorded and raised.
        While another thread or process computes it, waits for that (``wait=False``: returns
        it "pending") and gets its result or its error (ResourceError across processes)."""
        return self._resources.fetch(collection, ident, args, recompute=recompute, wait=wait)

    def get_resource(self, collection: str, ident: Any) -> Resource:
        """The resource as recorded, never computing it ("unavailable" if unknown)."""
        return self._resources.get(collection, ident)

    def status(self, collection: str, ident: Any) -> str:
        """ "completed", "pending", "error" or "unavailable" (a pending resource whose process
        died reads "error")."""
        return self._resources.status(collection, ident)

    def stats(self, collection: str | None = None) -> dict[str, Any]:
        """``{"counts": {"total", "pending", "completed", "error", "unavailable"}}`` for one
        collection; without a name, the same for every collection, keyed by name."""
        return self._resources.stats(collection)

    def fetch_by_status(self, collection: str, status: str) -> list[str]:
        """The identifiers with that status, sorted."""
        return self._resources.fetch_by_status(collection, status)

    def fetch_error(self, collection: str, ident: Any) -> str:
        """The full traceback of its failed computation, why it can never finish (its process
        died), or "" when it has no error."""
        return self._resources.fetch_error(collection, ident)

    def fetch_log(self, collection: str, ident: Any) -> str:
        """The text written through ``ctx.logger`` (rotated parts included, oldest first)."""
        return self._resources.fetch_log(collection, ident)

    def stale(self, collection: str) -> list[str]:
        """The identifiers whose stored result came from other code than the collection's
        current function (its code identity, as for tasks)."""
        return self._resources.stale(collection)

    def declare(self, collection: str, idents: Iterable[Any]) -> int:
        """Register identifiers up front: they count as "unavailable" until computed. Returns
        how many were new."""
        return self._resources.declare(collection, idents)

    def fetch_many(
        self,
        collection: str,
        idents: Iterable[Any],
        args: Any = None,
        *,
        workers: int | None = None,
        recompute: bool | str = False,
        progress: bool | None = None,
    ) -> list[Resource]:
        """Fetch many identifiers (``workers`` threads at once when given), with a progress
        bar on a terminal (``progress`` forces it on or off). A failed computation does not
        stop the others: its resource comes back with status "error"."""
        return self._resources.fetch_many(
            collection, idents, args, workers=workers, recompute=recompute, progress=progress
        )

    def retry_errors(
        self,
        collection: str,
        *,
        workers: int | None = None,
        progress: bool | None = None,
        allow_import_outside: bool = False,
    ) -> list[Resource]:
        """Compute again every resource whose status is "error", with its recorded args; the
        earlier error stays in its history. A collection not defined in this process is
        imported from where it was recorded (logged on ``flightlog.imports``); a module
        outside the working directory only with ``allow_import_outside=True``."""
        return self._resources.retry_errors(
            collection,
            workers=workers,
            progress=progress,
            allow_import_outside=allow_import_outside,
        )

    def collection(self, name: str) -> ResourceCollection | None:
        """The collection of that name defined in this process, or None."""
        return self._resources.collections.get(name)

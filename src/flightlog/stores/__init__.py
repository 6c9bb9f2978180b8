"""Stores, found by the scheme of their URL.

Built in: ``memory://``, ``sqlite:///path.db``, ``postgresql://user:password@host/db`` (also
``postgres://``; needs the ``flightlog[postgres]`` extra), ``file:///path/to/dir`` (JSON files in
bandsaw's layout). Third-party stores register a factory
``factory(url, **options) -> Store`` under the entry-point group ``flightlog.stores``, named by
their scheme; a factory that takes a ``create`` keyword is told when it must not make a store.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..lazy import load
from ..redaction import redact
from .base import (
    SCHEMA_VERSION,
    CheckedStore,
    CompactingStore,
    OutlinedStore,
    StepRowStore,
    Store,
    UncountedRunStore,
    iter_steps,
)

if TYPE_CHECKING:
    from .files import FileStore
    from .memory import MemoryStore
    from .postgres import PostgresStore
    from .sqlite import SQLiteStore

# Each store's module is imported when a store of its kind is first opened or named, so that
# a program on SQLite never loads the files or PostgreSQL stores (psycopg itself is imported
# when a PostgreSQL store is opened).
_STORE_MODULES = {
    "FileStore": ".files",
    "MemoryStore": ".memory",
    "PostgresStore": ".postgres",
    "SQLiteStore": ".sqlite",
}


def __getattr__(name: str) -> Any:
    return load(__name__, globals(), name, _STORE_MODULES.get(name))


__all__ = [
    "SCHEMA_VERSION",
    "CheckedStore",
    "CompactingStore",
    "FileStore",
    "MemoryStore",
    "OutlinedStore",
    "PostgresStore",
    "SQLiteStore",
    "StepRowStore",
    "Store",
    "UncountedRunStore",
    "iter_steps",
    "known_schemes",
    "open_store",
]

ENTRY_POINT_GROUP = "flightlog.stores"


def _memory(url: str, *, create: bool = True, **options: Any) -> Store:
    if url not in ("memory://", "memory:"):
        raise ConfigurationError(f"malformed memory store URL {redact(url)!r}: use 'memory://'")
    if options:
        raise ConfigurationError(f"the memory store takes no options, got {sorted(options)}")
    from .memory import MemoryStore

    return MemoryStore(url)


def _sqlite(url: str, **options: Any) -> Store:
    from .sqlite import SQLiteStore

    return SQLiteStore(url, **options)


def _postgres(url: str, *, create: bool = True, **options: Any) -> Store:
    # The database must exist anyway; the store's tables are made when first opened.
    from .postgres import PostgresStore

    return PostgresStore(url, **options)


def _files(url: str, *, create: bool = True, **options: Any) -> Store:
    from .files import FileStore

    return FileStore(url, create=create, **options)


_BUILT_IN: dict[str, Callable[..., Store]] = {
    "file": _files,
    "memory": _memory,
    "postgres": _postgres,
    "postgresql": _postgres,
    "sqlite": _sqlite,
}


def _plugins() -> dict[str, Any]:
    from importlib.metadata import entry_points  # only when a scheme is not built in

    return {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}


def known_schemes() -> list[str]:
    """Every URL scheme that ``open_store`` understands, built in or from plugins."""
    return sorted(set(_BUILT_IN) | set(_plugins()))


def open_store(url: str, *, create: bool = True, **options: Any) -> Store:
    """Open the store that ``url`` names; errors name the URL and list the known schemes.

    ``create=False`` opens only a store that exists: where there is none (no SQLite file, no
    folder of JSON files, or one that holds no store), NotFoundError says so and nothing is
    made. The command line's read commands open stores so. Memory and PostgreSQL stores
    ignore it; a plugin is told only if its factory takes a ``create`` keyword."""
    if not isinstance(url, str) or ("://" not in url and not url.startswith("memory:")):
        shown = redact(url) if isinstance(url, str) else url
        raise ConfigurationError(
            f"malformed store URL {shown!r}: expected scheme://..., "
            f"one of the schemes {', '.join(known_schemes())}"
        )
    if "\x00" in url:
        raise ConfigurationError(
            f"the store URL {url!r} contains a NUL character, which no name may hold"
        )
    scheme = url.split(":", 1)[0].lower()
    factory = _BUILT_IN.get(scheme)
    if factory is not None:
        options["create"] = create
    else:
        point = _plugins().get(scheme)
        if point is None:
            raise ConfigurationError(
                f"unknown store URL scheme {scheme!r} in {redact(url)!r}; "
                f"known schemes: {', '.join(known_schemes())}"
            )
        factory = point.load()
        if not create and _takes_create(factory):
            options["create"] = False
    try:
        return factory(url, **options)
    except TypeError as error:
        raise ConfigurationError(f"bad options for store {redact(url)!r}: {error}") from error


def _takes_create(factory: Callable[..., Any]) -> bool:
    try:
        return "create" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False

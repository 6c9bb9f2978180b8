"""Upgrade a store's schema by hand: ``flightlog.upgrade(url)`` and ``flightlog upgrade URL``.

Stores upgrade themselves when opened (SQLite backs its file up first, as ``<file>.v<N>.bak``);
users who open them with ``upgrade=False`` (``?upgrade=false`` in an SQLite or files URL) read an
older store as it is, refusing writes, until they run this. It opens the store without
upgrading to see its version, then opens it again, which climbs the migration ladder (see
``LADDER`` in each store's schema module) under the store's own lock, so it is safe while other
processes open the store too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SchemaVersionError, StoreError
from ..redaction import redact
from ..stores import SCHEMA_VERSION, open_store

__all__ = ["UpgradeReport", "upgrade_store"]

# The built-in stores that take the ``upgrade`` option (memory stores are always current).
_UPGRADABLE = ("sqlite", "file", "postgres", "postgresql")


@dataclass(frozen=True)
class UpgradeReport:
    """The store's schema version ``before`` and ``after`` the upgrade (``before`` is 0 when
    there was no store: a PostgreSQL database gets its tables when opened), and the backup
    made of it (SQLite), if any."""

    url: str
    before: int
    after: int
    backup: Path | None = None

    @property
    def upgraded(self) -> bool:
        """Whether the schema moved forward (False when it was current already)."""
        return self.after > self.before

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready dict (what ``flightlog upgrade --json`` prints)."""
        return {
            "url": self.url,
            "before": self.before,
            "after": self.after,
            "backup": None if self.backup is None else str(self.backup),
        }


def upgrade_store(url: str) -> UpgradeReport:
    """Upgrade the store at ``url`` (which must exist) to the schema version this flightlog
    writes. StoreError says why it cannot be (no right to change it, a read-only disk);
    SchemaVersionError when a newer flightlog wrote it."""
    scheme = url.split(":", 1)[0].lower() if isinstance(url, str) else ""
    options = {"upgrade": False} if scheme in _UPGRADABLE else {}
    store = open_store(url, create=False, **options)
    try:
        before = store.schema_version()
        # A store that makes its tables when opened (PostgreSQL, in an empty database) was
        # made just now: there was none before.
        created = bool(getattr(store, "created", False))
    finally:
        store.close()
    shown = redact(url)
    if created:
        return UpgradeReport(shown, 0, before)
    if before > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the store at {shown} has schema version {before}, newer than version "
            f"{SCHEMA_VERSION} that this flightlog writes; upgrade flightlog instead"
        )
    if before == SCHEMA_VERSION:
        return UpgradeReport(shown, before, before)
    store = open_store(url, create=False)
    try:
        after = store.schema_version()
        backup = getattr(store, "backup", None)
        if after < SCHEMA_VERSION:
            reason = getattr(store, "_read_only_reason", None) or "unknown reason"
            raise StoreError(f"cannot upgrade the store at {shown}: {reason}")
    finally:
        store.close()
    return UpgradeReport(shown, before, after, backup)

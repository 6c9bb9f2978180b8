"""flightlog: the flight recorder for Python workflows.

Public names are loaded when first used (PEP 562), so that ``import flightlog`` stays cheap:
a plain workflow on SQLite never loads the other stores, the engines, the command line or the
web UI (tests/test_import_cost.py holds this)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    ArgumentMismatchError,
    CanceledError,
    ConfigurationError,
    ConflictError,
    FlightlogError,
    InvalidInputError,
    MissingBlobError,
    MissingDependencyError,
    NondeterminismError,
    NoStoreError,
    NotFoundError,
    OutsideRunError,
    RemoteStepError,
    ResourceError,
    SchemaVersionError,
    SerializationError,
    ShellError,
    StepTimeoutError,
    StoreError,
    StoreWarning,
    TrackerError,
    TrackerWarning,
    WorkerLostError,
)
from .lazy import load

if TYPE_CHECKING:
    from .client import Flightlog, default_url, open
    from .codec import Undecoded
    from .model import Status
    from .operations import GcReport
    from .operations.copy import CopyReport
    from .operations.copy import copy_store as copy
    from .operations.upgrade import UpgradeReport
    from .operations.upgrade import upgrade_store as upgrade
    from .query import NoOutputError
    from .resources.collection import Resource, ResourceCollection
    from .runtime.fanout import StepFuture
    from .runtime.retries import Backoff, backoff
    from .tracking.track import attach, track

# Public name -> (module, name in it): imported on first use.
_LAZY = {
    "Backoff": (".runtime.retries", "Backoff"),
    "CopyReport": (".operations.copy", "CopyReport"),
    "Flightlog": (".client", "Flightlog"),
    "GcReport": (".operations", "GcReport"),
    "NoOutputError": (".query", "NoOutputError"),
    "Resource": (".resources.collection", "Resource"),
    "ResourceCollection": (".resources.collection", "ResourceCollection"),
    "Status": (".model", "Status"),
    "StepFuture": (".runtime.fanout", "StepFuture"),
    "Undecoded": (".codec", "Undecoded"),
    "UpgradeReport": (".operations.upgrade", "UpgradeReport"),
    "attach": (".tracking.track", "attach"),
    "backoff": (".runtime.retries", "backoff"),
    "copy": (".operations.copy", "copy_store"),
    "default_url": (".client", "default_url"),
    "open": (".client", "open"),
    "track": (".tracking.track", "track"),
    "upgrade": (".operations.upgrade", "upgrade_store"),
}


def __getattr__(name: str) -> Any:
    return load(__name__, globals(), name, _LAZY.get(name))


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ArgumentMismatchError",
    "Backoff",
    "CanceledError",
    "ConfigurationError",
    "ConflictError",
    "CopyReport",
    "Flightlog",
    "FlightlogError",
    "GcReport",
    "InvalidInputError",
    "MissingBlobError",
    "MissingDependencyError",
    "NoOutputError",
    "NoStoreError",
    "NondeterminismError",
    "NotFoundError",
    "OutsideRunError",
    "RemoteStepError",
    "Resource",
    "ResourceCollection",
    "ResourceError",
    "SchemaVersionError",
    "SerializationError",
    "ShellError",
    "Status",
    "StepFuture",
    "StepTimeoutError",
    "StoreError",
    "StoreWarning",
    "TrackerError",
    "TrackerWarning",
    "Undecoded",
    "UpgradeReport",
    "WorkerLostError",
    "__version__",
    "attach",
    "backoff",
    "copy",
    "default_url",
    "open",
    "track",
    "upgrade",
]

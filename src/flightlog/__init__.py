"""flightlog: the flight recorder for Python workflows."""

from ._version import __version__
from .client import Flightlog, default_url, open
from .codec import Undecoded
from .errors import (
    ArgumentMismatchError,
    CanceledError,
    ConfigurationError,
    ConflictError,
    FlightlogError,
    InvalidInputError,
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

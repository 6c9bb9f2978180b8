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
    ResourceError,
    SchemaVersionError,
    SerializationError,
    ShellError,
    StepTimeoutError,
    StoreError,
    StoreWarning,
    TrackerError,
    TrackerWarning,
)
from .model import Status
from .operations import GcReport
from .query import NoOutputError
from .resources.collection import Resource, ResourceCollection
from .runtime.retries import Backoff, backoff
from .tracking.track import attach, track

__all__ = [
    "ArgumentMismatchError",
    "Backoff",
    "CanceledError",
    "ConfigurationError",
    "ConflictError",
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
    "Resource",
    "ResourceCollection",
    "ResourceError",
    "SchemaVersionError",
    "SerializationError",
    "ShellError",
    "Status",
    "StepTimeoutError",
    "StoreError",
    "StoreWarning",
    "TrackerError",
    "TrackerWarning",
    "Undecoded",
    "__version__",
    "attach",
    "backoff",
    "default_url",
    "open",
    "track",
]

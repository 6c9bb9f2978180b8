"""flightlog: the flight recorder for Python workflows."""

from ._version import __version__
from .client import Flightlog, default_url, open
from .errors import (
    ArgumentMismatchError,
    CanceledError,
    ConfigurationError,
    ConflictError,
    FlightlogError,
    InvalidInputError,
    NondeterminismError,
    NotFoundError,
    SchemaVersionError,
    SerializationError,
    StepTimeoutError,
    StoreError,
)
from .model import Status
from .query import NoOutputError

__all__ = [
    "ArgumentMismatchError",
    "CanceledError",
    "ConfigurationError",
    "ConflictError",
    "Flightlog",
    "FlightlogError",
    "InvalidInputError",
    "NoOutputError",
    "NondeterminismError",
    "NotFoundError",
    "SchemaVersionError",
    "SerializationError",
    "Status",
    "StepTimeoutError",
    "StoreError",
    "__version__",
    "default_url",
    "open",
]

"""The exceptions flightlog raises.

Every error flightlog itself raises derives from :class:`FlightlogError`; the exceptions
raised by users' own tasks pass through unchanged.

::

    FlightlogError
    ├── ConfigurationError        bad store URL, unknown scheme, bad option
    ├── InvalidInputError         bad run id, metadata that is not JSON, bad identifier
    │   └── ArgumentMismatchError     a run re-run with other arguments than recorded (issue 3)
    ├── SerializationError        a value that cannot be encoded or decoded safely
    ├── NotFoundError (KeyError)  unknown run id or step name
    ├── ConflictError             a run id that is taken by a live run
    ├── StoreError                the store failed or refused
    │   └── SchemaVersionError        the store was written by a newer flightlog
    ├── NondeterminismError       a resumed run meets a recorded step with other identities
    ├── CanceledError             the run was canceled; no new step starts
    └── StepTimeoutError (TimeoutError)  an attempt ran longer than its ``timeout``
"""

from __future__ import annotations


class FlightlogError(Exception):
    """The root of every error that flightlog raises itself."""


class ConfigurationError(FlightlogError):
    """A store URL, option or setting is malformed or names something unknown."""


class InvalidInputError(FlightlogError, ValueError):
    """A value given to flightlog (run id, metadata, identifier) is not acceptable."""


class ArgumentMismatchError(InvalidInputError):
    """A run was started again under its id with other arguments than it recorded."""


class SerializationError(FlightlogError, TypeError):
    """A value cannot be encoded for the store, or a stored value cannot be decoded."""


class NotFoundError(FlightlogError, KeyError):
    """No run, step or record exists under the given name."""

    def __str__(self) -> str:
        # KeyError quotes its argument; a readable message is more useful here.
        return str(self.args[0]) if self.args else "not found"


class ConflictError(FlightlogError):
    """The operation collides with a record that exists (e.g. a run id in use)."""


class StoreError(FlightlogError):
    """The store failed, or refused the operation."""


class SchemaVersionError(StoreError):
    """The store's schema is newer than this version of flightlog understands."""


class NondeterminismError(FlightlogError):
    """A resumed workflow reached a recorded step whose identity differs from the record."""


class CanceledError(FlightlogError):
    """The run was canceled: no new step starts."""


class StepTimeoutError(FlightlogError, TimeoutError):
    """An attempt of a step ran longer than the task's ``timeout``."""

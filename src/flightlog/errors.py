"""The exceptions flightlog raises.

Every error flightlog itself raises derives from :class:`FlightlogError`; the exceptions
raised by users' own tasks pass through unchanged.

::

    FlightlogError
    ├── ConfigurationError        bad store URL, unknown scheme, bad option
    │   └── MissingDependencyError (ImportError)  an optional package is not installed
    ├── InvalidInputError         bad run id, metadata that is not JSON, bad identifier
    │   └── ArgumentMismatchError     a run re-run with other arguments than recorded (issue 3)
    ├── SerializationError        a value that cannot be encoded or decoded safely
    │   └── MissingBlobError          a value stored out of line whose blob is gone (gc, copy)
    ├── NotFoundError (KeyError)  unknown run id or step name
    ├── ConflictError             a run id that is taken by a live run
    ├── StoreError                the store failed or refused
    │   └── SchemaVersionError        the store was written by a newer flightlog
    ├── NondeterminismError       a resumed run meets a recorded step with other identities
    ├── CanceledError             the run was canceled; no new step starts
    ├── ResourceError             a resource's computation failed elsewhere, or its process died
    ├── ShellError                a shell step's command exited with a non-zero status
    ├── TrackerError              a tracker could not deliver (e.g. MLflow did not answer)
    ├── OutsideRunError (RuntimeError)  track() or attach() called where no run is recorded
    ├── StepTimeoutError (TimeoutError)  an attempt ran longer than its ``timeout``
    ├── WorkerLostError           the worker running a submitted step died (processes, Ray, Dask)
    └── RemoteStepError           a step that ran elsewhere raised an error that cannot cross back

Warnings: ``TrackerWarning`` (a tracker failed) and ``StoreWarning`` (a record of the store
could not be read; the others were listed).
"""

from __future__ import annotations

from typing import Any


class FlightlogError(Exception):
    """The root of every error that flightlog raises itself."""


class ConfigurationError(FlightlogError):
    """A store URL, option or setting is malformed or names something unknown."""


class MissingDependencyError(ConfigurationError, ImportError):
    """A feature needs an optional package that is not installed (the message names it)."""


class InvalidInputError(FlightlogError, ValueError):
    """A value given to flightlog (run id, metadata, identifier) is not acceptable."""


class ArgumentMismatchError(InvalidInputError):
    """A run was started again under its id with other arguments than it recorded."""


class SerializationError(FlightlogError, TypeError):
    """A value cannot be encoded for the store, or a stored value cannot be decoded."""


class MissingBlobError(SerializationError):
    """A value stored out of line (in the store's blobs) cannot be read: its blob is not in
    the store (deleted by ``gc``, also while it was read, or never copied there). Never
    raised for bytes that are there but damaged (that is a StoreError)."""


class NotFoundError(FlightlogError, KeyError):
    """No run, step or record exists under the given name."""

    def __str__(self) -> str:
        # KeyError quotes its argument; a readable message is more useful here.
        return str(self.args[0]) if self.args else "not found"


class ConflictError(FlightlogError):
    """The operation collides with a record that exists (e.g. a run id in use)."""


class StoreError(FlightlogError):
    """The store failed, or refused the operation."""


class NoStoreError(NotFoundError, StoreError):
    """There is no store at the URL, and it was not to be made (``create=False``)."""


class SchemaVersionError(StoreError):
    """The store's schema is newer than this version of flightlog understands."""


class NondeterminismError(FlightlogError):
    """A resumed workflow reached a recorded step whose identity differs from the record."""


class CanceledError(FlightlogError):
    """The run was canceled: no new step starts."""


class ResourceError(FlightlogError):
    """A resource computed by another thread or process failed, or that process died.

    ``error`` holds the recorded error (type, message and traceback) when there is one.
    """

    def __init__(self, message: str, error: Any = None) -> None:
        super().__init__(message)
        self.error = error

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.error))


class ShellError(FlightlogError):
    """A shell step's command exited with a non-zero status (``returncode``; negative: the
    signal that ended it). ``stderr_tail`` holds the last lines it wrote to stderr."""

    def __init__(self, message: str, returncode: int = 1, stderr_tail: str = "") -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr_tail = stderr_tail

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.returncode, self.stderr_tail))


class OutsideRunError(FlightlogError, RuntimeError):
    """``flightlog.track()`` or ``flightlog.attach()`` was called where no run is recorded."""


class StepTimeoutError(FlightlogError, TimeoutError):
    """An attempt of a step ran longer than the task's ``timeout``."""


class TrackerError(FlightlogError):
    """A tracker could not deliver what a run recorded (its server refused it, or did not
    answer in time). A live run reports it as a :class:`TrackerWarning` and goes on; an
    export raises it."""


class TrackerWarning(UserWarning):
    """A tracker failed (reported once per tracker; the run goes on), or could not record a
    value as asked (e.g. a second, different value for an MLflow parameter)."""


class StoreWarning(UserWarning):
    """A record of the store could not be read and was left out of a listing (the message
    names its path and what is wrong); reading that record alone raises StoreError."""


class WorkerLostError(FlightlogError):
    """The worker that ran a submitted step died before the step ended (see executors)."""


class RemoteStepError(FlightlogError):
    """A step that ran in another process raised an error that could not be sent back as it
    was (its class cannot be pickled or imported here): its type, message and traceback."""

    def __init__(self, type_name: str, message: str, traceback_text: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message
        self.traceback_text = traceback_text

    def __reduce__(self) -> tuple[object, ...]:
        return (RemoteStepError, (self.type_name, self.message, self.traceback_text))

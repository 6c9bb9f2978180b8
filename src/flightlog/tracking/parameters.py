"""A run's arguments by parameter name, read from its record without importing its code.

The runtime records a workflow's parameter names with each run (``environment["entry"]
["parameters"]``, see ``flightlog.runtime.task.parameter_names``); bound to the recorded
arguments they name each value as the workflow's signature does. The run log shows the
arguments so bound, as given and stored (JSON: :func:`run_parameters`). Trackers
(``track_parameters``), ``list_runs(params=...)`` and ``runs_frame`` see every parameter by
its name, decoded (:func:`decoded_parameters`): with the defaults recorded beside the names
(``environment["entry"]["defaults"]``) for parameters the call left out, ``*args`` as a list
and each of ``**kwargs`` under its own name (``w(1, extra=3)`` of ``def w(lr, n=5, *rest,
**kw)`` gives ``{"lr": 1, "n": 5, "extra": 3}``).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

from .. import codec
from ..errors import FlightlogError
from ..model import Run
from ..named_arguments import bind_named, recorded_defaults, recorded_names, signature_of

__all__ = ["decoded_parameters", "recorded_signature", "run_parameters"]


def recorded_signature(run: Run) -> inspect.Signature | None:
    """The parameters recorded with the run (``environment["entry"]["parameters"]``, see
    ``flightlog.runtime.task.parameter_names``) as a signature without defaults; None for
    runs recorded without them, or with something else there."""
    names = recorded_names(run.environment)
    return None if names is None else signature_of(names)


def _read(run: Run, decode: Callable[[str], Any], by_name: bool) -> dict[str, Any]:
    if run.arguments is None:
        return {}
    environment = run.environment
    defaults = (lambda: recorded_defaults(environment, decode)) if by_name else None
    return bind_named(environment, decode(run.arguments), defaults)


def run_parameters(run: Run) -> dict[str, Any]:
    """The run's arguments by parameter name, as recorded with the run (JSON, as stored).
    Runs recorded without parameter names (before flightlog recorded them) name keyword
    arguments by name and positional ones ``args[0]``, ``args[1]`` … (no parameter is called
    that). Nothing is imported: the workflow's code is never run to read its runs."""
    return _read(run, json.loads, by_name=False)


def decoded_parameters(run: Run) -> dict[str, Any]:
    """Every parameter of the run by its name, decoded: as :func:`run_parameters`, with the
    recorded defaults of those left out, ``*args`` as a list and ``**kwargs`` by their own
    names. A value of a class whose module is not imported is an
    :class:`~flightlog.codec.Undecoded`; a record that cannot be decoded gives no
    parameters."""
    try:
        return _read(run, lambda text: codec.decode(text, placeholders=True), by_name=True)
    except FlightlogError:
        return {}

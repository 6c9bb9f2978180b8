"""A run's arguments by parameter name, read from its record without importing its code.

The runtime records a workflow's parameter names with each run (``environment["entry"]
["parameters"]``, see ``flightlog.runtime.task.parameter_names``); bound to the recorded
arguments they name each value as the workflow's signature does. The run log shows them as
stored (JSON); trackers receive them decoded (``track_parameters``).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

from .. import codec
from ..errors import FlightlogError
from ..model import Run

__all__ = ["decoded_parameters", "recorded_signature", "run_parameters"]


def recorded_signature(run: Run) -> inspect.Signature | None:
    """The parameters recorded with the run (``environment["entry"]["parameters"]``, see
    ``flightlog.runtime.task.parameter_names``) as a signature without defaults; None for
    runs recorded without them, or with something else there."""
    entry = run.environment.get("entry")
    names = entry.get("parameters") if isinstance(entry, dict) else None
    if not isinstance(names, list):
        return None
    kinds = inspect.Parameter
    parameters: list[inspect.Parameter] = []
    keyword_only = False
    try:
        for name in names:
            if name == "/":
                only = kinds.POSITIONAL_ONLY
                parameters = [parameter.replace(kind=only) for parameter in parameters]
            elif name == "*":
                keyword_only = True
            elif name.startswith("**"):
                parameters.append(inspect.Parameter(name[2:], kinds.VAR_KEYWORD))
            elif name.startswith("*"):
                parameters.append(inspect.Parameter(name[1:], kinds.VAR_POSITIONAL))
                keyword_only = True
            else:
                kind = kinds.KEYWORD_ONLY if keyword_only else kinds.POSITIONAL_OR_KEYWORD
                parameters.append(inspect.Parameter(name, kind))
        return inspect.Signature(parameters)
    except (AttributeError, TypeError, ValueError):  # not names, or not in a valid order
        return None


def _named(run: Run, recorded: Any) -> dict[str, Any]:
    if not isinstance(recorded, dict):
        return {}
    args = list(recorded.get("args") or [])
    kwargs = dict(recorded.get("kwargs") or {})
    signature = recorded_signature(run)
    if signature is not None:
        try:
            bound = signature.bind_partial(*args, **kwargs)
            return dict(bound.arguments)
        except TypeError:
            pass
    named = {f"args[{index}]": value for index, value in enumerate(args)}
    named.update(kwargs)
    return named


def _read(run: Run, decode: Callable[[str], Any]) -> dict[str, Any]:
    return {} if run.arguments is None else _named(run, decode(run.arguments))


def run_parameters(run: Run) -> dict[str, Any]:
    """The run's arguments by parameter name, as recorded with the run (JSON, as stored).
    Runs recorded without parameter names (before flightlog recorded them) name keyword
    arguments by name and positional ones ``args[0]``, ``args[1]`` … (no parameter is called
    that). Nothing is imported: the workflow's code is never run to read its runs."""
    return _read(run, json.loads)


def decoded_parameters(run: Run) -> dict[str, Any]:
    """The run's arguments by parameter name (see :func:`run_parameters`), decoded: a value
    of a class whose module is not imported is an :class:`~flightlog.codec.Undecoded`; a
    record that cannot be decoded gives no parameters."""
    try:
        return _read(run, lambda text: codec.decode(text, placeholders=True))
    except FlightlogError:
        return {}

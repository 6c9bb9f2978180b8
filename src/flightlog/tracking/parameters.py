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

import functools
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import codec
from ..errors import FlightlogError
from ..model import Run

__all__ = ["decoded_parameters", "recorded_signature", "run_parameters"]


def recorded_signature(run: Run) -> inspect.Signature | None:
    """The parameters recorded with the run (``environment["entry"]["parameters"]``, see
    ``flightlog.runtime.task.parameter_names``) as a signature without defaults; None for
    runs recorded without them, or with something else there."""
    names = _names(run)
    return None if names is None else _signature_of(names)


def _names(run: Run) -> tuple[str, ...] | None:
    entry = run.environment.get("entry")
    names = entry.get("parameters") if isinstance(entry, dict) else None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        return None
    return tuple(names)


@functools.lru_cache(maxsize=256)
def _signature_of(names: tuple[str, ...]) -> inspect.Signature | None:
    """The signature that ``names`` (see ``parameter_names``) write; made once for each."""
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


def _named(run: Run, recorded: Any, decode: Callable[[str], Any], by_name: bool) -> dict[str, Any]:
    if not isinstance(recorded, dict):
        return {}
    args = list(recorded.get("args") or [])
    kwargs = dict(recorded.get("kwargs") or {})
    names = _names(run)
    signature = None if names is None else _signature_of(names)
    if names is not None and signature is not None:
        bound = _bound(_layout(names), args, kwargs)
        if bound is not None:
            return _by_name(signature, bound, _defaults(run, decode)) if by_name else bound
    named = {f"args[{index}]": value for index, value in enumerate(args)}
    named.update(kwargs)
    return named


@dataclass(frozen=True)
class _Layout:
    """Where a signature puts arguments: positional ones in order, by keyword, the rest."""

    positional: tuple[str, ...]
    keywords: frozenset[str]
    var_positional: str | None
    var_keyword: str | None


@functools.lru_cache(maxsize=256)
def _layout(names: tuple[str, ...]) -> _Layout:
    """Where the signature that ``names`` write (a valid one) puts arguments."""
    signature = _signature_of(names)
    assert signature is not None
    kinds = inspect.Parameter
    found = {
        kind: [p.name for p in signature.parameters.values() if p.kind is kind]
        for kind in (
            kinds.POSITIONAL_ONLY,
            kinds.POSITIONAL_OR_KEYWORD,
            kinds.KEYWORD_ONLY,
            kinds.VAR_POSITIONAL,
            kinds.VAR_KEYWORD,
        )
    }
    return _Layout(
        positional=(*found[kinds.POSITIONAL_ONLY], *found[kinds.POSITIONAL_OR_KEYWORD]),
        keywords=frozenset(found[kinds.POSITIONAL_OR_KEYWORD] + found[kinds.KEYWORD_ONLY]),
        var_positional=next(iter(found[kinds.VAR_POSITIONAL]), None),
        var_keyword=next(iter(found[kinds.VAR_KEYWORD]), None),
    )


def _bound(layout: _Layout, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """The arguments by parameter name as ``Signature.bind_partial`` binds them (``*args`` a
    tuple, ``**kwargs`` a dict), or None where it would refuse them; without its cost."""
    count = len(layout.positional)
    if len(args) > count and layout.var_positional is None:
        return None
    bound: dict[str, Any] = dict(zip(layout.positional, args, strict=False))
    if layout.var_positional is not None and len(args) > count:
        bound[layout.var_positional] = tuple(args[count:])
    extra: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in layout.keywords:
            if key in bound:
                return None
            bound[key] = value
        elif layout.var_keyword is not None:
            extra[key] = value
        else:
            return None
    if extra and layout.var_keyword is not None:
        bound[layout.var_keyword] = extra
    return bound


def _defaults(run: Run, decode: Callable[[str], Any]) -> dict[str, Any]:
    """The workflow's default values recorded with the run (``environment["entry"]
    ["defaults"]``, see ``flightlog.runtime.task.parameter_defaults``), decoded as ``decode``
    does; a default that does not decode is left out."""
    entry = run.environment.get("entry")
    recorded = entry.get("defaults") if isinstance(entry, dict) else None
    if not isinstance(recorded, dict):
        return {}
    defaults: dict[str, Any] = {}
    for name, value in recorded.items():
        try:
            defaults[name] = decode(json.dumps(value, separators=(",", ":")))
        except (FlightlogError, ValueError):
            continue
    return defaults


def _by_name(
    signature: inspect.Signature, bound: dict[str, Any], defaults: dict[str, Any]
) -> dict[str, Any]:
    """Every parameter by its name: the bound ones, then those left at their defaults;
    ``*args`` as a list (when any were given), and each of ``**kwargs`` under its own
    name."""
    named: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for name, parameter in signature.parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            found = bound.get(name)
            extra = dict(found) if isinstance(found, dict) else {}
        elif parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            if bound.get(name):  # none given: left out, as an empty **kwargs is
                named[name] = list(bound[name])
        elif name in bound:
            named[name] = bound[name]
        elif name in defaults:
            named[name] = defaults[name]
    for name, value in extra.items():
        named.setdefault(name, value)  # a positional-only name may come again in **kwargs
    return named


def _read(run: Run, decode: Callable[[str], Any], by_name: bool) -> dict[str, Any]:
    if run.arguments is None:
        return {}
    return _named(run, decode(run.arguments), decode, by_name)


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

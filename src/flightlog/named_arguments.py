"""A run's recorded arguments bound to its recorded parameter names, as JSON, without
importing its code.

The runtime records a workflow's parameter names with each run (``environment["entry"]
["parameters"]``, see ``flightlog.runtime.task.parameter_names``) and the defaults it could
encode (``environment["entry"]["defaults"]``). Bound to the recorded arguments (``{"args":
[...], "kwargs": {...}}``) they name each value as the workflow's signature does.
:func:`parameters_text` gives every parameter by its name, as stores keep it beside the
arguments (``runs.parameters``) so that a question by parameter value is answered from that
column rather than by reading every run: ``w(0.1, extra=3)`` of ``def w(lr, n=5, *rest,
**kw)`` gives ``{"lr":"0.1","n":"5","extra":"3"}``, each value the compact JSON text it is
stored as (see :mod:`flightlog.codec`).
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import FlightlogError

__all__ = ["LONG", "LONGEST", "bind_named", "parameters_text", "recorded_names", "signature_of"]

_COMPACT = (",", ":")
TAG = "__flightlog__"  # the key of a value the codec tags (see flightlog.codec)
LONGEST = 1024
"""The longest value text kept in a run's parameters by name; a longer one is kept as
:data:`LONG` (its value is read from the run's arguments when asked for)."""
LONG = "..."  # not JSON: no value's text is ever this


def recorded_names(environment: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The parameter names recorded in a run's environment; None when there are none, or
    something else is there."""
    entry = environment.get("entry")
    names = entry.get("parameters") if isinstance(entry, dict) else None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        return None
    return tuple(names)


@functools.lru_cache(maxsize=256)
def signature_of(names: tuple[str, ...]) -> inspect.Signature | None:
    """The signature that ``names`` (see ``parameter_names``) write, without defaults; None
    when they are not a valid one. Made once for each."""
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


@dataclass(frozen=True)
class Layout:
    """Where a signature puts arguments: positional ones in order, by keyword, the rest."""

    positional: tuple[str, ...]
    keywords: frozenset[str]
    var_positional: str | None
    var_keyword: str | None


@functools.lru_cache(maxsize=256)
def layout_of(names: tuple[str, ...]) -> Layout:
    """Where the signature that ``names`` write (a valid one) puts arguments."""
    signature = signature_of(names)
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
    return Layout(
        positional=(*found[kinds.POSITIONAL_ONLY], *found[kinds.POSITIONAL_OR_KEYWORD]),
        keywords=frozenset(found[kinds.POSITIONAL_OR_KEYWORD] + found[kinds.KEYWORD_ONLY]),
        var_positional=next(iter(found[kinds.VAR_POSITIONAL]), None),
        var_keyword=next(iter(found[kinds.VAR_KEYWORD]), None),
    )


def bound_arguments(
    layout: Layout, args: list[Any], kwargs: dict[str, Any]
) -> dict[str, Any] | None:
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


def recorded_defaults(
    environment: Mapping[str, Any], decode: Callable[[str], Any] | None = None
) -> dict[str, Any]:
    """The workflow's default values recorded with the run (``environment["entry"]
    ["defaults"]``, see ``flightlog.runtime.task.parameter_defaults``): as JSON, or decoded as
    ``decode`` does (a default that does not decode is left out)."""
    entry = environment.get("entry")
    recorded = entry.get("defaults") if isinstance(entry, dict) else None
    if not isinstance(recorded, dict):
        return {}
    if decode is None:
        return dict(recorded)
    defaults: dict[str, Any] = {}
    for name, value in recorded.items():
        try:
            defaults[name] = decode(json.dumps(value, separators=_COMPACT))
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


def bind_named(
    environment: Mapping[str, Any],
    recorded: Any,
    defaults: Callable[[], dict[str, Any]] | None,
) -> dict[str, Any]:
    """The recorded arguments (``{"args": [...], "kwargs": {...}}``, decoded or as JSON) by
    parameter name. With ``defaults`` (a maker of the recorded defaults, in the same form):
    every parameter, those left at their defaults too, ``*args`` as a list and each of
    ``**kwargs`` under its own name; without: as the signature binds them. Runs recorded
    without parameter names, or whose arguments do not bind, name keyword arguments by name
    and positional ones ``args[0]``, ``args[1]`` … (no parameter is called that)."""
    if not isinstance(recorded, dict):
        return {}
    args = list(recorded.get("args") or [])
    kwargs = dict(recorded.get("kwargs") or {})
    names = recorded_names(environment)
    signature = None if names is None else signature_of(names)
    if names is not None and signature is not None:
        bound = bound_arguments(layout_of(names), args, kwargs)
        if bound is not None:
            return bound if defaults is None else _by_name(signature, bound, defaults())
    named = {f"args[{index}]": value for index, value in enumerate(args)}
    named.update(kwargs)
    return named


def parameters_text(arguments: str | None, environment: Mapping[str, Any]) -> str | None:
    """Every parameter of a run by its name (defaults, ``*args`` and ``**kwargs`` as
    :func:`bind_named` gives them), as a JSON object of the compact JSON text of each value:
    what stores keep in ``runs.parameters``; a value longer than :data:`LONGEST` as
    :data:`LONG`. None for a run without arguments, or whose arguments are not here (kept out
    of line as a whole, a tagged reference to the blobs: see :mod:`flightlog.codec_blobs`), or
    not JSON text, or with a keyword name that the codec tags or that JSON escapes (a
    control character); such runs are found by their stored text instead."""
    if arguments is None:
        return None
    try:
        recorded = json.loads(arguments)
    except ValueError:
        return None
    if not isinstance(recorded, dict) or TAG in recorded:  # a reference to the blobs
        return None
    kwargs = recorded.get("kwargs")
    if isinstance(kwargs, dict) and TAG in kwargs:  # keyword names the codec had to tag
        return None
    named = bind_named(environment, recorded, lambda: recorded_defaults(environment))
    if not all(isinstance(name, str) and name.isprintable() for name in named):
        return None  # a name JSON would escape (a control character): not every database reads it
    try:
        texts = {name: json.dumps(value, separators=_COMPACT) for name, value in named.items()}
        long = {name: LONG for name, text in texts.items() if len(text) > LONGEST}
        return json.dumps({**texts, **long}, separators=_COMPACT)
    except (TypeError, ValueError):  # not JSON after all
        return None

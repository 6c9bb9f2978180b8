"""Which runs a question is about, and the counts a store gives for them (plain records).

A :class:`RunSelection` is what a store can answer itself (from its indexes, where it has
them): stored status, workflow, tag, creation time, a text search, and substrings of the
stored argument and metadata text. The query API narrows further in Python where a store
cannot (a derived status, an argument's exact value, a metric).
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .model import MetricChunk, Run, Status
from .named_arguments import LONG

__all__ = [
    "ArgumentText",
    "RunSelection",
    "StatusCounts",
    "ascii_lower",
    "compares",
    "environment_text",
    "last_point_of",
    "metadata_text",
    "parameter_value_text",
    "run_matches",
    "search_fields",
]

TERMINAL = frozenset({Status.SUCCESSFUL, Status.FAILED, Status.CANCELED})


@dataclass(frozen=True, slots=True)
class ArgumentText:
    """What a run holds in its stored text when one of its arguments has a value: one text of
    each group of ``passed`` in its stored ``arguments`` text (the argument was passed), or
    one of ``default`` in its environment as compact JSON (:func:`environment_text`; the
    argument was left at a default recorded there). No group to look for: any run.

    With the parameter's ``name`` (a plain identifier), a run that has its parameters by
    name (``Run.parameters``) is looked at there instead: the text of its value under that
    name is one of ``exact`` (a scalar's forms), or starts with ``{`` (a value the codec
    tags: it may equal the scalar); without ``exact``, the text holds one text of each group
    of ``within``. A value too long to keep there (:data:`~flightlog.named_arguments.LONG`)
    may hold anything. A run without that name does not hold it."""

    passed: tuple[tuple[str, ...], ...]
    default: tuple[str, ...]
    name: str | None = None
    exact: tuple[str, ...] | None = None
    within: tuple[tuple[str, ...], ...] = ()

    def keyed(self) -> bool:
        """Whether runs with parameters by name are looked at there (``name`` is a plain
        identifier, which stores may write into a query)."""
        name = self.name
        return name is not None and name.isascii() and name.isidentifier()

    def held_by(self, arguments: str, environment: str, parameters: str | None = None) -> bool:
        """Whether the stored texts hold it (the reference for every store)."""
        if parameters is not None and self.keyed():
            return self.held_by_value(parameter_value_text(parameters, self.name or ""))
        if all(any(text in arguments for text in group) for group in self.passed):
            return True
        return any(text in environment for text in self.default)

    def held_by_value(self, value: str | None) -> bool:
        """Whether a run whose parameter's value has this text (None: no such parameter)
        holds it."""
        if value is None:
            return False
        if value == LONG:  # too long to keep: read from the arguments when asked for
            return True
        if self.exact is not None:
            return value in self.exact or value.startswith("{")
        return all(any(text in value for text in group) for group in self.within)


def parameter_value_text(parameters: str, name: str) -> str | None:
    """The text of one parameter's value in a run's parameters by name (``Run.parameters``);
    None when it has no such parameter."""
    try:
        named = json.loads(parameters)
    except ValueError:
        return None
    value = named.get(name) if isinstance(named, dict) else None
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class RunSelection:
    """Runs matching every given criterion (None: any).

    ``since`` and ``until`` bound ``created_time`` (the run's first start, epoch seconds;
    ``since <= created_time < until``). ``search`` matches, ignoring the case of ASCII letters, a
    substring of any one of :func:`search_fields`: run id, workflow, tag, error type, error
    message, the user metadata as compact JSON, and the stored
    ``arguments`` text.
    ``arguments_containing`` and ``metadata_containing`` are strings that the stored
    ``arguments`` text, and the user metadata as compact JSON (:func:`metadata_text`), must
    each contain. ``parameters``: for each, the run's text holds it (see
    :class:`ArgumentText`). ``metric_names``: the run recorded a metric of each name.
    ``metric_bounds``: for each (name, operator, number), the run's last value of that
    metric (the value at its highest series step, see :func:`last_point_of`) passes the
    comparison; a store that keeps last values where it cannot compare them (not a number)
    may give such runs too, for the caller to compare.
    """

    statuses: frozenset[Status] | None = None
    workflow: str | None = None
    tag: str | None = None
    since: float | None = None
    until: float | None = None
    search: str | None = None
    arguments_containing: tuple[str, ...] = ()
    metadata_containing: tuple[str, ...] = ()
    parameters: tuple[ArgumentText, ...] = ()
    metric_names: tuple[str, ...] = ()
    metric_bounds: tuple[tuple[str, str, float], ...] = ()


METRIC_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def compares(value: Any, symbol: str, bound: Any) -> bool:
    """Whether ``value symbol bound`` holds (False where they cannot be compared)."""
    try:
        return bool(METRIC_OPERATORS[symbol](value, bound))
    except (TypeError, ValueError):
        return False


def last_point_of(chunks: Iterable[MetricChunk]) -> tuple[int, Any] | None:
    """The last point of one metric's chunks, in the order written: the one at the highest
    series step, the last written among equal steps."""
    best: tuple[int, Any] | None = None
    for chunk in chunks:
        point = chunk.last_point()
        if point is not None and (best is None or point[0] >= best[0]):
            best = point
    return best


@dataclass(slots=True)
class StatusCounts:
    """How many runs (by stored status) and steps (by status) a selection holds; only
    non-zero counts appear."""

    runs: dict[Status, int] = field(default_factory=dict)
    steps: dict[Status, int] = field(default_factory=dict)


def metadata_text(metadata: Mapping[str, Any]) -> str:
    """User metadata as the compact JSON that stores keep (empty for none)."""
    if not metadata:
        return ""
    return json.dumps(metadata, separators=(",", ":"))


def environment_text(environment: Mapping[str, Any]) -> str:
    """A run's environment as the compact JSON that stores keep (empty for none)."""
    return metadata_text(environment)


def search_fields(run: Run) -> tuple[str, ...]:
    """The texts ``RunSelection.search`` looks in (each on its own)."""
    error = run.error
    return (
        run.run_id,
        run.workflow,
        run.tag or "",
        "" if error is None else error.type,
        "" if error is None else error.message,
        metadata_text(run.user_metadata),
        run.arguments or "",
    )


def ascii_lower(text: str) -> str:
    """The text with ASCII capitals made small (as SQL's ``lower`` does everywhere)."""
    return text.translate(_LOWER)


_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}


def run_matches(run: Run, selection: RunSelection) -> bool:
    """Whether the run (as stored) is in the selection, but for ``metric_names`` (which the
    store checks in its metrics): the reference for every store."""
    s = selection
    if s.statuses is not None and run.status not in s.statuses:
        return False
    if s.workflow is not None and run.workflow != s.workflow:
        return False
    if s.tag is not None and run.tag != s.tag:
        return False
    created = run.created_time
    if s.since is not None and (created is None or created < s.since):
        return False
    if s.until is not None and (created is None or created >= s.until):
        return False
    if s.search is not None:
        wanted = ascii_lower(s.search)
        if not any(wanted in ascii_lower(text) for text in search_fields(run)):
            return False
    arguments = run.arguments or ""
    if any(part not in arguments for part in s.arguments_containing):
        return False
    metadata = metadata_text(run.user_metadata)
    if any(part not in metadata for part in s.metadata_containing):
        return False
    if s.parameters:
        environment = environment_text(run.environment)
        named = run.parameters
        if not all(argument.held_by(arguments, environment, named) for argument in s.parameters):
            return False
    return True

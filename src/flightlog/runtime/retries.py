"""Retries: how long to wait before the next attempt, and which errors earn one.

A task's ``retry_delay`` is a number of seconds, a list of delays (the delay before retry 1,
2, 3 …; the last one repeats), or a :class:`Backoff` (exponential, with jitter). Its
``retry_on`` is an exception type, a tuple of types, or a predicate ``(exception) -> bool``;
errors it does not match fail the step at once. Both are checked when the task is declared
(:func:`check_retry_delay`, :func:`check_retry_on`) and recorded with its options as JSON.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from ..errors import InvalidInputError

_RANDOM = random.Random()


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: the delay before retry *n* is
    ``min(initial * factor ** (n - 1), maximum)``, moved at random by up to ``jitter`` (a
    fraction) of itself, and never above ``maximum``. Make one with :func:`flightlog.backoff`."""

    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 60.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        for name in ("initial", "factor", "maximum", "jitter"):
            value = getattr(self, name)
            if not _number(value):
                raise InvalidInputError(f"backoff: {name} must be a finite number, not {value!r}")
        if self.initial < 0:
            raise InvalidInputError(f"backoff: initial must be >= 0 seconds, not {self.initial!r}")
        if self.factor < 1:
            raise InvalidInputError(f"backoff: factor must be >= 1, not {self.factor!r}")
        if self.maximum < self.initial:
            raise InvalidInputError(
                f"backoff: maximum ({self.maximum!r}) must be >= initial ({self.initial!r})"
            )
        if not 0 <= self.jitter <= 1:
            raise InvalidInputError(
                f"backoff: jitter must be a fraction between 0 and 1, not {self.jitter!r}"
            )

    def delay(self, retry: int) -> float:
        """The seconds to wait before retry number ``retry`` (1 for the first retry)."""
        try:
            base = min(self.initial * self.factor ** (retry - 1), self.maximum)
        except OverflowError:
            base = self.maximum
        if self.jitter:
            base *= 1 + _RANDOM.uniform(-self.jitter, self.jitter)
        return min(max(base, 0.0), self.maximum)

    def recorded(self) -> dict[str, float]:
        """The parameters as recorded in a step's ``step_options["retry_delay"]``."""
        return {
            "initial": self.initial,
            "factor": self.factor,
            "maximum": self.maximum,
            "jitter": self.jitter,
        }


def backoff(
    *, initial: float = 1.0, factor: float = 2.0, maximum: float = 60.0, jitter: float = 0.1
) -> Backoff:
    """Exponential backoff for ``@fl.task(retry_delay=...)``: wait ``initial`` seconds before
    the first retry, ``factor`` times longer before each next one, at most ``maximum``; each
    delay moves at random by up to ``jitter`` (a fraction, 0.1 = ±10 %) of itself."""
    return Backoff(initial=initial, factor=factor, maximum=maximum, jitter=jitter)


RetryDelay: TypeAlias = float | Sequence[float] | Backoff
ErrorTypes: TypeAlias = type[BaseException] | tuple[type[BaseException], ...]
RetryOn: TypeAlias = ErrorTypes | Callable[[BaseException], bool] | None


def check_retry_delay(value: Any, what: str) -> float | tuple[float, ...] | Backoff:
    """The ``retry_delay`` option, checked (a list becomes a tuple)."""
    if isinstance(value, Backoff):
        return value
    if _number(value):
        if value < 0:
            raise InvalidInputError(f"{what}: retry_delay must be >= 0 seconds, not {value!r}")
        return float(value)
    if isinstance(value, (list, tuple)):
        if not value:
            raise InvalidInputError(f"{what}: retry_delay must not be an empty list")
        for delay in value:
            if not _number(delay) or delay < 0:
                raise InvalidInputError(
                    f"{what}: every delay in retry_delay must be a number >= 0 seconds, "
                    f"not {delay!r}"
                )
        return tuple(float(delay) for delay in value)
    raise InvalidInputError(
        f"{what}: retry_delay must be a number of seconds, a list of them, or "
        f"flightlog.backoff(...), not {type(value).__name__} {value!r:.80}"
    )


def check_retry_on(value: Any, what: str) -> RetryOn:
    """The ``retry_on`` option, checked."""
    if value is None or _error_type(value):
        return value  # type: ignore[no-any-return]
    if isinstance(value, tuple):
        if not value:
            raise InvalidInputError(f"{what}: retry_on must not be an empty tuple")
        for kind in value:
            if not _error_type(kind):
                raise InvalidInputError(
                    f"{what}: retry_on must hold exception types only, not {kind!r:.80}"
                )
        return value
    if isinstance(value, type):
        raise InvalidInputError(
            f"{what}: retry_on must be an exception type, not the class {value.__qualname__!r}"
        )
    if callable(value):
        return value  # type: ignore[no-any-return]
    raise InvalidInputError(
        f"{what}: retry_on must be an exception type, a tuple of them, or a function "
        f"(exception) -> bool, not {type(value).__name__} {value!r:.80}"
    )


def _error_type(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseException)


def delay_before(retry_delay: RetryDelay, retry: int) -> float:
    """The seconds to wait before retry number ``retry`` (1 for the first retry)."""
    if isinstance(retry_delay, Backoff):
        return retry_delay.delay(retry)
    if isinstance(retry_delay, (int, float)):
        return retry_delay
    return retry_delay[min(retry, len(retry_delay)) - 1]


def matches(retry_on: RetryOn, error: BaseException) -> bool:
    """Whether ``retry_on`` lets ``error`` be retried. A predicate that raises does not, and
    its error is added to the step's error as a note."""
    if retry_on is None:
        return True
    if isinstance(retry_on, (type, tuple)):
        return isinstance(error, retry_on)
    try:
        return bool(retry_on(error))
    except Exception as problem:
        note = (
            f"flightlog: not retried: the retry_on predicate {qualified_name(retry_on)} "
            f"raised {type(problem).__name__}: {problem}"
        )
        if hasattr(error, "add_note"):  # Python 3.11+
            error.add_note(note)
        return False


def qualified_name(thing: Any) -> str:
    """``module.Qualname`` (only ``Qualname`` for builtins), as errors are recorded."""
    name = getattr(thing, "__qualname__", None) or type(thing).__qualname__
    module = getattr(thing, "__module__", None)
    return name if module in (None, "builtins", "__main__") else f"{module}.{name}"


def recorded_delay(retry_delay: RetryDelay) -> Any:
    """``retry_delay`` as JSON: a number, a list, or the backoff's parameters."""
    if isinstance(retry_delay, Backoff):
        return retry_delay.recorded()
    if isinstance(retry_delay, (int, float)):
        return retry_delay
    return list(retry_delay)


def recorded_retry_on(retry_on: RetryOn) -> Any:
    """``retry_on`` as JSON: None, a list of qualified type names, or ``"predicate <name>"``."""
    if retry_on is None:
        return None
    if isinstance(retry_on, type):
        return [qualified_name(retry_on)]
    if isinstance(retry_on, tuple):
        return [qualified_name(kind) for kind in retry_on]
    return f"predicate {qualified_name(retry_on)}"


def pause(seconds: float, stop: threading.Event | None = None) -> None:
    """Wait between two attempts of a plain task, less when ``stop`` is set meanwhile (the
    run was canceled); tests replace it."""
    if stop is None:
        time.sleep(seconds)
    else:
        stop.wait(seconds)


async def pause_async(seconds: float) -> None:
    """Wait between two attempts of an ``async`` task (tests replace it)."""
    import asyncio  # loaded already: an async step runs

    await asyncio.sleep(seconds)

"""The state of a run in the process that drives it, and the context variables that find it."""

from __future__ import annotations

import contextvars
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..model import Step

if TYPE_CHECKING:
    from ..stores import Store

# Seconds after which a step still running is written as RUNNING by the monitor thread.
LAZY_START_DELAY = 0.1
# How long a run's lease lasts, and how often it is renewed.
LEASE_SECONDS = 60.0
LEASE_RENEWAL = 15.0


@dataclass(eq=False)
class RunState:
    """What the driving process knows of one live run."""

    store: Store
    run_id: str
    allow_pickle: bool = False
    # Steps recorded in an earlier attempt of this run, by position (used by resume).
    recorded: dict[int, Step] = field(default_factory=dict)
    in_flight: dict[int, Step] = field(default_factory=dict)
    started: set[int] = field(default_factory=set)
    cancel_requested: bool = False
    _names: dict[str, int] = field(default_factory=dict)
    _position: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_step(self, base: str) -> tuple[str, int]:
        """The name and position of the next step called ``base`` (``add``, ``add_1`` …)."""
        with self._lock:
            count = self._names.get(base, 0)
            self._names[base] = count + 1
            position = self._position
            self._position = position + 1
        return (base if count == 0 else f"{base}_{count}"), position


@dataclass(eq=False, slots=True)
class StepFrame:
    """The step that the current code runs inside."""

    run: RunState
    name: str


CURRENT_RUN: contextvars.ContextVar[RunState | None] = contextvars.ContextVar(
    "flightlog_run", default=None
)
CURRENT_STEP: contextvars.ContextVar[StepFrame | None] = contextvars.ContextVar(
    "flightlog_step", default=None
)


MISSING: Any = object()
"""Stands for "no value served": the step must execute."""


def options_summary(options: dict[str, Any]) -> dict[str, Any]:
    """Options with their default values left out."""
    return {key: value for key, value in options.items() if value not in (None, 0, 0.0, False)}

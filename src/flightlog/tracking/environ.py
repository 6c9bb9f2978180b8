"""Metrics from environment variables (runnable's convention).

At the end of a step, every variable ``<PREFIX><NAME>`` (recorded at step 0) or
``<PREFIX><NAME>_STEP_<n>`` (at step n) whose value is new or different from before the step
is recorded as metric ``<NAME>``, spelled as written, and then removed from the environment,
as runnable's experiment tracking does: a later step that sets it again records it again, and
a step around this one does not record it a second time. Variables that no step set (there
before the step, unchanged) stay. A value is decoded as JSON, as runnable decodes it
(``json.loads``): ``'{"ham": "world"}'`` is a dict, ``'"value"'`` the string ``value``, ``3``
an int, ``0.5`` and ``NaN`` floats, ``true`` the boolean True, ``null`` None; a value that is
not JSON (``True``, ``+1``, ``.5``, ``resnet``) is kept as the text. The prefix is
``FLIGHTLOG_TRACK_`` unless ``flightlog.open(track_prefix=...)`` says otherwise.

Cost: scanning the environment at every step's start and end would slow every step down, so
the dict behind ``os.environ`` is replaced, the first time a run starts, by a dict that counts
its changes (every write through ``os.environ`` or ``os.environb`` goes through it). A step
then only compares two counters; the environment is scanned only after it changed. Where that
dict cannot be replaced, every step scans.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from typing import Any

DEFAULT_PREFIX = "FLIGHTLOG_TRACK_"

_STEP = re.compile(r"(.+)_STEP_([0-9]+)\Z", re.DOTALL)
_install_lock = threading.Lock()
_environ: Any = os.environ

Snapshot = dict[str, str]
Mark = tuple[int, Snapshot]


class CountingDict(dict):  # type: ignore[type-arg]
    """The storage of ``os.environ``, counting its changes in ``version``."""

    __slots__ = ("version",)

    def __init__(self, data: dict[Any, Any]) -> None:
        super().__init__(data)
        self.version = 0

    def __setitem__(self, key: Any, value: Any) -> None:
        self.version += 1
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        self.version += 1
        super().__delitem__(key)

    def pop(self, *args: Any) -> Any:
        self.version += 1
        return super().pop(*args)

    def popitem(self) -> Any:
        self.version += 1
        return super().popitem()

    def clear(self) -> None:
        self.version += 1
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.version += 1
        super().update(*args, **kwargs)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self.version += 1
        return super().setdefault(key, default)


def watch_environment() -> bool:
    """Make ``os.environ`` count its changes (once per process); False where it cannot."""
    data = getattr(os.environ, "_data", None)
    if type(data) is CountingDict:
        return True
    with _install_lock:
        data = getattr(os.environ, "_data", None)
        if type(data) is CountingDict:
            return True
        if type(data) is not dict:
            return False
        counting = CountingDict(data)
        os.environ._data = counting  # type: ignore[attr-defined]
        environb = getattr(os, "environb", None)
        if environb is not None and getattr(environb, "_data", None) is data:
            environb._data = counting
        return True


def parse_value(text: str) -> Any:
    """The value as runnable reads it: decoded as JSON, else the text as it is; except that,
    as runnable documents, no boolean comes from the environment (``true`` stays text)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return text
    return text if isinstance(value, bool) else value


def metric_of(suffix: str) -> tuple[str, int] | None:
    """The metric name and series step that a variable name (after the prefix) spells."""
    found = _STEP.match(suffix)
    if found is not None:
        return found.group(1), int(found.group(2))
    return (suffix, 0) if suffix else None


class EnvironmentMetrics:
    """Finds the metrics that a step set through environment variables."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix
        self._prefix_bytes = None if sys.platform == "win32" else os.fsencode(prefix)
        self.cached: Mark = (-1, {})

    def _scan(self) -> Snapshot:
        data = getattr(os.environ, "_data", None)
        wanted = self._prefix_bytes
        if isinstance(data, dict) and wanted is not None:
            return {
                os.fsdecode(key): os.fsdecode(value)
                for key, value in list(data.items())
                if isinstance(key, bytes) and key.startswith(wanted)
            }
        prefix = self.prefix
        return {key: value for key, value in os.environ.copy().items() if key.startswith(prefix)}

    def mark(self) -> Mark:
        """The state of the variables at a step's start."""
        data = _environ._data
        if type(data) is not CountingDict:
            return (-1, self._scan())
        cached = self.cached
        version = data.version
        if cached[0] != version:
            cached = self.cached = (version, self._scan())
        return cached

    @staticmethod
    def unchanged(mark: Mark) -> bool:
        """Whether the environment is known not to have changed since ``mark``."""
        data = _environ._data
        return type(data) is CountingDict and data.version == mark[0]

    def changes(self, mark: Mark | None) -> list[tuple[str, int, Any]]:
        """The metrics (name, step, value) set since ``mark``: variables new or changed, which
        are removed from the environment (runnable's rule: read once, by the step that set
        them)."""
        if mark is None:
            return []
        if self.unchanged(mark):
            return []
        before = mark[1]
        found = []
        start = len(self.prefix)
        for variable, value in self._scan().items():
            if before.get(variable) == value:
                continue
            metric = metric_of(variable[start:])
            if metric is not None:
                found.append((metric[0], metric[1], parse_value(value)))
                os.environ.pop(variable, None)
        return found

    def exported(self, before: dict[str, str], after: dict[str, str]) -> list[tuple[str, int, Any]]:
        """The metrics a child process exported: its final variables ``after`` that are new or
        changed since it started with ``before``."""
        found = []
        start = len(self.prefix)
        for variable, value in after.items():
            if not variable.startswith(self.prefix) or before.get(variable) == value:
                continue
            metric = metric_of(variable[start:])
            if metric is not None:
                found.append((metric[0], metric[1], parse_value(value)))
        return found

"""What differs between two recorded calls of a task, in words: which parameter, or which
function, helper, closure or module constant of its code (with old and new values where the
task versions recorded them). Used by resume, explain and plan; nothing here runs user code.
"""

from __future__ import annotations

from typing import Any

from .. import codec
from ..errors import FlightlogError
from ..model import Step, TaskRecord

SHORT = 80


def _arguments(step: Step) -> dict[str, Any] | None:
    if step.arguments is None:
        return None
    try:
        value = codec.decode(step.arguments, placeholders=True)
    except FlightlogError:
        return None
    return value if isinstance(value, dict) else None


def argument_difference(before: Step, after: Step, *, where: str | None = None) -> str | None:
    """Which parameters differ between two calls of a task, in words (None when it cannot be
    told or nothing differs). ``where`` names the earlier call (default: its run)."""
    old, new = _arguments(before), _arguments(after)
    if old is None or new is None:
        return None
    names = [name for name in {**old, **new} if old.get(name, ...) != new.get(name, ...)]
    if not names:
        return None
    place = where or f"in run {before.run_id!r}"
    return ", ".join(
        f"parameter {name!r} was {old.get(name)!r:.{SHORT}} {place}, now {new.get(name)!r:.{SHORT}}"
        for name in names
    )


def _constant(record: TaskRecord, key: str) -> str | None:
    return record.constants.get(key)


def _changed(before: TaskRecord, after: TaskRecord, key: str) -> str:
    """A changed component, with its old and new value or source when they were recorded,
    and for a function, the closure variables whose values changed."""
    old, new = _constant(before, key), _constant(after, key)
    if old is not None and new is not None and old != new:
        return f"{key} (was {old}, now {new})"
    prefix = f"{key} (closure "
    closures = [
        f"closure variable {name[len(prefix) : -1]!r} was {text}, now {after.constants[name]}"
        for name, text in sorted(before.constants.items())
        if name.startswith(prefix) and after.constants.get(name, text) != text
    ]
    return f"{key} ({'; '.join(closures)})" if closures else key


def code_difference(before: TaskRecord | None, after: TaskRecord | None) -> str:
    """Which functions, helpers, closures or constants of a task's code changed, in words."""
    if before is None or after is None:
        return "the task's code differs"
    if before.version != after.version and (before.version or after.version):
        return f"its version changed from {before.version!r} to {after.version!r}"
    old, new = before.components, after.components
    changed = sorted(name for name in old.keys() & new.keys() if old[name] != new[name])
    added = sorted(new.keys() - old.keys())
    removed = sorted(old.keys() - new.keys())
    parts = []
    if changed:
        parts.append("changed: " + ", ".join(_changed(before, after, key) for key in changed))
    if added:
        parts.append("now also depends on: " + ", ".join(added))
    if removed:
        parts.append("no longer depends on: " + ", ".join(removed))
    return "its code differs (" + "; ".join(parts) + ")" if parts else "its code differs"

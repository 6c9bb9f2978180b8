"""What a tracked value may be, and how it is stored.

Numbers, strings, booleans and None are stored as they are (floats may be nan or infinite);
dicts with string keys, lists and tuples (as lists) of those are stored as a copy taken when
tracked; pydantic models (dumped as a dict, by alias), dataclasses (as a dict of their fields)
and numpy scalars become one of those. Anything else is refused with an error naming the key
and where inside the value the problem sits.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import InvalidInputError, SerializationError

PLAIN = frozenset({float, int, str, bool, type(None)})
STEP_LIMIT = 1 << 63
_DEPTH = 100


def _kind(value: object) -> str:
    kind = type(value)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def _scalar(value: Any) -> tuple[bool, Any]:
    """(True, the plain value) for numbers, strings, bools, None and their subclasses or numpy
    scalars; (False, None) otherwise."""
    if type(value) in PLAIN:
        return True, value
    if isinstance(value, bool):
        return True, bool(value)
    if isinstance(value, int):
        return True, int(value)
    if isinstance(value, float):
        return True, float(value)
    if isinstance(value, str):
        return True, str(value)
    if type(value).__module__ == "numpy" and getattr(value, "shape", None) == ():
        return _scalar(value.item())
    return False, None


def _structured(value: Any) -> Any:
    """A pydantic model or dataclass instance as a dict; anything else unchanged."""
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        try:
            return dump(mode="json", by_alias=True)
        except Exception as error:  # the model's own serialisation failed
            raise SerializationError(f"model_dump(mode='json') failed: {error}") from None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    return value


def _copy(value: Any, where: str, depth: int) -> Any:
    plain, found = _scalar(value)
    if plain:
        return found
    if depth > _DEPTH:
        raise SerializationError(f"{where} is nested too deeply (or contains itself)")
    value = _structured(value)
    if isinstance(value, dict):
        copied = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise SerializationError(
                    f"{where} has a key of type '{_kind(key)}'; keys must be strings"
                )
            copied[key] = _copy(item, f"{where}[{key!r}]", depth + 1)
        return copied
    if isinstance(value, (list, tuple)):
        return [_copy(item, f"{where}[{index}]", depth + 1) for index, item in enumerate(value)]
    raise SerializationError(
        f"{where} is of type '{_kind(value)}', which cannot be tracked: use a number, string, "
        "bool, None, a dict or list of those, a dataclass or a pydantic model"
    )


def tracked_value(name: str, value: Any) -> Any:
    """The value of metric ``name`` as stored; SerializationError naming the key otherwise."""
    plain, found = _scalar(value)
    if plain:
        return found
    try:
        return _copy(value, "value", 0)
    except SerializationError as error:
        raise SerializationError(f"metric {name!r}: {error}") from None


def check_step(step: Any) -> int:
    """A series step: an integer from 0 to 2**63 - 1."""
    plain, found = _scalar(step)
    if plain and type(found) is int and 0 <= found < STEP_LIMIT:
        return int(found)
    raise InvalidInputError(f"step must be an integer >= 0 (and < 2**63), not {step!r}")


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"a metric name must be a non-empty string, not {name!r}")
    return name


def is_number(value: Any) -> bool:
    """True for ints and floats, not for booleans."""
    return type(value) is float or type(value) is int

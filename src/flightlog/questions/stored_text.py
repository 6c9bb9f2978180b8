"""The texts that a wanted value certainly appears as, where a store keeps it as JSON text: what
a store can look for (a substring, from its indexes or in one pass over the runs table) before
the query API compares the values themselves.

Every text given here is found in the stored text of any value that the query API counts as
equal (:func:`same_value`): a whole float ``2.0`` is looked for as ``2`` (stored as ``2`` or
``2.0``), a list or tuple by each of its items, a dict by each key and value. A value that
has no certain text (not finite, a class's instance, long enough to be stored out of line)
adds nothing to look for, so that the store gives more runs rather than fewer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from ..codec_blobs import MIN_THRESHOLD
from ..errors import SerializationError
from ..selection import ArgumentText

__all__ = ["argument_text", "metadata_texts", "same_value"]

_LONGEST = MIN_THRESHOLD // 4  # values this long may be stored out of line, as a whole
_EXACT_FLOAT = 2.0**53


def _scalar(value: Any) -> str | None:
    """The text of a JSON scalar as stored, or its prefix; None for any other value."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        return str(value) if abs(value) < _EXACT_FLOAT else None  # else maybe stored as 1e+20
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value.is_integer():  # stored as 2 (an int) or 2.0 (a float)
            return str(int(value)) if abs(value) < _EXACT_FLOAT else None
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value) if len(value) < _LONGEST else None
    return None


def _leaves(value: Any, into: list[str]) -> None:
    """The texts of the scalars in a list, tuple or dict (and of the dict's keys)."""
    if isinstance(value, (list, tuple)):
        for item in value:
            _leaves(item, into)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                into.append(json.dumps(key))
            _leaves(item, into)
    else:
        text = _scalar(value)
        if text is not None:
            into.append(text)


def _parts(value: Any) -> tuple[str, ...]:
    found: list[str] = []
    _leaves(value, found)
    if sum(len(text) for text in found) >= _LONGEST:
        return ()
    return tuple(dict.fromkeys(found))  # each once, in order


def argument_text(name: str, value: Any) -> ArgumentText:
    """What a run called with ``name=value``, or leaving ``name`` at a recorded default of
    that value, holds in its stored text (see :class:`~flightlog.selection.ArgumentText`)."""
    scalar = _scalar(value)
    key = json.dumps(name) + ":"
    if scalar is not None:
        return ArgumentText(passed=(scalar,), default=key + scalar)
    return ArgumentText(passed=_parts(value), default=key)


def metadata_texts(wanted: Mapping[str, Any]) -> tuple[str, ...]:
    """What user metadata holding every key with its value holds in its compact JSON."""
    texts: list[str] = []
    for key, value in wanted.items():
        scalar = _scalar(value)
        name = json.dumps(key) + ":"
        texts.append(name if scalar is None else name + scalar)
        if scalar is None:
            texts.extend(_parts(value))
    return tuple(texts)


def same_value(stored: Any, wanted: Any) -> bool:
    """Whether a stored value is the one wanted: as ``==``, but a bool equals only a bool,
    and a list and a tuple with the same items are the same (JSON has no tuples)."""
    if isinstance(stored, bool) or isinstance(wanted, bool):
        return isinstance(stored, bool) and isinstance(wanted, bool) and stored is wanted
    if isinstance(stored, (list, tuple)) and isinstance(wanted, (list, tuple)):
        return len(stored) == len(wanted) and all(map(same_value, stored, wanted))
    if isinstance(stored, dict) and isinstance(wanted, dict):
        return stored.keys() == wanted.keys() and all(
            same_value(stored[key], wanted[key]) for key in stored
        )
    try:
        return bool(stored == wanted)
    except (TypeError, ValueError, SerializationError):  # e.g. an array's ambiguous truth
        return False

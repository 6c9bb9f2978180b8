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
from collections.abc import Callable, Mapping
from typing import Any

from ..codec_blobs import MIN_THRESHOLD, TEXT_PREFIX
from ..errors import FlightlogError, SerializationError
from ..selection import ArgumentText

__all__ = ["argument_text", "metadata_texts", "parameter_matches", "same_value"]

_LONGEST = MIN_THRESHOLD // 4  # values this long may be stored out of line, as a whole
_EXACT_FLOAT = 2.0**53
_AROUND = (("[", ","), ("[", "]"), (",", ","), (",", "]"), (",", "}"), (":", ","), (":", "}"))
"""What stands before and after a value in compact JSON: in a list, or as a dict's value."""
_SHORT_LIST = 16
_WHOLE = (TEXT_PREFIX,)
"""A run's arguments stored out of line as a whole (over the blob threshold): they may hold
anything, so each group of texts is held by this one too."""
_LIST_FORMS = 16


def _tokens(value: Any) -> tuple[str, ...] | None:
    """The JSON tokens a scalar may be stored as (a whole number as ``2`` or ``2.0``); None
    for any other value, or one with no certain text."""
    kind = type(value)  # not a subclass (an enum, a numpy number): the codec tags those
    if value is None or kind is bool:
        return (json.dumps(value),)
    if kind is int:
        whole = str(value)
    elif kind is float:
        if not math.isfinite(value):
            return None
        if not value.is_integer():
            return (repr(value),)
        whole = str(int(value))
    elif kind is str:
        return (json.dumps(value),) if len(value) < _LONGEST else None
    else:
        return None
    if abs(int(whole)) >= _EXACT_FLOAT:  # maybe stored as 1e+20
        return None
    return (whole, whole + ".0", "-0.0") if whole == "0" else (whole, whole + ".0")


def _scalar(value: Any) -> str | None:
    """The shortest text a scalar certainly appears as (the start of each of its tokens)."""
    tokens = _tokens(value)
    if tokens is None or not all(token.startswith(tokens[0]) for token in tokens):
        return None  # no common start (0 may be stored as -0.0)
    return tokens[0]


def _delimited(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """Each token as it stands in compact JSON: after ``[``, ``,`` or ``:``, before ``,``,
    ``]`` or ``}`` (a string token is delimited by its quotes already)."""
    return tuple(
        dict.fromkeys(
            token if token.startswith('"') else f"{start}{token}{end}"
            for token in tokens
            for start, end in _AROUND
        )
    )


def _keyed(key: str, tokens: tuple[str, ...]) -> tuple[str, ...]:
    """Each token as the value of ``key`` in compact JSON (``"n":5,``, ``"n":5}``)."""
    return tuple(
        dict.fromkeys(
            f"{key}{token}" if token.startswith('"') else f"{key}{token}{end}"
            for token in tokens
            for end in ",}"
        )
    )


def _groups(value: Any, into: list[tuple[str, ...]]) -> None:
    """For each scalar in a list, tuple or dict (and each key of a dict), the texts it may
    stand as in compact JSON."""
    if isinstance(value, (list, tuple)):
        for item in value:
            _groups(item, into)
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                into.append((json.dumps(key) + ":",))
            _groups(item, into)
    else:
        tokens = _tokens(value)
        if tokens is not None:
            into.append(_delimited(tokens))


def _leaves(value: Any, into: list[str]) -> None:
    """The shortest texts of the scalars in a list, tuple or dict (and of its keys)."""
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


def _list_texts(value: Any) -> tuple[str, ...]:
    """The texts a short list or tuple of scalars may be stored as (``[1,2.0]``; a tuple's
    items are stored as such a list too), or as the last positional arguments of a run
    (``,1,2.0]``: gathered by ``*args``); empty for any other value, or too many forms."""
    if not isinstance(value, (list, tuple)) or len(value) > _SHORT_LIST:
        return ()
    if not value:
        return ()  # no text: a *args left empty is not written at all
    forms: list[str] = [""]
    for item in value:
        tokens = _tokens(item)
        if tokens is None or len(forms) * len(tokens) > _LIST_FORMS:
            return ()
        forms = [f"{start},{token}" if start else token for start in forms for token in tokens]
    # as a list, or as the last positional arguments (gathered by *args)
    return tuple(f"{start}{form}]" for form in forms for start in "[,")


def argument_text(name: str, value: Any) -> ArgumentText:
    """What a run called with ``name=value``, or leaving ``name`` at a recorded default of
    that value, holds in its stored text (see :class:`~flightlog.selection.ArgumentText`):
    each scalar of the value as a JSON token (between ``[``, ``,`` or ``:`` and ``,``, ``]``
    or ``}``), and the default as ``"name":value``; in its parameters by name, the value's
    own text (a scalar's forms exactly, or what a list or dict holds)."""
    key = json.dumps(name) + ":"
    tokens = _tokens(value)
    if tokens is not None:
        return ArgumentText(
            passed=(_delimited(tokens) + _WHOLE,),
            default=_keyed(key, tokens),
            name=name,
            exact=tokens,
        )
    whole = _list_texts(value)
    if whole:  # a list of scalars: the whole list as it stands (a tuple's items too)
        lists = tuple(form for form in whole if form.startswith("["))
        tuples = tuple(f'{{"__flightlog__":"tuple","items":{form}}}' for form in lists)
        return ArgumentText(
            passed=(whole + _WHOLE,),
            default=tuple(key + form for form in lists + tuples),
            name=name,
            within=(lists,),
        )
    groups: list[tuple[str, ...]] = []
    _groups(value, groups)
    if sum(len(group[0]) for group in groups) >= _LONGEST:
        groups = []
    unique = tuple(dict.fromkeys(groups))
    return ArgumentText(
        passed=tuple(group + _WHOLE for group in unique),
        default=(key,),
        name=name,
        within=unique,
    )


def parameter_matches(text: str | None, wanted: Any, decode: Callable[[str], Any]) -> bool:
    """Whether a parameter whose value is stored as ``text`` (None: the run has no such
    parameter) has the wanted value (:func:`same_value`): a scalar's forms are compared as
    text, anything else decoded (``decode``; a value that does not decode is not it)."""
    if text is None:
        return False
    tokens = _tokens(wanted)
    if tokens is not None:
        if text in tokens:
            return True
        if not text.startswith("{"):  # a value the codec tags may still equal it
            return False
    try:
        stored = decode(text)
    except (FlightlogError, ValueError):
        return False
    return same_value(stored, wanted)


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

"""Plain JSON values decoded at the least cost: listing a big run decodes every step's
arguments, and most are plain JSON (numbers, strings, lists, dicts) that need none of
:func:`flightlog.codec.decode`'s checks of typed values or values stored out of line."""

from __future__ import annotations

import json
from json.scanner import make_scanner
from typing import Any

NOT_PLAIN: Any = object()
"""What :func:`decode_plain` gives for text that is not plain JSON."""

# A typed value (or one stored out of line) is an object with this key (see flightlog.codec).
_MARK = '"__flightlog__"'
_DECODER: Any = json.JSONDecoder()
_scan = make_scanner(_DECODER)


def decode_plain(text: str) -> Any:
    """The value of ``text`` when it is plain JSON (no typed value, nothing out of line), else
    NOT_PLAIN: :func:`flightlog.codec.decode` decodes it (or says what is wrong with it)."""
    if _MARK in text:
        return NOT_PLAIN
    try:
        found, end = _scan(text, 0)
    except (StopIteration, ValueError):
        return NOT_PLAIN
    return found if end == len(text) else NOT_PLAIN

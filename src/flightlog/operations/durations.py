"""Ages as people write them: ``"30d"``, ``"12h"``, ``"90m"``, ``"45s"``, ``"2w"``."""

from __future__ import annotations

import datetime
import math
import re

from ..errors import InvalidInputError

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_AGE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhdw]?)\s*", re.IGNORECASE)


def parse_age(value: str | float | datetime.timedelta, what: str = "age") -> float:
    """Seconds: a number (seconds), a timedelta, or a number and a unit (``s``, ``m``, ``h``,
    ``d``, ``w``). Anything else, or a negative age, is InvalidInputError naming it."""
    seconds: float | None = None
    if isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        found = _AGE.fullmatch(value)
        if found is not None:
            seconds = float(found.group(1)) * _UNITS[(found.group(2) or "s").lower()]
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        raise InvalidInputError(
            f"bad {what} {value!r}: expected a number and a unit, s, m, h, d or w (e.g. 30d, "
            "12h), or seconds"
        )
    return seconds

"""Points in time as users write them: a datetime or date, an ISO date or time, Unix epoch
seconds, or an age (``"90s"``, ``"15m"``, ``"2h"``, ``"30d"``, ``"2w"``: that long ago)."""

from __future__ import annotations

import datetime as dt
import re
import time

from ..errors import InvalidInputError

_AGE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", re.IGNORECASE)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(value: object, what: str = "time", *, now: float | None = None) -> float | None:
    """Epoch seconds for ``value`` (None stays None). A datetime, date or ISO text without a
    time zone is local time. InvalidInputError names ``what`` when it is none of these."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInputError(f"{what} must be a time, not {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day).timestamp()
    if isinstance(value, str):
        age = _AGE.fullmatch(value)
        if age is not None:
            reference = time.time() if now is None else now
            return reference - float(age.group(1)) * _SECONDS[age.group(2).lower()]
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return dt.datetime.fromisoformat(value.strip()).timestamp()
        except ValueError:
            pass
    raise InvalidInputError(
        f"{what} must be a datetime, a date, an ISO date or time (2026-12-01, "
        f"2026-12-01T08:30), epoch seconds, or an age such as '2h' or '30d'; not {value!r}"
    )

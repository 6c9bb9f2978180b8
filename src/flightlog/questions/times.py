"""Points in time as users write them, read the same way everywhere: by ``list_runs``,
``counts``, ``export_parquet``, ``copy``, the web pages' filters and every ``--since`` and
``--until`` of the command line.

A time is a datetime or date, an ISO date or time (``2026-12-01``, ``2026-12-01T08:30``,
``2026-12-01 08:30:00+00:00``, ``2026-12-01T08:30Z``; local time unless it names its zone),
Unix epoch seconds (a number or its text: ``1796083200``), or an age, that long before now:
a number and a unit, ``s``, ``m``, ``h``, ``d`` or ``w`` in either case (``90s``, ``15m``,
``2h``, ``30d``, ``2W``), or a :class:`datetime.timedelta`. Anything else, and a number that
is not finite (``nan``, ``inf``), is an :class:`~flightlog.errors.InvalidInputError` that
names the value and what it was given for.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time

from ..errors import InvalidInputError

__all__ = ["parse_time"]

_AGE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([smhdw])", re.IGNORECASE)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_EPOCH = re.compile(r"[+-]?(\d+(?:\.\d*)?|\.\d+)(e[+-]?\d+)?", re.IGNORECASE)
_FORMS = (
    "a datetime or date, an ISO date or time (2026-12-01, 2026-12-01T08:30, "
    "2026-12-01T08:30:00+00:00), Unix epoch seconds (1796083200), or an age "
    "(90s, 15m, 2h, 30d, 2w)"
)


def parse_time(value: object, what: str = "", *, now: float | None = None) -> float | None:
    """Epoch seconds for ``value`` (None stays None); ages count back from ``now`` (default:
    the current time). InvalidInputError names ``what`` (e.g. ``"since"``) and the value
    when it is not a time."""
    if value is None:
        return None
    seconds = _seconds(value, now)
    if seconds is None:
        raise InvalidInputError(f"cannot read {value!r:.80} as a time{_for(what)}: give {_FORMS}")
    if not math.isfinite(seconds):
        raise InvalidInputError(
            f"cannot read {value!r:.80} as a time{_for(what)}: it is not a finite number"
        )
    return seconds


def _for(what: str) -> str:
    return f" for {what}" if what else ""


def _seconds(value: object, now: float | None) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day).timestamp()
    if isinstance(value, dt.timedelta):
        return (time.time() if now is None else now) - value.total_seconds()
    if not isinstance(value, str):
        return None
    text = value.strip()
    age = _AGE.fullmatch(text)
    if age is not None:
        reference = time.time() if now is None else now
        return reference - float(age.group(1)) * _SECONDS[age.group(2).lower()]
    if _EPOCH.fullmatch(text):
        return float(text)
    if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        return float(text)  # not finite: refused by the caller with its own words
    try:
        return dt.datetime.fromisoformat(_zoned(text)).timestamp()
    except ValueError:
        return None


def _zoned(text: str) -> str:
    """ISO text that Python 3.10's ``fromisoformat`` reads too: a ``Z`` zone as ``+00:00``."""
    return text[:-1] + "+00:00" if text[-1:] in ("Z", "z") and "T" in text.upper() else text

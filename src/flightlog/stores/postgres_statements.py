"""How the shared SQL becomes PostgreSQL statements.

The shared SQL (:mod:`flightlog.stores.sql`) uses ``?`` placeholders; psycopg wants ``%s`` and
a literal ``%`` doubled. Each statement is translated once (cached), and classified: may it
run a second time after its connection dropped, not knowing whether the first run committed?
PostgreSQL's text cannot hold NUL, which psycopg refuses before sending anything.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

from .sql import REPEATABLE

_TOKENS = re.compile(r"'[^']*'|\"[^\"]*\"|\?|%")
# ``n = n + 1``, ``log = COALESCE(log, '') || ?``: a column computed from itself.
_SELF_REFERENCE = re.compile(
    r"\b(\w+)\s*=\s*(?:(?:\w+\.)?\1\s*[-+*/|]|COALESCE\(\s*(?:\w+\.)?\1\s*,)",
    re.IGNORECASE,
)
_ASSIGNED = re.compile(r"(?:^|,)\s*(?:SET\s+)?(\w+)\s*=")
_WORD = re.compile(r"\w+")
_WRITE_WORDS = re.compile(r"\b(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


def _token(match: re.Match[str]) -> str:
    text = match.group(0)
    if text == "?":
        return "%s"
    return text.replace("%", "%%")


def repeatable(sql: str) -> bool:
    """Whether running the statement a second time (after its connection dropped, not knowing
    whether the first run committed) leaves the same state and reports the same outcome.

    Reads are; so are upserts and ``ON CONFLICT DO NOTHING`` inserts, and updates or deletes
    that set given values without testing a column they set (a compare-and-set would find
    its own change and report failure) or computing from one (``n = n + 1``). A statement
    marked :data:`~flightlog.stores.sql.REPEATABLE` vouches for itself.
    """
    if sql.endswith(REPEATABLE):
        return True
    words = sql.lstrip().split(None, 1)
    head = words[0].upper() if words else ""
    if head in ("SELECT", "WITH"):
        return head == "SELECT" or not _WRITE_WORDS.search(sql)
    if _SELF_REFERENCE.search(sql):
        return False
    upper = sql.upper()
    if head == "INSERT":
        conflict = upper.find("ON CONFLICT")
        return conflict >= 0 and " WHERE " not in upper[conflict:]
    if head == "DELETE":
        return True
    if head == "UPDATE":
        where = upper.rfind(" WHERE ")
        assignments = upper[upper.find(" SET ") : where if where >= 0 else None]
        tested = set(_WORD.findall(upper[where:])) if where >= 0 else set()
        return not any(column in tested for column in _ASSIGNED.findall(assignments))
    return False


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> tuple[str, bool]:
    """The statement with psycopg's ``%s`` placeholders for the shared SQL's ``?`` (a literal
    ``%`` doubled; quoted text left alone), and whether it is :func:`repeatable`."""
    return _TOKENS.sub(_token, sql), repeatable(sql)


def nul_refused(error: Exception) -> bool:
    """psycopg refused a text value holding NUL (before sending anything)."""
    return getattr(error, "sqlstate", None) is None and "NUL" in str(error)


def without_nul(params: Sequence[Any]) -> tuple[Any, ...]:
    """PostgreSQL text cannot hold NUL: store U+FFFD in its place (only logs and names can
    hold one; recorded values are JSON, which escapes it)."""
    return tuple(
        value.replace("\x00", "\ufffd") if isinstance(value, str) else value for value in params
    )

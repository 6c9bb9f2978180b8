"""Validation of collection names and resource identifiers.

Both become folder names under the store's data directory (``resources/<collection>/<ident>``),
so none may escape it or be unusable as a file name: no ``.`` or ``..``, no path separators,
no NUL or other control characters, no leading or trailing whitespace, at most 200 bytes.
"""

from __future__ import annotations

import re

from ..errors import InvalidInputError
from ..runtime.flights import RESERVED_PREFIX

MAX_NAME_BYTES = 200
MAX_COLLECTION_LENGTH = 100  # "resource:<collection>" is a run id of at most 128 characters

_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.,+=@-]{0,99}").fullmatch


def _problem(name: str) -> str | None:
    """Why ``name`` cannot be a folder name, or None when it can."""
    if not name:
        return "it is empty"
    if name in (".", ".."):
        return "it names a directory ('.' or '..')"
    bad = sorted({char for char in name if char in "/\\" or not char.isprintable()})
    if bad:
        listed = ", ".join(repr(char) for char in bad)
        return f"it contains {listed}: path separators and control characters are not allowed"
    if name != name.strip():
        return "it starts or ends with whitespace"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"it is longer than {MAX_NAME_BYTES} bytes"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "it contains a lone surrogate character"
    return None


def check_collection(name: object) -> str:
    """The collection name, or InvalidInputError naming it and what is wrong with it."""
    if type(name) is str and _PLAIN(name) and not name.startswith(RESERVED_PREFIX):
        return name
    if not isinstance(name, str):
        raise InvalidInputError(
            f"a resource collection name must be a string, not {type(name).__name__}: {name!r:.80}"
        )
    problem = _problem(name)
    if problem is None and len(name) > MAX_COLLECTION_LENGTH:
        problem = f"it is longer than {MAX_COLLECTION_LENGTH} characters"
    if problem is None and name.startswith(RESERVED_PREFIX):
        problem = f"names starting with {RESERVED_PREFIX!r} are flightlog's own (cache claims)"
    if problem is not None:
        raise InvalidInputError(f"resource collection name {name!r:.120} is not allowed: {problem}")
    return name


def check_ident(collection: str, ident: object) -> str:
    """The identifier as text (integers are accepted and turned into text, as in hadrosaur),
    or InvalidInputError naming it, its collection and what is wrong with it."""
    if type(ident) is str:
        if _PLAIN(ident):
            return ident
        text = ident
    elif isinstance(ident, int) and not isinstance(ident, bool):
        return str(ident)
    elif isinstance(ident, str):
        text = str(ident)
    else:
        raise InvalidInputError(
            f"resource identifier {ident!r:.80} in collection {collection!r} must be a string "
            f"(or an integer), not {type(ident).__name__}"
        )
    problem = _problem(text)
    if problem is not None:
        raise InvalidInputError(
            f"resource identifier {text!r:.120} in collection {collection!r} is not allowed: "
            f"{problem}"
        )
    return text

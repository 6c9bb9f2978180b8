"""Run ids: readable ones made up for users, and validation of ids users choose."""

from __future__ import annotations

import secrets

from ..errors import InvalidInputError

MAX_RUN_ID_LENGTH = 128

_ADJECTIVES = [
    "agile",
    "amber",
    "bold",
    "brave",
    "bright",
    "calm",
    "clever",
    "cosmic",
    "crisp",
    "daring",
    "eager",
    "early",
    "fair",
    "fast",
    "fierce",
    "gentle",
    "glad",
    "golden",
    "grand",
    "happy",
    "honest",
    "jolly",
    "keen",
    "kind",
    "lively",
    "lucid",
    "lucky",
    "mellow",
    "merry",
    "mighty",
    "nimble",
    "noble",
    "patient",
    "plucky",
    "proud",
    "quick",
    "quiet",
    "rapid",
    "ready",
    "serene",
    "sharp",
    "shiny",
    "silent",
    "smart",
    "snowy",
    "steady",
    "sunny",
    "swift",
    "tidy",
    "vivid",
    "warm",
    "wise",
    "witty",
    "zesty",
]
_SCIENTISTS = [
    "agnesi",
    "archimedes",
    "babbage",
    "bohr",
    "boole",
    "brahe",
    "cannon",
    "carson",
    "curie",
    "darwin",
    "dirac",
    "einstein",
    "euclid",
    "euler",
    "faraday",
    "fermi",
    "feynman",
    "franklin",
    "galileo",
    "gauss",
    "germain",
    "goodall",
    "hamilton",
    "hawking",
    "hertz",
    "hodgkin",
    "hopper",
    "hubble",
    "hypatia",
    "kepler",
    "lamarr",
    "leakey",
    "lovelace",
    "maxwell",
    "meitner",
    "mendel",
    "newton",
    "noether",
    "pascal",
    "pasteur",
    "planck",
    "raman",
    "ride",
    "sagan",
    "shannon",
    "tesla",
    "turing",
    "volta",
    "wu",
    "yalow",
]


def new_run_id() -> str:
    """A readable id such as ``brave-curie-0412``; the store decides whether it is free."""
    return (
        f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_SCIENTISTS)}-"
        f"{secrets.randbelow(10000):04d}"
    )


def check_run_id(run_id: object) -> str:
    """Refuse ids that are empty, too long, or could escape a directory or a terminal."""
    if not isinstance(run_id, str):
        raise InvalidInputError(f"run id must be a string, not {type(run_id).__name__}")
    if not run_id:
        raise InvalidInputError("run id must not be empty")
    if len(run_id) > MAX_RUN_ID_LENGTH:
        raise InvalidInputError(
            f"run id {run_id[:40]!r}... is {len(run_id)} characters long; "
            f"the limit is {MAX_RUN_ID_LENGTH}"
        )
    if run_id in (".", ".."):
        raise InvalidInputError(f"run id {run_id!r} is not allowed")
    bad = sorted({char for char in run_id if char in "/\\" or not char.isprintable()})
    if bad:
        raise InvalidInputError(
            f"run id {run_id!r} contains {', '.join(repr(char) for char in bad)}: "
            "path separators and control characters are not allowed"
        )
    if run_id != run_id.strip():
        raise InvalidInputError(f"run id {run_id!r} must not start or end with whitespace")
    if run_id.startswith("resource:"):
        raise InvalidInputError(
            f"run id {run_id!r}: ids starting with 'resource:' name resource collections"
        )
    return run_id

"""Serving a cache hit whose result is stored out of line, while ``gc`` may run.

A hit found by ``Store.find_cached`` is a record of another run; until this step's own record
refers to the hit's blobs (the large values of its result, see :mod:`flightlog.codec_blobs`),
nothing of this run does, and a ``gc`` deleting the other run may take them. So, before the
hit is read, its blobs are kept (``Store.keep_blobs``: stamped as put now, which is after the
limit of any deletion that could still take them, see :mod:`flightlog.operations.retention`)
or found missing. A hit whose blobs are missing, or go while they are read, is a cache miss:
the step executes (and puts the blobs again). Results held inline cost one substring test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..codec_blobs import blob_references
from ..errors import MissingBlobError
from ..model import Step
from .state import MISSING

if TYPE_CHECKING:
    from ..stores import Store

__all__ = ["MISSING_BLOBS", "gone", "served"]

MISSING_BLOBS = "its cached result ({where}) is gone: the large values it held were deleted"
"""The step's ``reason`` when a hit is not served for that."""


def served(store: Store, hit: Step, decode: Callable[[str | None], Any]) -> Any:
    """The value of ``hit``'s result, its blobs kept for this run; MISSING when a blob of it
    is gone (the step's reason then says so)."""
    digests = blob_references(hit.result)
    if digests and store.keep_blobs(sorted(digests)):
        return MISSING
    try:
        return decode(hit.result)
    except MissingBlobError:
        return MISSING


def gone(hit: Step) -> str:
    """Why a hit was not served (see :func:`served`)."""
    return MISSING_BLOBS.format(where=f"step {hit.name!r} of run {hit.run_id!r}")

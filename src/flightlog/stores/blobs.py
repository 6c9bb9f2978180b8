"""Blobs are checked against their digest when read back, in every store.

A blob is stored under the sha256 of its bytes; bytes that no longer hash to it (a file
edited in a files store, a row changed in a database, a damaged disk) are never handed out:
reading them raises a StoreError naming the digest. One sha256 per read (about 2 ms per MB).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Iterator
from typing import TYPE_CHECKING

from ..codec_blobs import blob_references
from ..errors import StoreError

if TYPE_CHECKING:
    from .base import Store


def checked_blob(sha256: str, data: bytes | None, where: str) -> bytes | None:
    """``data`` (None stays None) if it hashes to ``sha256``; StoreError otherwise, naming
    the digest and ``where`` the blob was read (the store)."""
    if data is None:
        return None
    found = hashlib.sha256(data).hexdigest()
    if found != sha256:
        raise StoreError(
            f"the blob {sha256} read from {where} does not match its digest (its "
            f"{len(data)} bytes hash to {found}): it was changed or damaged after it was "
            "stored; its bytes are not used"
        )
    return data


def checked_pieces(sha256: str, pieces: Iterable[bytes], where: str) -> Iterator[bytes]:
    """The pieces of a blob, hashed as they pass; after the last one, StoreError (as
    :func:`checked_blob`) if they do not hash to ``sha256``: a reader that copies them
    somewhere learns before it uses the copy."""
    found = hashlib.sha256()
    size = 0
    for piece in pieces:
        found.update(piece)
        size += len(piece)
        yield piece
    if found.hexdigest() != sha256:
        raise StoreError(
            f"the blob {sha256} read from {where} does not match its digest (its {size} "
            f"bytes hash to {found.hexdigest()}): it was changed or damaged after it was "
            "stored; its bytes are not used"
        )


def value_references(store: Store, except_runs: Collection[str] = ()) -> set[str]:
    """Every blob that a record of ``store`` refers to, found through the store's own
    methods (for stores without a query engine): attachments, and the values stored out of
    line (see :mod:`flightlog.codec_blobs`) among runs' arguments and outputs, steps'
    arguments and results, and resources' arguments and results; none of ``except_runs``."""
    found: set[str] = set()
    left_out = set(except_runs)
    for run in store.list_runs():
        if run.run_id in left_out:
            continue
        found |= blob_references(run.arguments) | blob_references(run.output)
        for step in store.list_steps(run.run_id):
            found |= blob_references(step.arguments) | blob_references(step.result)
        found.update(record.sha256 for record in store.list_attachments(run.run_id))
    for collection in {count.collection for count in store.count_resources()}:
        for resource in store.list_resources(collection):
            found |= blob_references(resource.arguments) | blob_references(resource.result)
    return found

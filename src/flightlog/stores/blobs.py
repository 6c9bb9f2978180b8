"""Blobs are checked against their digest when read back, in every store.

A blob is stored under the sha256 of its bytes; bytes that no longer hash to it (a file
edited in a files store, a row changed in a database, a damaged disk) are never handed out:
reading them raises a StoreError naming the digest. One sha256 per read (about 2 ms per MB).
"""

from __future__ import annotations

import hashlib

from ..errors import StoreError


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

"""Large values out of line: the part of the codec that puts big buffers into a store's blobs.

Where a blob sink is set (:data:`BLOBS`, a context variable: the runtime sets it for the
code of a run, the query API while it reads), the codec stores

- a numpy array, ``bytes`` or ``bytearray`` of at least ``threshold`` bytes (1 MiB by
  default), and a pickled value of that size, as a reference to a blob holding its raw
  bytes: ``{"__flightlog__": "ndarray", "dtype": ..., "shape": [...], "blob": "<sha256>",
  "size": <bytes>}`` (``"bytes"``, ``"bytearray"``, ``"pickle"`` likewise, without dtype and
  shape);
- any other encoded value whose text is that long, as ``{"__flightlog__": "text", "blob":
  "<sha256>", "size": <bytes>}``: the blob holds the UTF-8 text.

Blobs are content-addressed (the sha256 of their bytes), so the same array returned by two
steps is stored once. An array is hashed and written from its own memory, a piece at a time,
and read back into the array it becomes: a value's trip through the store holds it about
once (a bytes value twice), not several encoded copies. Reading checks the sha256.

Every reference has the form ``"blob":"<64 hex digits>"`` in the stored text:
:func:`blob_references` finds them (see ``Store.referenced_blobs``; a store's ``gc`` keeps
every blob a kept record refers to). Smaller values are stored inline, as before.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import re
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from .errors import MissingBlobError, SerializationError

__all__ = [
    "BLOBS",
    "DEFAULT_THRESHOLD",
    "MIN_THRESHOLD",
    "PIECE",
    "BlobSink",
    "Pieces",
    "StoreBlobs",
    "Unread",
    "blob_references",
    "described_text",
    "describing",
    "description",
    "out_of_line",
    "read_text",
    "unread",
]

DEFAULT_THRESHOLD = 1 << 20
MIN_THRESHOLD = 4096  # the smallest threshold: shorter values never leave the line
PIECE = 4 << 20  # bytes written or read at a time
TEXT_PREFIX = '{"__flightlog__":"text",'
_REFERENCE = re.compile(r'(?<!\\)"blob":"([0-9a-f]{64})"')


class BlobSink(Protocol):
    """Where the codec puts, and finds, large values (see :class:`StoreBlobs`)."""

    threshold: int

    def put(self, data: memoryview) -> tuple[str, int]:
        """Store the bytes; their sha256 and size."""
        ...

    def read(self, sha256: str, size: int) -> bytearray:
        """The blob's bytes, checked against the digest and the size."""
        ...


BLOBS: contextvars.ContextVar[BlobSink | None] = contextvars.ContextVar(
    "flightlog_blobs", default=None
)


class Pieces:
    """A buffer as pieces of at most :data:`PIECE` bytes (views: nothing is copied); may be
    iterated again (a store that retries a transaction does)."""

    def __init__(self, data: memoryview, piece: int = PIECE) -> None:
        self.data = data.cast("B") if data.format != "B" or data.ndim != 1 else data
        self.piece = piece

    def __iter__(self) -> Iterator[memoryview]:
        data, piece = self.data, self.piece
        for start in range(0, len(data), piece):
            yield data[start : start + piece]


def digest_of(data: memoryview) -> str:
    found = hashlib.sha256()
    for piece in Pieces(data):
        found.update(piece)
    return found.hexdigest()


class StoreBlobs:
    """A :class:`BlobSink` over a store's streaming blob methods."""

    def __init__(self, store: Any, threshold: int = DEFAULT_THRESHOLD) -> None:
        self.store = store
        self.threshold = max(int(threshold), MIN_THRESHOLD)

    def put(self, data: memoryview) -> tuple[str, int]:
        sha256 = digest_of(data)
        size = data.nbytes
        # Also when stored already: a put records when the blob was last put, so a gc that
        # runs meanwhile leaves it (the store skips the bytes of a blob it has).
        self.store.put_blob_stream(sha256, size, Pieces(data))
        return sha256, size

    def read(self, sha256: str, size: int) -> bytearray:
        into = bytearray(size)
        fill(into, sha256, size, self.store.read_blob_chunks(sha256))
        return into


def fill(into: bytearray, sha256: str, size: int, pieces: Iterable[bytes]) -> None:
    """Copy the pieces into ``into`` (``size`` bytes); SerializationError when the blob is
    missing or of another size (the store checks the digest as it reads)."""
    view = memoryview(into)
    at = 0
    for piece in pieces:
        end = at + len(piece)
        if end > size:
            break
        view[at:end] = piece
        at = end
    else:
        if at == size:
            return
    if at == 0 and size:
        raise MissingBlobError(f"the value stored out of line in blob {sha256} is missing")
    raise SerializationError(
        f"the value stored out of line in blob {sha256} has another size than the "
        f"{size} bytes recorded"
    )


def sink() -> BlobSink:
    """The blob sink in force; SerializationError when there is none."""
    found = BLOBS.get()
    if found is None:
        raise SerializationError(
            "this value is stored out of line (in the store's blobs); read it through "
            "flightlog's API (e.g. fl.get_step_result), which reads the store"
        )
    return found


def spill(kind: str, data: memoryview, extra: dict[str, Any]) -> dict[str, Any] | None:
    """A reference to the buffer put into the blobs in force, or None to keep it inline
    (no sink, or too small)."""
    if data.nbytes < MIN_THRESHOLD:
        return None
    found = BLOBS.get()
    if found is None or data.nbytes < found.threshold:
        return None
    sha256, size = found.put(data)
    return {"__flightlog__": kind, **extra, "blob": sha256, "size": size}


def spill_text(text: str) -> str:
    """``text`` itself, or a reference to it put into the blobs in force when it is long."""
    if len(text) < MIN_THRESHOLD:
        return text
    found = BLOBS.get()
    if found is None or len(text) < found.threshold:
        return text
    sha256, size = found.put(memoryview(text.encode()))  # ASCII: the codec escapes the rest
    return f'{TEXT_PREFIX}"blob":"{sha256}","size":{size}}}'


def read_buffer(o: dict[str, Any]) -> bytearray:
    """The bytes a reference names (see :func:`spill`)."""
    sha256, size = o["blob"], o["size"]
    if not isinstance(sha256, str) or type(size) is not int or size < 0:
        raise SerializationError(f"malformed reference to a value stored out of line: {o!r}")
    return sink().read(sha256, size)


def read_text(text: str) -> str:
    """The text a reference made by :func:`spill_text` names."""
    import json

    return read_buffer(json.loads(text)).decode()


class Unread:
    """A blob sink that reads nothing: within :func:`unread`, values stored out of line decode
    as descriptions (``codec.Undecoded`` of their kind, size and blob), as listings want."""

    threshold = DEFAULT_THRESHOLD

    def put(self, data: memoryview) -> tuple[str, int]:
        raise SerializationError("values are only described here, not stored")

    def read(self, sha256: str, size: int) -> bytearray:
        raise SerializationError(f"the value in blob {sha256} is only described here")


def describing() -> bool:
    """Whether values stored out of line are described, not read (see :class:`Unread`)."""
    return type(BLOBS.get()) is Unread


# The types of the values that may be stored out of line, by kind.
_TYPES = {
    "ndarray": "numpy:ndarray",
    "bytes": "builtins:bytes",
    "bytearray": "builtins:bytearray",
    "pickle": "pickle",
    "text": "builtins:str",
}


def description(kind: str, o: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    """What a reference to a value stored out of line says of it: its type, its dtype, shape,
    size and blob, and why it was not read (a ``codec.Undecoded``'s fields)."""
    data: dict[str, Any] = {k: o[k] for k in ("dtype", "shape", "size", "blob") if k in o}
    return _TYPES.get(kind, kind), data, "stored out of line: described, not read"


def described_text(kind: str, data: dict[str, Any]) -> str:
    """A value described by :func:`description`, in a line."""
    shape = f" {data['dtype']} shape {tuple(data['shape'])}" if "shape" in data else ""
    return f"<{kind}{shape}: {data.get('size')} bytes stored out of line, not read>"


@contextlib.contextmanager
def unread() -> Iterator[None]:
    """Within: values stored out of line are described, never read (see :class:`Unread`)."""
    token = BLOBS.set(Unread())
    try:
        yield
    finally:
        BLOBS.reset(token)


def blob_references(text: str | None) -> set[str]:
    """The digests of the blobs a stored value refers to."""
    if not text or '"blob":"' not in text:
        return set()
    return set(_REFERENCE.findall(text))


@contextlib.contextmanager
def out_of_line(store: Any) -> Iterator[None]:
    """Within: values encoded or decoded go out of line into the store's blobs, and come
    back from there."""
    token = BLOBS.set(StoreBlobs(store))
    try:
        yield
    finally:
        BLOBS.reset(token)

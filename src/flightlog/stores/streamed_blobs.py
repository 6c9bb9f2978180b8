"""Blobs written and read a piece at a time (large values, see :mod:`flightlog.codec_blobs`),
for the memory store, the JSON-files store and the SQL stores; and the blobs their records
refer to."""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..codec_blobs import PIECE, blob_references
from ..errors import MissingBlobError
from ..redaction import redact
from .blobs import checked_blob, checked_pieces, value_references
from .files_io import check_digest, locked, touch
from .files_layout import OWN, Layout

if TYPE_CHECKING:
    from .files_io import Writes
    from .files_root import StoreRoot
    from .sql_tracking import Statements


def fixed_pieces(pieces: Iterable[bytes | memoryview], size: int = PIECE) -> Iterator[bytes]:
    """The bytes of ``pieces`` again, cut into pieces of exactly ``size`` bytes (the last one
    shorter): how a blob is cut does not depend on who writes it."""
    buffer = bytearray()
    for piece in pieces:
        view = memoryview(piece).cast("B")
        if not buffer and len(view) == size:
            yield bytes(view)
            continue
        buffer += view
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


class MemoryBlobs:
    """For the memory store: a streamed blob is kept as one bytes object."""

    if TYPE_CHECKING:
        _blobs: dict[str, bytes]
        _put_times: dict[str, float]
        _lock: Any

    def put_blob_stream(self, sha256: str, size: int, chunks: Iterable[bytes | memoryview]) -> bool:
        with self._lock:
            if sha256 in self._blobs:
                self._put_times[sha256] = time.time()  # put again: gc leaves it (put_blob)
                return False
        data = b"".join(chunks)
        with self._lock:
            self._blobs.setdefault(sha256, data)
            self._put_times[sha256] = time.time()
        return True

    def keep_blobs(self, digests: Sequence[str]) -> set[str]:
        missing = set()
        with self._lock:
            now = time.time()
            for digest in digests:
                if digest in self._blobs:
                    self._put_times[digest] = now
                else:
                    missing.add(digest)
        return missing

    def blob_size(self, sha256: str) -> int | None:
        with self._lock:
            data = self._blobs.get(sha256)
        return None if data is None else len(data)

    def read_blob_chunks(self, sha256: str) -> Iterator[bytes]:
        with self._lock:
            data = self._blobs.get(sha256)
        if data is None:
            return iter(())
        view = memoryview(data)
        pieces = (bytes(view[at : at + PIECE]) for at in range(0, len(data), PIECE))
        return checked_pieces(sha256, pieces, "the memory store")

    def referenced_blobs(self, *, except_runs: Collection[str] = ()) -> set[str]:
        return value_references(self, except_runs)  # type: ignore[arg-type]


class FileBlobs:
    """For the JSON-files store: a streamed blob is the same file as any other blob."""

    if TYPE_CHECKING:
        disk: StoreRoot
        layout: Layout
        root: str

        def _writable(self) -> None: ...

        def _blob_path(self, digest: str) -> str: ...

    def put_blob_stream(self, sha256: str, size: int, chunks: Iterable[bytes | memoryview]) -> bool:
        self._writable()
        path = self._blob_path(check_digest(sha256))
        # Put again: touched under the lock that deleting blobs takes, as put_blob does (its
        # modification time is when it was last put, see files_deleting), so gc leaves it.
        with locked(f"{self.root}/{OWN}/locks/blobs", self.disk):
            if self.disk.exists(path):
                touch(path)
                return False
        writes: Writes = self.layout.writes()
        writes.folder(os.path.dirname(path))
        created = writes.file(path, chunks, replace=False, mode=0o444)
        writes.commit()
        return created

    def keep_blobs(self, digests: Sequence[str]) -> set[str]:
        self._writable()
        paths = {digest: self._blob_path(check_digest(digest)) for digest in digests}
        missing = set()
        # Under the lock that deleting blobs takes: kept (touched) or missing, not both.
        with locked(f"{self.root}/{OWN}/locks/blobs", self.disk):
            for digest, path in paths.items():
                try:
                    touch(path)
                except (FileNotFoundError, NotADirectoryError):
                    missing.add(digest)
        return missing

    def blob_size(self, sha256: str) -> int | None:
        path = self.disk.check(self._blob_path(check_digest(sha256)))
        try:
            return os.stat(path).st_size
        except (FileNotFoundError, NotADirectoryError):
            return None

    def read_blob_chunks(self, sha256: str) -> Iterator[bytes]:
        path = self.disk.check(self._blob_path(check_digest(sha256)))
        try:
            stream = open(path, "rb")  # noqa: SIM115 (closed by the generator)
        except (FileNotFoundError, NotADirectoryError):
            return iter(())
        return checked_pieces(sha256, _read_pieces(stream), f"the files store ({path})")

    def referenced_blobs(self, *, except_runs: Collection[str] = ()) -> set[str]:
        return value_references(self, except_runs)  # type: ignore[arg-type]


def _read_pieces(stream: Any) -> Iterator[bytes]:
    with stream:
        while piece := stream.read(PIECE):
            yield piece


# Values that may refer to blobs, by table.
_VALUE_COLUMNS = (
    ("runs", ("arguments", "output")),
    ("steps", ("arguments", "result")),
    ("resources", ("arguments", "result")),
)


class SQLBlobs:
    """For the SQL stores: a streamed blob's pieces are rows of ``blob_chunks``; its
    ``blobs`` row (size, empty ``data``) is written last, in the same transaction."""

    if TYPE_CHECKING:
        url: str
        _scale_ready: bool
        _CONTAINS: str

        def _writable(self) -> None: ...

        def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

        def _write_batch(self, statements: Statements) -> None: ...

        def put_blob(self, data: bytes) -> str: ...

    def put_blob_stream(self, sha256: str, size: int, chunks: Iterable[bytes | memoryview]) -> bool:
        self._writable()
        check_digest(sha256)
        if self.blob_size(sha256) is not None:
            return False
        if not self._scale_ready:  # a store that could not be given blob_chunks
            self.put_blob(b"".join(chunks))
            return True
        rows = _ChunkRows(sha256, chunks)
        self._write_batch(
            [
                (
                    "INSERT INTO blob_chunks (sha256, part, data) VALUES (?, ?, ?)"
                    " ON CONFLICT (sha256, part) DO NOTHING",
                    rows,  # type: ignore[list-item]
                ),
                (
                    "INSERT INTO blobs (sha256, size, data) VALUES (?, ?, ?)"
                    " ON CONFLICT (sha256) DO NOTHING",
                    [(sha256, size, b"")],
                ),
            ]
        )
        return True

    def blob_size(self, sha256: str) -> int | None:
        rows = self._query("SELECT size FROM blobs WHERE sha256 = ?", (sha256,))
        return None if not rows else int(rows[0][0])

    def _chunked(self, sha256: str) -> int | None:
        """The number of pieces of a streamed blob, or None for a blob stored whole."""
        if not self._scale_ready:
            return None
        rows = self._query("SELECT count(*) FROM blob_chunks WHERE sha256 = ?", (sha256,))
        return int(rows[0][0]) or None

    def read_blob_chunks(self, sha256: str) -> Iterator[bytes]:
        parts = self._chunked(sha256)
        where = f"the store at {redact(self.url)}"
        if parts is None:
            rows = self._query("SELECT data FROM blobs WHERE sha256 = ?", (sha256,))
            if not rows:
                return iter(())
            return checked_pieces(sha256, [bytes(rows[0][0])], where)
        return checked_pieces(sha256, self._pieces(sha256, parts), where)

    def _pieces(self, sha256: str, parts: int) -> Iterator[bytes]:
        for part in range(parts):
            rows = self._query(
                "SELECT data FROM blob_chunks WHERE sha256 = ? AND part = ?", (sha256, part)
            )
            if not rows:  # deleted (by gc) while it was read: gone, not damaged
                raise MissingBlobError(
                    f"the blob {sha256} was deleted from the store at {redact(self.url)} "
                    "while it was read"
                )
            yield bytes(rows[0][0])

    def get_blob(self, sha256: str) -> bytes | None:
        rows = self._query("SELECT size, data FROM blobs WHERE sha256 = ?", (sha256,))
        if not rows:
            return None
        size, data = rows[0]
        where = f"the store at {redact(self.url)}"
        if size and not data and self._chunked(sha256):
            data = b"".join(self._pieces(sha256, self._chunked(sha256) or 0))
        return checked_blob(sha256, bytes(data), where)

    def referenced_blobs(self, *, except_runs: Collection[str] = ()) -> set[str]:
        found: set[str] = set()
        left_out = set(except_runs)
        for table, columns in _VALUE_COLUMNS:
            # Which run a row belongs to (a step's: through the view that names it), only
            # when some runs are left out; a resource belongs to none.
            source, run = table, "NULL"
            if left_out and table != "resources":
                source, run = ("step_view" if table == "steps" else table), "run_id"
            for column in columns:
                test = self._CONTAINS.format(column=column)
                for run_id, text in self._query(
                    f"SELECT {run}, {column} FROM {source} WHERE {test}", ('"blob":"',)
                ):
                    if run_id not in left_out:
                        found |= blob_references(text)
        if not left_out:
            rows = self._query("SELECT DISTINCT sha256 FROM attachments")
            found.update(row[0] for row in rows)
            return found
        rows = self._query(
            "SELECT DISTINCT attachments.sha256, runs.run_id FROM attachments"
            " JOIN runs ON runs.seq = attachments.run_seq"
        )
        found.update(digest for digest, run_id in rows if run_id not in left_out)
        return found


class _ChunkRows:
    """The rows of ``blob_chunks`` for a blob, made as they are read (one piece in memory at
    a time); iterable again, for a transaction that is retried."""

    def __init__(self, sha256: str, chunks: Iterable[bytes | memoryview]) -> None:
        self.sha256, self.chunks = sha256, chunks

    def __iter__(self) -> Iterator[tuple[str, int, bytes]]:
        for part, piece in enumerate(fixed_pieces(self.chunks)):
            yield (self.sha256, part, piece)

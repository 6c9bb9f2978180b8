"""The tracking methods of the shared SQL: metric series in chunks, attachments, blobs.

Tables (see :mod:`flightlog.stores.sqlite` for the DDL):

``metrics``
    one row per chunk of one metric's series, as written with a step's end record: the run
    (``run_seq``), the step (``position`` and ``step_name``; NULL for the run's own body), the
    metric ``name``, the number of points ``count``, the chunk's last point (``last_step``,
    and ``last_value`` when it is a finite number: what metric filters compare in SQL), and
    ``data``: the points packed as bytes,
    little-endian: ``count`` int64 series steps, then ``count`` float64 epoch times, then the
    values: ``count`` float64 (``encoding`` "f8", every value a float), ``count`` int64 ("i8",
    every value an int) or UTF-8 JSON text of the list of values ("json", anything else).
    One row per point would cost a row and an index entry per point; a chunk costs one.
``attachments``
    one row per file attached by a step (or the run's body): name, size and sha256 digest.
``blobs``
    the bytes of attachments, once per sha256 digest.
"""

from __future__ import annotations

import json
import math
import sys
from array import array
from collections.abc import Sequence
from typing import Any

from ..bandsaw import redacted_url
from ..errors import NotFoundError
from ..model import AttachmentRecord, MetricChunk
from .blobs import checked_blob

_LITTLE = sys.byteorder == "little"
_INT64 = 1 << 63

METRIC_INSERT = (
    "INSERT INTO metrics (run_seq, position, step_name, name, count, encoding, data,"
    " last_step, last_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_EXACT = 2**53  # integers a float holds exactly


def last_columns(chunk: MetricChunk) -> tuple[int | None, float | int | None]:
    """``metrics.last_step`` and ``last_value`` of a chunk: its last point's step and value
    (see ``MetricChunk.last_point``); the value only when it is a finite number (anything
    else is compared by the reader)."""
    point = chunk.last_point()
    if point is None:
        return None, None
    step, value = point
    kind = type(value)
    if (kind is float and math.isfinite(value)) or (kind is int and abs(value) <= _EXACT):
        return int(step), value
    return int(step), None


ATTACHMENT_INSERT = (
    "INSERT INTO attachments (run_seq, position, step_name, name, size, sha256, created_time)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)

Statements = list[tuple[str, list[Sequence[Any]]]]


def _raw(items: array[Any]) -> bytes:
    if not _LITTLE:
        items = array(items.typecode, items)
        items.byteswap()
    return items.tobytes()


def _unraw(typecode: str, data: bytes) -> list[Any]:
    items = array(typecode)
    items.frombytes(data)
    if not _LITTLE:
        items.byteswap()
    return items.tolist()


def _int_array(values: Sequence[Any]) -> array[int]:
    if isinstance(values, array) and values.typecode == "q":
        return values
    return array("q", values)


def pack_chunk(chunk: MetricChunk) -> tuple[str, bytes]:
    """The chunk's encoding and packed points (see the module's description)."""
    values = chunk.values
    kinds = set(map(type, values))
    packed: bytes | None = None
    encoding = "json"
    if kinds == {float}:
        encoding, packed = "f8", _raw(array("d", values))
    elif kinds == {int} and all(-_INT64 <= value < _INT64 for value in values):
        encoding, packed = "i8", _raw(array("q", values))
    if packed is None:
        packed = json.dumps(list(values), separators=(",", ":")).encode()
    times = chunk.times
    time_array = times if isinstance(times, array) else array("d", times)
    return encoding, _raw(_int_array(chunk.steps)) + _raw(time_array) + packed


def unpack_chunk(
    name: str,
    position: int | None,
    step_name: str | None,
    count: int,
    encoding: str,
    data: bytes,
) -> MetricChunk:
    """The chunk that :func:`pack_chunk` packed."""
    data = bytes(data)
    middle = 8 * count
    steps = _unraw("q", data[:middle])
    times = _unraw("d", data[middle : 2 * middle])
    rest = data[2 * middle :]
    if encoding == "f8":
        values: list[Any] = _unraw("d", rest)
    elif encoding == "i8":
        values = _unraw("q", rest)
    else:
        values = json.loads(rest.decode())
    return MetricChunk(name, position, step_name, steps, values, times)


class SQLTracking:
    """Tracked values in SQL. Needs the dialect hooks of :class:`~flightlog.stores.sql.SQLStore`
    and ``_write_batch`` (several statements in one transaction, overridden by dialects that
    have transactions; the fallback here writes them in order, one by one)."""

    url: str

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        raise NotImplementedError

    def _writable(self) -> None:
        raise NotImplementedError

    def _seq(self, run_id: str) -> int:
        raise NotImplementedError

    def _write_batch(self, statements: Statements) -> None:
        """Run each statement over its parameter rows, all in one transaction.

        This fallback has no transaction: it writes in order, so a crash can leave the first
        statements written and the rest not (callers put the step's end record last)."""
        for sql, rows in statements:
            for row in rows:
                self._write(sql, row)

    def _tracked_statements(
        self,
        seq: int,
        metrics: Sequence[MetricChunk],
        attachments: Sequence[AttachmentRecord],
    ) -> Statements:
        statements: Statements = []
        if metrics:
            rows: list[Sequence[Any]] = []
            for chunk in metrics:
                encoding, data = pack_chunk(chunk)
                rows.append(
                    (
                        seq,
                        chunk.position,
                        chunk.step_name,
                        chunk.name,
                        len(chunk.values),
                        encoding,
                        data,
                        *last_columns(chunk),
                    )
                )
            statements.append((METRIC_INSERT, rows))
        if attachments:
            statements.append(
                (
                    ATTACHMENT_INSERT,
                    [
                        (
                            seq,
                            item.position,
                            item.step_name,
                            item.name,
                            item.size,
                            item.sha256,
                            item.time,
                        )
                        for item in attachments
                    ],
                )
            )
        return statements

    def record_tracked(
        self,
        run_id: str,
        *,
        metrics: Sequence[MetricChunk] = (),
        attachments: Sequence[AttachmentRecord] = (),
    ) -> None:
        self._writable()
        seq = self._seq(run_id)
        if metrics or attachments:
            self._write_batch(self._tracked_statements(seq, metrics, attachments))

    def _run_seq(self, run_id: str) -> int | None:
        try:
            return self._seq(run_id)
        except NotFoundError:
            return None

    def list_metrics(self, run_id: str, name: str | None = None) -> list[MetricChunk]:
        seq = self._run_seq(run_id)
        if seq is None:
            return []
        sql = (
            "SELECT name, position, step_name, count, encoding, data FROM metrics WHERE run_seq = ?"
        )
        params: tuple[Any, ...] = (seq,)
        if name is not None:
            sql += " AND name = ?"
            params = (seq, name)
        rows = self._query(sql + " ORDER BY id", params)
        return [unpack_chunk(*row) for row in rows]

    def list_attachments(self, run_id: str) -> list[AttachmentRecord]:
        seq = self._run_seq(run_id)
        if seq is None:
            return []
        rows = self._query(
            "SELECT name, position, step_name, size, sha256, created_time FROM attachments"
            " WHERE run_seq = ? ORDER BY id",
            (seq,),
        )
        return [AttachmentRecord(*row) for row in rows]

    def get_blob(self, sha256: str) -> bytes | None:
        rows = self._query("SELECT data FROM blobs WHERE sha256 = ?", (sha256,))
        data = None if not rows else bytes(rows[0][0])
        return checked_blob(sha256, data, f"the store at {redacted_url(self.url)}")

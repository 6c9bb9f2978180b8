"""The tracking methods of the in-memory store: metric chunks, attachments and blobs."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence

from ..errors import NotFoundError
from ..model import AttachmentRecord, MetricChunk, Step
from .blobs import checked_blob


class MemoryTracking:
    """Metric chunks and attachment references in a list per run, blobs in a dict by digest.
    Shares the store's lock. Chunks handed in belong to the store and are handed out as they
    are (callers must not change them), so that reading a long series copies nothing."""

    _lock: threading.Lock
    _steps: dict[str, dict[int, Step]]

    def _init_tracking(self) -> None:
        self._metrics: dict[str, list[MetricChunk]] = {}
        self._attachments: dict[str, list[AttachmentRecord]] = {}
        self._blobs: dict[str, bytes] = {}
        self._put_times: dict[str, float] = {}  # when each blob was last put

    def _append_tracked(
        self,
        run_id: str,
        metrics: Sequence[MetricChunk],
        attachments: Sequence[AttachmentRecord],
    ) -> None:
        """Append under the store's lock (the caller holds it)."""
        if metrics:
            self._metrics.setdefault(run_id, []).extend(metrics)
        if attachments:
            self._attachments.setdefault(run_id, []).extend(attachments)

    def record_tracked(
        self,
        run_id: str,
        *,
        metrics: Sequence[MetricChunk] = (),
        attachments: Sequence[AttachmentRecord] = (),
    ) -> None:
        with self._lock:
            if run_id not in self._steps:
                raise NotFoundError(f"no run with id {run_id!r}")
            self._append_tracked(run_id, metrics, attachments)

    def list_metrics(self, run_id: str, name: str | None = None) -> list[MetricChunk]:
        with self._lock:
            chunks = self._metrics.get(run_id, [])
            if name is None:
                return list(chunks)
            return [chunk for chunk in chunks if chunk.name == name]

    def list_attachments(self, run_id: str) -> list[AttachmentRecord]:
        with self._lock:
            return list(self._attachments.get(run_id, []))

    def put_blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            self._blobs.setdefault(digest, bytes(data))
            self._put_times[digest] = time.time()
        return digest

    def get_blob(self, sha256: str) -> bytes | None:
        with self._lock:
            data = self._blobs.get(sha256)
        return checked_blob(sha256, data, "the memory store")

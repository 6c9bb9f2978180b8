"""The tracking methods of the JSON-files store: metric chunks, attachments and blobs.

What a step (or the run's own body) tracked is appended to its run as one numbered JSON file,
``flightlog/runs/<run_id>/tracked/<n>.json``: ``{"metrics": [{"name", "position",
"step_name", "steps", "values", "times"}], "attachments": [{"name", "position",
"step_name", "size", "sha256", "time"}]}``, never replacing an earlier one. Attached bytes are
stored once per digest as ``blobs/<ab>/<sha256>`` (read-only), and shown under their names in
the step's ``attachments/`` folder (a hard link to the blob where the file system allows it),
or in ``flightlog/runs/<run_id>/attachments/`` for the run's own body.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..bandsaw import Ids
from ..errors import NotFoundError
from ..model import AttachmentRecord, MetricChunk
from .blobs import checked_blob
from .files_io import (
    Writes,
    check_component,
    check_digest,
    check_run_id,
    dump,
    locked,
    touch,
)
from .files_layout import OWN, Layout, append_numbered, tracked_names
from .files_records import (
    attachment_from,
    attachment_record,
    chunk_from,
    chunk_record,
    decoded,
)
from .files_root import StoreRoot

T = TypeVar("T")

TRACKED = "tracked"


def tracked_document(
    metrics: Sequence[MetricChunk], attachments: Sequence[AttachmentRecord]
) -> bytes:
    return dump(
        {
            "metrics": [chunk_record(chunk) for chunk in metrics],
            "attachments": [attachment_record(item) for item in attachments],
        }
    )


class FileTracking:
    """Tracked values as files. Needs the store's ``layout`` and ``_writable``."""

    layout: Layout
    disk: StoreRoot
    root: str

    def _writable(self) -> None:
        raise NotImplementedError

    def _init_tracking(self) -> None:
        self._tracked_hint: dict[str, int] = {}
        self._tracked_lock = threading.Lock()

    def _tracked_dir(self, run_id: str) -> str:
        return f"{self.layout.own_run_dir(run_id)}/{TRACKED}"

    def _append_tracked(
        self,
        run_id: str,
        metrics: Sequence[MetricChunk],
        attachments: Sequence[AttachmentRecord],
        ids: Ids | None = None,
        position: int | None = None,
    ) -> None:
        """Append the values and show the attached files; durable on return."""
        writes = self.layout.writes()
        append_numbered(
            writes,
            self._tracked_dir(run_id),
            tracked_document(metrics, attachments),
            self._tracked_hint,
            self._tracked_lock,
        )
        for item in attachments:
            if item.position is None:
                folder = self.layout.attachments_dir(Ids(run_id))
            elif ids is not None and item.position == position:
                folder = self.layout.attachments_dir(ids)
            else:
                continue
            writes.folder(folder)
            name = check_component("attachment name", item.name)
            self._show(item, f"{folder}/{name}", writes)
        writes.commit()

    def _show(self, item: AttachmentRecord, path: str, writes: Writes) -> None:
        """The attached file under its name: the blob itself (a hard link), else a copy."""
        blob = self._blob_path(check_digest(item.sha256))
        if writes.hard_link(blob, path):
            return
        data = self.disk.read_bytes(blob)
        if data is not None:
            writes.file(path, data)

    def record_tracked(
        self,
        run_id: str,
        *,
        metrics: Sequence[MetricChunk] = (),
        attachments: Sequence[AttachmentRecord] = (),
    ) -> None:
        self._writable()
        if not self.disk.exists(self.layout.run_info_path(check_run_id(run_id))):
            raise NotFoundError(f"no run with id {run_id!r}")
        if metrics or attachments:
            self._append_tracked(run_id, metrics, attachments)

    def _tracked(self, run_id: str, key: str, read: Callable[[Any], T]) -> list[T]:
        """The items under ``key`` of the run's tracked documents, each made by ``read``."""
        folder = self._tracked_dir(check_run_id(run_id))
        found: list[T] = []
        for _, name in tracked_names(self.disk, folder):
            path = f"{folder}/{name}"
            document = self.disk.read_object(path)
            if document is not None:
                items = document.get(key) or ()
                found.extend(decoded(path, key, _each, read, items))
        return found

    def list_metrics(self, run_id: str, name: str | None = None) -> list[MetricChunk]:
        chunks = self._tracked(run_id, "metrics", chunk_from)
        return [chunk for chunk in chunks if name is None or chunk.name == name]

    def list_attachments(self, run_id: str) -> list[AttachmentRecord]:
        return self._tracked(run_id, "attachments", attachment_from)

    def _blob_path(self, digest: str) -> str:
        return f"{self.root}/blobs/{digest[:2]}/{digest}"

    def put_blob(self, data: bytes) -> str:
        self._writable()
        data = bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        path = self._blob_path(digest)
        # Under the lock that deleting blobs takes; a blob put again is touched: its
        # modification time is when it was last put (see files_deleting).
        with locked(f"{self.root}/{OWN}/locks/blobs", self.disk):
            if self.disk.exists(path):
                touch(path)
                return digest
            writes = self.layout.writes()
            writes.folder(os.path.dirname(path))
            writes.file(path, data, replace=False, mode=0o444)
            writes.commit()
        return digest

    def get_blob(self, sha256: str) -> bytes | None:
        path = self._blob_path(check_digest(sha256))
        return checked_blob(sha256, self.disk.read_bytes(path), f"the files store ({path})")


def _each(read: Callable[[Any], T], items: Any) -> list[T]:
    return [read(item) for item in items]

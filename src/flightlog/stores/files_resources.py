"""The resource methods of the JSON-files store.

Each collection has a folder ``flightlog/collections/<collection>/`` holding one record per
resource, ``records/<ident>.json`` (every field of the ``ResourceRecord``), and a status index
of empty files, ``status/<status>/<ident>``, so that counts and listings by status read
directory entries instead of records. Every change of a collection happens under an exclusive
``flock`` of ``flightlog/locks/collection.<collection>``, so a claim is a compare-and-set across
threads and processes.

A change writes the marker of the new status, then the record, then removes the marker of the
old status: at every instant the record's own status has a marker, and a resource found under
two statuses (a writer was killed in between) is settled by reading its record. (A brand-new
resource's record is written before its marker; a writer killed between the two leaves it out
of the index until it is written again.) ``declare_resources`` writes each identifier
atomically; a crash part-way leaves the ones declared so far, and declaring again adds the
rest.

Schema version 4: a record names the run (and step) that claimed its latest computation
(``run_id``, ``position``), and a run's uses of resources are files of the run's own folder,
``flightlog/runs/<run_id>/uses/<collection>/<ident>`` (``{"position": n}``), which go with
the run when it is deleted. So that the runs that used a resource are found without a walk
of every run, the collection keeps an index of empty files, ``users/<ident>/<run_id>``,
written before the run's file: a run's use is its file, and an index entry without one (the
run was deleted, or a writer was killed between the two) is skipped, and removed when the
resource is deleted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ..model import ResourceCount, ResourceRecord, ResourceStatus, ResourceUse, claim_takes
from .files_io import Writes, check_component, check_run_id, dump, locked
from .files_layout import OWN, Layout
from .files_records import decoded, resource_from, resource_record
from .files_root import StoreRoot

_SUFFIX = ".json"


class FileResources:
    """Resource records as files. Needs the store's ``layout``, ``root`` and ``_writable``."""

    layout: Layout
    disk: StoreRoot
    root: str

    def _writable(self) -> None:
        raise NotImplementedError

    def _collection_dir(self, collection: str) -> str:
        return f"{self.root}/{OWN}/collections/{collection}"

    def _record_path(self, collection: str, ident: str) -> str:
        return f"{self._collection_dir(collection)}/records/{ident}{_SUFFIX}"

    def _marker(self, collection: str, status: ResourceStatus, ident: str) -> str:
        return f"{self._collection_dir(collection)}/status/{status.value}/{ident}"

    @contextmanager
    def _collection_lock(self, collection: str) -> Iterator[None]:
        with locked(f"{self.root}/{OWN}/locks/collection.{collection}", self.disk):
            yield

    def _read(self, collection: str, ident: str) -> ResourceRecord | None:
        path = self._record_path(collection, ident)
        found = self.disk.read_object(path)
        if found is None:
            return None
        return decoded(path, f"resource {ident!r}", resource_from, found)

    def _store(
        self, record: ResourceRecord, previous: ResourceStatus | None, writes: Writes
    ) -> None:
        """Write a record and move its status marker (the caller holds the lock)."""
        collection, ident = record.collection, record.ident
        marker = self._marker(collection, record.status, ident)
        moved = previous is not None and previous is not record.status
        writes.folder(os.path.dirname(marker))
        if moved:
            writes.empty(marker)
        path = self._record_path(collection, ident)
        writes.folder(os.path.dirname(path))
        writes.file(path, dump(resource_record(record)))
        if moved:
            assert previous is not None
            writes.remove(self._marker(collection, previous, ident))
        else:  # a new resource, or one whose marker a killed writer may have left out
            writes.empty(marker)

    def _checked(self, collection: str, ident: str) -> tuple[str, str]:
        return (
            check_component("resource collection name", collection),
            check_component("resource identifier", ident),
        )

    def data_directory(self) -> str | None:
        return self.root

    def get_resource(self, collection: str, ident: str) -> ResourceRecord | None:
        return self._read(*self._checked(collection, ident))

    def claim_resource(self, record: ResourceRecord, *, expected_attempt: int | None) -> bool:
        self._writable()
        collection, ident = self._checked(record.collection, record.ident)
        with self._collection_lock(collection):
            found = self._read(collection, ident)
            if not claim_takes(found, expected_attempt):
                return False
            claimed = ResourceRecord(
                collection,
                ident,
                ResourceStatus.PENDING,
                (expected_attempt or 0) + 1,
                record.task_id,
                record.arguments,
                None,
                None,
                record.start_time,
                None,
                record.owner,
                record.lease_expires,
                record.created_time,
                list(record.history),
                record.run_id,
                record.position,
            )
            if found is not None and found.created_time is not None:
                claimed.created_time = found.created_time
            writes = self.layout.writes()
            self._store(claimed, None if found is None else found.status, writes)
            writes.commit()
            return True

    def put_resource(self, record: ResourceRecord) -> None:
        self._writable()
        collection, ident = self._checked(record.collection, record.ident)
        with self._collection_lock(collection):
            found = self._read(collection, ident)
            writes = self.layout.writes()
            self._store(record, None if found is None else found.status, writes)
            writes.commit()

    def finish_resource(self, record: ResourceRecord) -> bool:
        self._writable()
        collection, ident = self._checked(record.collection, record.ident)
        with self._collection_lock(collection):
            found = self._read(collection, ident)
            if found is None or found.attempt != record.attempt:
                return False
            previous = found.status
            found.status = record.status
            found.result = record.result
            found.error = record.error
            found.end_time = record.end_time
            found.owner = None
            found.lease_expires = None
            writes = self.layout.writes()
            self._store(found, previous, writes)
            writes.commit()
            return True

    def declare_resources(self, collection: str, idents: Sequence[str], created_time: float) -> int:
        self._writable()
        check_component("resource collection name", collection)
        for ident in idents:
            check_component("resource identifier", ident)
        if not idents:
            return 0
        added = 0
        with self._collection_lock(collection):
            writes = self.layout.writes()
            for ident in idents:
                if self.disk.exists(self._record_path(collection, ident)):
                    continue
                record = ResourceRecord(collection, ident, created_time=created_time)
                self._store(record, None, writes)
                added += 1
            writes.commit()
        return added

    def _status_idents(self, collection: str, status: ResourceStatus) -> list[str]:
        """Identifiers under ``status`` in the index, those found under two statuses settled
        by their records; sorted."""
        folder = f"{self._collection_dir(collection)}/status"
        mine = set(self.disk.entries(f"{folder}/{status.value}"))  # markers: never temporary
        doubtful: set[str] = set()
        for other in ResourceStatus:
            if other is not status and mine:
                doubtful |= mine & set(self.disk.entries(f"{folder}/{other.value}"))
        for ident in doubtful:
            found = self._read(collection, ident)
            if found is None or found.status is not status:
                mine.discard(ident)
        return sorted(mine)

    def list_resources(
        self, collection: str, *, status: ResourceStatus | None = None
    ) -> list[ResourceRecord]:
        check_component("resource collection name", collection)
        if status is None:
            names = self.disk.entries(f"{self._collection_dir(collection)}/records")
            idents = sorted(name[: -len(_SUFFIX)] for name in names if name.endswith(_SUFFIX))
        else:
            idents = self._status_idents(collection, status)
        found = []
        for ident in idents:
            record = self._read(collection, ident)
            if record is not None and (status is None or record.status is status):
                found.append(record)
        return found

    def resource_identifiers(self, collection: str, status: ResourceStatus) -> list[str]:
        check_component("resource collection name", collection)
        return self._status_idents(collection, status)

    def count_resources(
        self, collection: str | None = None, *, times: bool = False
    ) -> list[ResourceCount]:
        if collection is None:
            names = sorted(self.disk.names(f"{self.root}/{OWN}/collections"))
        else:
            names = [check_component("resource collection name", collection)]
        found: list[ResourceCount] = []
        for name in names:
            for status in ResourceStatus:
                idents = self._status_idents(name, status)
                if not idents:
                    continue
                count = ResourceCount(name, status, len(idents))
                if times:
                    for ident in idents:
                        record = self._read(name, ident)
                        if record is None:
                            continue
                        count.created_time = _earliest(count.created_time, record.created_time)
                        count.start_time = _earliest(count.start_time, record.start_time)
                        count.end_time = _latest(count.end_time, record.end_time)
                found.append(count)
        return found

    def renew_resource_leases(
        self, claims: Sequence[tuple[str, str, int]], lease_expires: float
    ) -> None:
        self._writable()
        by_collection: dict[str, list[tuple[str, int]]] = {}
        for collection, ident, attempt in claims:
            self._checked(collection, ident)
            by_collection.setdefault(collection, []).append((ident, attempt))
        for collection, items in by_collection.items():
            with self._collection_lock(collection):
                writes = self.layout.writes()
                for ident, attempt in items:
                    found = self._read(collection, ident)
                    if (
                        found is not None
                        and found.attempt == attempt
                        and found.status is ResourceStatus.PENDING
                    ):
                        found.lease_expires = lease_expires
                        self._store(found, found.status, writes)
                writes.commit()

    # -- which runs computed and used which resources ------------------------------------------
    def _use_path(self, run_id: str, collection: str, ident: str) -> str:
        return f"{self.layout.own_run_dir(run_id)}/uses/{collection}/{ident}"

    def _users_dir(self, collection: str, ident: str) -> str:
        return f"{self._collection_dir(collection)}/users/{ident}"

    def _users(self, collection: str, ident: str) -> set[str]:
        """The runs whose use of the resource is on file (the caller may hold the lock)."""
        return {
            run_id
            for run_id in self.disk.entries(self._users_dir(collection, ident))
            if self.disk.exists(self._use_path(run_id, collection, ident))
        }

    def record_resource_uses(self, uses: Sequence[ResourceUse]) -> None:
        self._writable()
        by_collection: dict[str, list[ResourceUse]] = {}
        for use in uses:
            self._checked(use.collection, use.ident)
            check_run_id(use.run_id)
            by_collection.setdefault(use.collection, []).append(use)
        for collection, items in by_collection.items():
            with self._collection_lock(collection):
                writes = self.layout.writes()
                for use in items:
                    path = self._use_path(use.run_id, collection, use.ident)
                    if self.disk.exists(path):
                        continue
                    users = self._users_dir(collection, use.ident)
                    writes.folder(users)
                    writes.empty(f"{users}/{use.run_id}")  # the index first, then the use
                    writes.folder(os.path.dirname(path))
                    writes.file(path, dump({"position": use.position}), replace=False)
                writes.commit()

    def resource_uses(self, run_ids: Sequence[str]) -> list[ResourceUse]:
        found: list[ResourceUse] = []
        for run_id in dict.fromkeys(run_ids):
            folder = f"{self.layout.own_run_dir(check_run_id(run_id))}/uses"
            for collection in self.disk.names(folder):
                for ident in self.disk.entries(f"{folder}/{collection}"):
                    data = self.disk.read_object(f"{folder}/{collection}/{ident}") or {}
                    position = data.get("position")
                    found.append(
                        ResourceUse(
                            run_id, collection, ident, position if type(position) is int else None
                        )
                    )
        return found

    def resource_users(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], set[str]]:
        found: dict[tuple[str, str], set[str]] = {}
        for key in dict.fromkeys(keys):
            users = self._users(*self._checked(*key))
            if users:
                found[key] = users
        return found

    def resources_computed_by(self, run_ids: Sequence[str]) -> list[ResourceRecord]:
        wanted = set(run_ids)
        found: list[ResourceRecord] = []
        for collection in sorted(self.disk.names(f"{self.root}/{OWN}/collections")):
            names = self.disk.entries(f"{self._collection_dir(collection)}/records")
            for name in sorted(names):
                if name.endswith(_SUFFIX):
                    record = self._read(collection, name[: -len(_SUFFIX)])
                    if record is not None and record.run_id in wanted:
                        found.append(record)
        return found

    def delete_resource(self, collection: str, ident: str, *, attempt: int) -> bool:
        self._writable()
        collection, ident = self._checked(collection, ident)
        with self._collection_lock(collection):
            found = self._read(collection, ident)
            if found is None or found.attempt != attempt:
                return False
            writes = self.layout.writes()
            writes.remove(self._record_path(collection, ident))  # the record first: then gone
            for status in ResourceStatus:
                writes.remove(self._marker(collection, status, ident))
            users = self._users_dir(collection, ident)
            for run_id in self.disk.entries(users):  # index entries of runs deleted since
                if not self.disk.exists(self._use_path(run_id, collection, ident)):
                    writes.remove(f"{users}/{run_id}")
            writes.commit()
            return True


def _earliest(first: float | None, second: float | None) -> float | None:
    return second if first is None else first if second is None else min(first, second)


def _latest(first: float | None, second: float | None) -> float | None:
    return second if first is None else first if second is None else max(first, second)

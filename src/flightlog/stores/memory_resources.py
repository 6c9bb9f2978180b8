"""The resource methods of the in-memory store (the reference for every other store)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ..model import ResourceCount, ResourceRecord, ResourceStatus, ResourceUse, claim_takes


class MemoryResources:
    """Resources in a dict per collection, with a set of identifiers per stored status so that
    counts and status listings never walk the whole collection. Shares the store's lock."""

    _lock: threading.Lock

    def _init_resources(self) -> None:
        self._resources: dict[str, dict[str, ResourceRecord]] = {}
        self._by_status: dict[str, dict[ResourceStatus, set[str]]] = {}
        # Uses by run, and the runs that used each resource.
        self._uses: dict[str, dict[tuple[str, str], ResourceUse]] = {}
        self._users: dict[tuple[str, str], set[str]] = {}

    def data_directory(self) -> str | None:
        return None

    def _place(self, record: ResourceRecord, previous: ResourceStatus | None) -> None:
        collection = record.collection
        statuses = self._by_status.get(collection)
        if statuses is None:
            statuses = self._by_status[collection] = {status: set() for status in ResourceStatus}
            self._resources[collection] = {}
        if previous is not None:
            statuses[previous].discard(record.ident)
        statuses[record.status].add(record.ident)
        self._resources[collection][record.ident] = record

    def _stored(self, collection: str, ident: str) -> ResourceRecord | None:
        return self._resources.get(collection, {}).get(ident)

    def get_resource(self, collection: str, ident: str) -> ResourceRecord | None:
        with self._lock:
            found = self._stored(collection, ident)
            return None if found is None else _copy(found)

    def claim_resource(self, record: ResourceRecord, *, expected_attempt: int | None) -> bool:
        with self._lock:
            found = self._stored(record.collection, record.ident)
            if not claim_takes(found, expected_attempt):
                return False
            claimed = _copy(record)
            claimed.status = ResourceStatus.PENDING
            claimed.attempt = (expected_attempt or 0) + 1
            claimed.result = None
            claimed.error = None
            claimed.end_time = None
            if found is not None and found.created_time is not None:
                claimed.created_time = found.created_time
            self._place(claimed, None if found is None else found.status)
            return True

    def finish_resource(self, record: ResourceRecord) -> bool:
        with self._lock:
            found = self._stored(record.collection, record.ident)
            if found is None or found.attempt != record.attempt:
                return False
            finished = _copy(found)
            finished.status = record.status
            finished.result = record.result
            finished.error = record.error
            finished.end_time = record.end_time
            finished.owner = None
            finished.lease_expires = None
            self._place(finished, found.status)
            return True

    def put_resource(self, record: ResourceRecord) -> None:
        with self._lock:
            found = self._stored(record.collection, record.ident)
            self._place(_copy(record), None if found is None else found.status)

    def declare_resources(self, collection: str, idents: Sequence[str], created_time: float) -> int:
        added = 0
        with self._lock:
            for ident in idents:
                if self._stored(collection, ident) is None:
                    self._place(ResourceRecord(collection, ident, created_time=created_time), None)
                    added += 1
        return added

    def list_resources(
        self, collection: str, *, status: ResourceStatus | None = None
    ) -> list[ResourceRecord]:
        with self._lock:
            records = self._resources.get(collection, {})
            if status is None:
                idents: Sequence[str] = sorted(records)
            else:
                idents = sorted(self._by_status.get(collection, {}).get(status, ()))
            return [_copy(records[ident]) for ident in idents]

    def resource_identifiers(self, collection: str, status: ResourceStatus) -> list[str]:
        with self._lock:
            return sorted(self._by_status.get(collection, {}).get(status, ()))

    def count_resources(
        self, collection: str | None = None, *, times: bool = False
    ) -> list[ResourceCount]:
        with self._lock:
            names = sorted(self._by_status) if collection is None else [collection]
            found: list[ResourceCount] = []
            for name in names:
                records = self._resources.get(name, {})
                for status, idents in self._by_status.get(name, {}).items():
                    if not idents:
                        continue
                    count = ResourceCount(name, status, len(idents))
                    for ident in idents if times else ():
                        record = records[ident]
                        count.created_time = _earliest(count.created_time, record.created_time)
                        count.start_time = _earliest(count.start_time, record.start_time)
                        count.end_time = _latest(count.end_time, record.end_time)
                    found.append(count)
            return found

    def renew_resource_leases(
        self, claims: Sequence[tuple[str, str, int]], lease_expires: float
    ) -> None:
        with self._lock:
            for collection, ident, attempt in claims:
                found = self._stored(collection, ident)
                if (
                    found is not None
                    and found.attempt == attempt
                    and found.status is ResourceStatus.PENDING
                ):
                    found.lease_expires = lease_expires

    # -- which runs computed and used which resources ------------------------------------------
    def record_resource_uses(self, uses: Sequence[ResourceUse]) -> None:
        with self._lock:
            for use in uses:
                key = (use.collection, use.ident)
                self._uses.setdefault(use.run_id, {}).setdefault(key, use)
                self._users.setdefault(key, set()).add(use.run_id)

    def resource_uses(self, run_ids: Sequence[str]) -> list[ResourceUse]:
        with self._lock:
            return [
                use
                for run_id in dict.fromkeys(run_ids)
                for use in self._uses.get(run_id, {}).values()
            ]

    def resource_users(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], set[str]]:
        with self._lock:
            return {key: set(self._users[key]) for key in keys if self._users.get(key)}

    def resources_computed_by(self, run_ids: Sequence[str]) -> list[ResourceRecord]:
        wanted = set(run_ids)
        with self._lock:
            return [
                _copy(record)
                for records in self._resources.values()
                for record in records.values()
                if record.run_id is not None and record.run_id in wanted
            ]

    def delete_resource(self, collection: str, ident: str, *, attempt: int) -> bool:
        with self._lock:
            found = self._stored(collection, ident)
            if found is None or found.attempt != attempt:
                return False
            del self._resources[collection][ident]
            self._by_status[collection][found.status].discard(ident)
            return True

    def _forget_uses(self, run_id: str) -> None:
        """Drop the uses a deleted run recorded (the caller holds the lock)."""
        for key in self._uses.pop(run_id, {}):
            users = self._users.get(key)
            if users is not None:
                users.discard(run_id)
                if not users:
                    del self._users[key]


def _earliest(first: float | None, second: float | None) -> float | None:
    return second if first is None else first if second is None else min(first, second)


def _latest(first: float | None, second: float | None) -> float | None:
    return second if first is None else first if second is None else max(first, second)


def _copy(record: ResourceRecord) -> ResourceRecord:
    """A copy whose history list is the caller's own (owners and errors are never mutated)."""
    return ResourceRecord(
        record.collection,
        record.ident,
        record.status,
        record.attempt,
        record.task_id,
        record.arguments,
        record.result,
        record.error,
        record.start_time,
        record.end_time,
        record.owner,
        record.lease_expires,
        record.created_time,
        list(record.history),
        record.run_id,
        record.position,
    )

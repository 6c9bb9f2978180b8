"""The store conformance suite's part on which runs computed and used which resources
(schema version 4): ``run_id`` and ``position`` of a resource's claim, ``record_resource_uses``,
``resource_uses``, ``resource_users``, ``resources_computed_by`` and ``delete_resource``.

:class:`flightlog.testing.StoreContract` inherits :class:`ResourceUseStoreContract`, so that
every store must pass these tests too.
"""

from __future__ import annotations

import time

from .model import Owner, ResourceRecord, ResourceStatus, ResourceUse, Run, Status
from .stores import Store

COLLECTION = "thumbnails"


def _claim(ident: str, run_id: str | None, position: int | None = 0) -> ResourceRecord:
    now = time.time()
    return ResourceRecord(
        COLLECTION,
        ident,
        ResourceStatus.PENDING,
        1,
        "r" * 32,
        "{}",
        None,
        None,
        now,
        None,
        Owner(host="host-a", pid=4242),
        now + 60,
        now,
        [],
        run_id,
        None if run_id is None else position,
    )


def _computed(store: Store, ident: str, run_id: str | None, position: int | None = 0) -> None:
    claim = _claim(ident, run_id, position)
    assert store.claim_resource(claim, expected_attempt=None)
    claim.status = ResourceStatus.COMPLETED
    claim.result = '"done"'
    claim.end_time = time.time()
    assert store.finish_resource(claim)


def _finished_run(store: Store, run_id: str) -> None:
    now = time.time()
    store.create_run(Run(run_id=run_id, workflow="pipeline", start_time=now, created_time=now))
    store.finish_run(run_id, status=Status.SUCCESSFUL, end_time=now + 1)


def _uses(store: Store, *run_ids: str) -> list[ResourceUse]:
    return sorted(
        store.resource_uses(list(run_ids)), key=lambda u: (u.run_id, u.collection, u.ident)
    )


class ResourceUseStoreContract:
    """Which run computed a resource, which runs used it, and deleting a resource."""

    def test_a_claim_names_its_run_and_step_and_keeps_them_when_finished(
        self, store: Store
    ) -> None:
        _computed(store, "a", "run-1", 3)
        _computed(store, "body", "run-1", None)
        _computed(store, "outside", None)
        found = store.get_resource(COLLECTION, "a")
        assert found is not None and (found.run_id, found.position) == ("run-1", 3)
        assert found.status is ResourceStatus.COMPLETED
        body = store.get_resource(COLLECTION, "body")
        assert body is not None and (body.run_id, body.position) == ("run-1", None)
        outside = store.get_resource(COLLECTION, "outside")
        assert outside is not None and (outside.run_id, outside.position) == (None, None)
        assert [record.run_id for record in store.list_resources(COLLECTION)] == [
            "run-1",
            "run-1",
            None,
        ]
        # Claimed again by another run: the new claim names that run.
        again = _claim("a", "run-2", 7)
        assert store.claim_resource(again, expected_attempt=1)
        found = store.get_resource(COLLECTION, "a")
        assert found is not None and (found.run_id, found.position) == ("run-2", 7)
        assert found.attempt == 2

    def test_resources_computed_by_names_only_the_given_runs(self, store: Store) -> None:
        _computed(store, "a", "run-1")
        _computed(store, "b", "run-2")
        _computed(store, "c", None)
        assert sorted(r.ident for r in store.resources_computed_by(["run-1", "run-2"])) == [
            "a",
            "b",
        ]
        assert [r.ident for r in store.resources_computed_by(["run-2", "unknown"])] == ["b"]
        assert store.resources_computed_by([]) == []

    def test_uses_are_recorded_once_each_and_read_back_by_run_and_by_resource(
        self, store: Store
    ) -> None:
        store.record_resource_uses(
            [
                ResourceUse("run-1", COLLECTION, "a", 2),
                ResourceUse("run-1", COLLECTION, "b", None),
                ResourceUse("run-2", COLLECTION, "a", 0),
                ResourceUse("run-2", "other", "a", 5),
            ]
        )
        # Recorded again (another position): the first stays, nothing doubles.
        store.record_resource_uses([ResourceUse("run-1", COLLECTION, "a", 9)])
        store.record_resource_uses([])
        assert _uses(store, "run-1") == [
            ResourceUse("run-1", COLLECTION, "a", 2),
            ResourceUse("run-1", COLLECTION, "b", None),
        ]
        assert _uses(store, "run-2", "run-2") == [
            ResourceUse("run-2", "other", "a", 5),
            ResourceUse("run-2", COLLECTION, "a", 0),
        ]
        assert _uses(store, "unknown") == []
        users = store.resource_users([(COLLECTION, "a"), (COLLECTION, "b"), (COLLECTION, "z")])
        assert users == {(COLLECTION, "a"): {"run-1", "run-2"}, (COLLECTION, "b"): {"run-1"}}

    def test_deleting_a_run_deletes_its_uses_and_not_the_resources(self, store: Store) -> None:
        _finished_run(store, "run-1")
        _finished_run(store, "run-2")
        _computed(store, "a", "run-1")
        store.record_resource_uses(
            [ResourceUse("run-1", COLLECTION, "a", 0), ResourceUse("run-2", COLLECTION, "a", 1)]
        )
        run = store.get_run("run-1")
        assert run is not None
        assert store.delete_run("run-1", expected_status=run.status, expected_resumes=run.resumes)
        assert _uses(store, "run-1") == []
        assert store.resource_users([(COLLECTION, "a")]) == {(COLLECTION, "a"): {"run-2"}}
        found = store.get_resource(COLLECTION, "a")
        assert found is not None and found.run_id == "run-1"  # the caller judges the resource

    def test_delete_resource_is_a_compare_and_set_on_its_attempt(self, store: Store) -> None:
        _computed(store, "a", "run-1")
        store.record_resource_uses([ResourceUse("run-2", COLLECTION, "a", 0)])
        assert not store.delete_resource(COLLECTION, "a", attempt=2)
        assert store.get_resource(COLLECTION, "a") is not None
        assert store.delete_resource(COLLECTION, "a", attempt=1)
        assert store.get_resource(COLLECTION, "a") is None
        assert store.list_resources(COLLECTION) == []
        assert store.resource_identifiers(COLLECTION, ResourceStatus.COMPLETED) == []
        assert store.count_resources(COLLECTION) == []
        assert not store.delete_resource(COLLECTION, "a", attempt=1)  # gone: nothing to do
        assert not store.delete_resource(COLLECTION, "never", attempt=0)
        # Computed again afterwards: a new record, from attempt 1.
        _computed(store, "a", "run-3")
        found = store.get_resource(COLLECTION, "a")
        assert found is not None and (found.attempt, found.run_id) == (1, "run-3")
        # The use recorded stays with its run (a use of the resource, whichever computation).
        assert _uses(store, "run-2") == [ResourceUse("run-2", COLLECTION, "a", 0)]

    def test_put_resource_keeps_run_and_position(self, store: Store) -> None:
        record = _claim("a", "run-1", 4)
        record.status = ResourceStatus.COMPLETED
        record.owner = None
        store.put_resource(record)
        assert store.get_resource(COLLECTION, "a") == record

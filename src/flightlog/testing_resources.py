"""The resource part of the store conformance suite (``StoreContract`` inherits it)."""

from __future__ import annotations

import threading
from typing import Any

from .model import Attempt, ErrorInfo, Owner, ResourceRecord, ResourceStatus, Status
from .stores import Store

__all__ = ["ResourceStoreContract", "make_claim"]

OWNER = Owner(host="host-a", pid=4242, process_start=99, boot_id="boot")


def make_claim(ident: str = "img-1", collection: str = "images", **fields: Any) -> ResourceRecord:
    """A claim as the runtime makes it: PENDING, attempt 1, with owner and lease."""
    values: dict[str, Any] = {
        "status": ResourceStatus.PENDING,
        "attempt": 1,
        "task_id": "t" * 32,
        "arguments": '{"size":3}',
        "start_time": 1000.0,
        "owner": OWNER,
        "lease_expires": 1060.0,
        "created_time": 1000.0,
    }
    values.update(fields)
    return ResourceRecord(collection, ident, **values)


def _finished(claim: ResourceRecord, **fields: Any) -> ResourceRecord:
    values: dict[str, Any] = {
        "attempt": claim.attempt,
        "status": ResourceStatus.COMPLETED,
        "result": '{"path":"x.png"}',
        "end_time": 1001.5,
    }
    values.update(fields)
    return ResourceRecord(claim.collection, claim.ident, **values)


class ResourceStoreContract:
    """Every resource storage behaviour flightlog relies on. Needs a ``store`` fixture."""

    def test_unknown_resource_is_none(self, store: Store) -> None:
        assert store.get_resource("images", "nope") is None
        assert store.list_resources("images") == []
        assert store.resource_identifiers("images", ResourceStatus.ERROR) == []
        assert store.count_resources("images") == []
        assert store.count_resources() == []

    def test_data_directory_is_a_path_or_none(self, store: Store) -> None:
        found = store.data_directory()
        assert found is None or isinstance(found, str)

    def test_claim_inserts_a_pending_resource(self, store: Store) -> None:
        claim = make_claim()
        assert store.claim_resource(claim, expected_attempt=0)
        found = store.get_resource("images", "img-1")
        assert found == claim
        assert store.get_resource("other", "img-1") is None

    def test_claims_are_compare_and_set(self, store: Store) -> None:
        assert store.claim_resource(make_claim(), expected_attempt=0)
        assert not store.claim_resource(make_claim(owner=None), expected_attempt=0)
        found = store.get_resource("images", "img-1")
        assert found is not None and found.owner == OWNER
        assert not store.claim_resource(make_claim(attempt=3), expected_attempt=2)
        assert store.claim_resource(make_claim(attempt=2, start_time=2000.0), expected_attempt=1)
        found = store.get_resource("images", "img-1")
        assert found is not None and found.attempt == 2 and found.start_time == 2000.0

    def test_a_claim_of_an_absent_resource_needs_it_to_have_no_record(self, store: Store) -> None:
        claim = make_claim()
        assert store.claim_resource(claim, expected_attempt=None)
        assert store.get_resource("images", "img-1") == claim
        assert not store.claim_resource(make_claim(owner=None), expected_attempt=None)
        assert store.get_resource("images", "img-1") == claim
        store.declare_resources("images", ["declared"], 5.0)
        assert not store.claim_resource(make_claim("declared"), expected_attempt=None)
        assert store.get_resource("images", "declared") == ResourceRecord(
            "images", "declared", created_time=5.0
        )
        assert store.finish_resource(_finished(claim))
        finished = store.get_resource("images", "img-1")
        assert finished is not None and finished.status is ResourceStatus.COMPLETED
        assert not store.claim_resource(make_claim(start_time=9.0), expected_attempt=None)
        assert store.get_resource("images", "img-1") == finished

    def test_finish_records_the_outcome_while_the_claim_holds(self, store: Store) -> None:
        claim = make_claim()
        store.claim_resource(claim, expected_attempt=0)
        assert not store.finish_resource(_finished(claim, attempt=7))
        assert store.finish_resource(_finished(claim))
        found = store.get_resource("images", "img-1")
        assert found is not None
        assert found.status is ResourceStatus.COMPLETED
        assert found.result == '{"path":"x.png"}' and found.end_time == 1001.5
        assert found.owner is None and found.lease_expires is None
        assert (found.arguments, found.task_id, found.start_time) == (
            '{"size":3}',
            "t" * 32,
            1000.0,
        )
        assert not store.finish_resource(_finished(make_claim("ghost")))

    def test_error_and_history_round_trip(self, store: Store) -> None:
        claim = make_claim()
        store.claim_resource(claim, expected_attempt=0)
        error = ErrorInfo("ValueError", "bad", "Traceback ...\nValueError: bad\n")
        store.finish_resource(
            _finished(claim, status=ResourceStatus.ERROR, result=None, error=error)
        )
        found = store.get_resource("images", "img-1")
        assert found is not None and found.status is ResourceStatus.ERROR and found.error == error
        history = [Attempt(1, 1000.0, 1001.5, Status.FAILED, error)]
        again = make_claim(attempt=2, start_time=3000.0, history=history, arguments=None)
        assert store.claim_resource(again, expected_attempt=1)
        found = store.get_resource("images", "img-1")
        assert found is not None
        assert found.history == history
        assert found.error is None and found.result is None and found.end_time is None
        assert found.created_time == 1000.0 and found.arguments is None

    def test_declare_adds_only_new_identifiers(self, store: Store) -> None:
        assert store.declare_resources("images", ["a", "b", "c"], 5.0) == 3
        assert store.declare_resources("images", [], 6.0) == 0
        claim = make_claim("b")
        assert store.claim_resource(claim, expected_attempt=0)  # a declared one is attempt 0
        found = store.get_resource("images", "b")
        assert found is not None and found.created_time == 5.0
        assert store.declare_resources("images", ["b", "c", "d"], 6.0) == 1
        found = store.get_resource("images", "b")
        assert found is not None and found.status is ResourceStatus.PENDING
        declared = store.get_resource("images", "d")
        assert declared == ResourceRecord("images", "d", created_time=6.0)

    def test_listings_by_status_are_sorted(self, store: Store) -> None:
        store.declare_resources("images", ["d", "a", "c", "b"], 1.0)
        store.declare_resources("other", ["z"], 1.0)
        for ident in ("c", "a"):
            claim = make_claim(ident)
            store.claim_resource(claim, expected_attempt=0)
            store.finish_resource(_finished(claim))
        assert [r.ident for r in store.list_resources("images")] == ["a", "b", "c", "d"]
        completed = store.list_resources("images", status=ResourceStatus.COMPLETED)
        assert [r.ident for r in completed] == ["a", "c"]
        assert completed[0].result == '{"path":"x.png"}'
        assert store.resource_identifiers("images", ResourceStatus.UNAVAILABLE) == ["b", "d"]
        assert store.resource_identifiers("images", ResourceStatus.COMPLETED) == ["a", "c"]
        assert store.resource_identifiers("other", ResourceStatus.UNAVAILABLE) == ["z"]

    def test_counts_per_status(self, store: Store) -> None:
        store.declare_resources("images", [f"i{n}" for n in range(6)], 1.0)
        store.declare_resources("other", ["z"], 1.0)
        for ident, start in (("i0", 1000.0), ("i1", 900.0), ("i2", 1100.0)):
            store.claim_resource(make_claim(ident, start_time=start), expected_attempt=0)
        claim = make_claim("i3")
        store.claim_resource(claim, expected_attempt=0)
        store.finish_resource(_finished(claim, status=ResourceStatus.ERROR, result=None))
        counts = store.count_resources("images")
        assert all(c.collection == "images" for c in counts)
        assert sorted((c.status.value, c.count) for c in counts) == [
            ("error", 1),
            ("pending", 3),
            ("unavailable", 2),
        ]
        assert all(c.start_time is None and c.end_time is None for c in counts)
        timed = {c.status: c for c in store.count_resources("images", times=True)}
        assert {status: c.count for status, c in timed.items()} == {
            ResourceStatus.UNAVAILABLE: 2,
            ResourceStatus.ERROR: 1,
            ResourceStatus.PENDING: 3,
        }
        error = timed[ResourceStatus.ERROR]
        assert (error.created_time, error.start_time, error.end_time) == (1.0, 1000.0, 1001.5)
        unavailable = timed[ResourceStatus.UNAVAILABLE]
        assert (unavailable.created_time, unavailable.start_time) == (1.0, None)
        pending = timed[ResourceStatus.PENDING]
        assert (pending.start_time, pending.end_time) == (900.0, None)
        everything = store.count_resources()
        assert {c.collection for c in everything} == {"images", "other"}
        assert [(c.status, c.count) for c in everything if c.collection == "other"] == [
            (ResourceStatus.UNAVAILABLE, 1)
        ]

    def test_leases_renew_only_current_pending_claims(self, store: Store) -> None:
        first, second = make_claim("a"), make_claim("b")
        store.claim_resource(first, expected_attempt=0)
        store.claim_resource(second, expected_attempt=0)
        store.finish_resource(_finished(second))
        store.renew_resource_leases(
            [("images", "a", 1), ("images", "b", 1), ("images", "a", 5), ("x", "y", 1)], 999.0
        )
        a, b = store.get_resource("images", "a"), store.get_resource("images", "b")
        assert a is not None and a.lease_expires == 999.0
        assert b is not None and b.lease_expires is None

    def test_concurrent_claims_have_one_winner(self, store: Store) -> None:
        store.declare_resources("images", ["shared"], 1.0)
        wins: list[bool] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(6)

        def claim(index: int) -> None:
            try:
                barrier.wait(10)
                owner = Owner(host="h", pid=index)
                wins.append(
                    store.claim_resource(make_claim("shared", owner=owner), expected_attempt=0)
                )
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=claim, args=(index,)) for index in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        assert sorted(wins) == [False] * 5 + [True]

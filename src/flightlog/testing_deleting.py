"""The store conformance suite's part on deleting: runs, blobs and cache entries.

:class:`flightlog.testing.StoreContract` inherits :class:`DeletingStoreContract`, so that every
store must pass these tests too.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from .errors import NotFoundError
from .model import AttachmentRecord, MetricChunk, Origin, Owner, Run, Status, Step
from .stores import Store

TASK = "d" * 32


def _run(run_id: str, status: Status = Status.SUCCESSFUL) -> Run:
    start = time.time()
    return Run(
        run_id=run_id,
        workflow="pipeline",
        status=status,
        start_time=start,
        end_time=None if status is Status.RUNNING else start + 1,
        created_time=start,
        owner=Owner(host="host-a", pid=4242),
    )


def _step(run_id: str, position: int, execution: int = 0, **fields: Any) -> Step:
    start = time.time()
    values: dict[str, Any] = {
        "name": f"embed_{position}" if position else "embed",
        "task_name": "embed",
        "task_id": TASK,
        "execution_id": f"{execution:032x}",
        "status": Status.SUCCESSFUL,
        "start_time": start,
        "end_time": start + 0.5,
        "result": f'"{run_id}"',
        "cache": True,
    }
    values.update(fields)
    return Step(run_id=run_id, position=position, **values)


def _cached(run_id: str, position: int, source: str, execution: int = 0) -> Step:
    return _step(run_id, position, execution, origin=Origin.CACHED, source_run=source)


def _chunk() -> MetricChunk:
    return MetricChunk("loss", 0, "embed", [0, 1], [0.5, 0.25], [1.0, 2.0])


def _delete(store: Store, run_id: str, *, force: bool = False) -> bool:
    run = store.get_run(run_id)
    assert run is not None
    return store.delete_run(
        run_id, expected_status=run.status, expected_resumes=run.resumes, force=force
    )


class DeletingStoreContract:
    """Deleting runs, blobs and cache entries. Needs the ``store`` fixture of StoreContract."""

    def test_delete_run_takes_everything_recorded_under_it(self, store: Store) -> None:
        for run_id in ("keep", "drop"):
            store.create_run(_run(run_id))
            digest = store.put_blob(run_id.encode())
            item = AttachmentRecord("a.txt", 0, "embed", 4, digest, 1.0)
            store.finish_step(_step(run_id, 0, cache=False), metrics=[_chunk()], attachments=[item])
            store.finish_step(_step(run_id, 1, 1, cache=False))
        assert _delete(store, "drop") is True
        assert store.get_run("drop") is None
        assert store.list_steps("drop") == []
        assert store.get_step("drop", "embed") is None
        assert store.list_metrics("drop") == []
        assert store.list_attachments("drop") == []
        assert [run.run_id for run in store.list_runs()] == ["keep"]
        kept = store.get_run("keep")
        assert kept is not None and kept.step_count == 2
        assert len(store.list_steps("keep")) == 2
        assert len(store.list_metrics("keep")) == 1
        assert len(store.list_attachments("keep")) == 1
        # blobs stay until they are deleted themselves
        assert store.get_blob(store.put_blob(b"drop")) == b"drop"

    def test_delete_run_is_compare_and_set(self, store: Store) -> None:
        store.create_run(_run("run-1", Status.RUNNING))
        assert not store.delete_run("run-1", expected_status=Status.FAILED, expected_resumes=0)
        assert not store.delete_run("run-1", expected_status=Status.RUNNING, expected_resumes=1)
        assert store.get_run("run-1") is not None
        assert store.delete_run("run-1", expected_status=Status.RUNNING, expected_resumes=0)
        assert store.get_run("run-1") is None

    def test_delete_unknown_run_is_not_found(self, store: Store) -> None:
        with pytest.raises(NotFoundError):
            store.delete_run("nope", expected_status=Status.SUCCESSFUL, expected_resumes=0)

    def test_runs_created_after_a_delete_are_new_runs(self, store: Store) -> None:
        for run_id in ("a", "b"):
            store.create_run(_run(run_id))
            store.finish_step(_step(run_id, 0, cache=False), metrics=[_chunk()])
        assert _delete(store, "b")
        store.create_run(_run("c"))
        assert [run.run_id for run in store.list_runs()] == ["c", "a"]
        assert store.list_steps("c") == [] and store.list_metrics("c") == []
        store.finish_step(_step("c", 0, cache=False))
        assert store.list_steps("b") == [] and store.list_metrics("b") == []
        store.create_run(_run("b"))  # the id is free again
        assert store.list_steps("b") == []

    def test_a_run_others_took_cached_results_from_stays(self, store: Store) -> None:
        for run_id in ("source", "user", "lone"):
            store.create_run(_run(run_id))
        store.finish_step(_step("source", 0))
        store.finish_step(_cached("user", 0, "source"))
        store.finish_step(_step("lone", 0, 5))
        store.finish_step(_cached("lone", 1, "lone", 5))  # its own: no dependency
        assert store.cache_dependents(["source", "user", "lone", "nope"]) == {"source": {"user"}}
        assert _delete(store, "source") is False
        assert store.get_run("source") is not None
        assert _delete(store, "lone") is True
        assert _delete(store, "user") is True
        assert store.cache_dependents(["source"]) == {}
        assert _delete(store, "source") is True

    def test_force_deletes_a_run_others_took_from(self, store: Store) -> None:
        store.create_run(_run("source"))
        store.create_run(_run("user"))
        store.finish_step(_step("source", 0))
        store.finish_step(_cached("user", 0, "source"))
        assert _delete(store, "source", force=True) is True
        found = store.list_steps("user")
        assert found[0].result == '"user"' and found[0].source_run == "source"

    def test_cache_serves_the_latest_remaining_step_after_a_delete(self, store: Store) -> None:
        store.create_run(_run("old"))
        store.finish_step(_step("old", 0))
        store.create_run(_run("new"))
        later = _step("new", 0)
        later.end_time = (later.end_time or 0.0) + 10
        store.finish_step(later)
        hit = store.find_cached(TASK, f"{0:032x}")
        assert hit is not None and hit.run_id == "new"
        assert _delete(store, "new")
        hit = store.find_cached(TASK, f"{0:032x}")
        assert hit is not None and hit.run_id == "old"
        assert [step.run_id for step in store.cached_steps(TASK, 10)] == ["old"]
        assert _delete(store, "old")
        assert store.find_cached(TASK, f"{0:032x}") is None
        assert store.cached_steps(TASK, 10) == []

    def test_clear_cache_stops_serving_recorded_results(self, store: Store) -> None:
        store.create_run(_run("a"))
        store.create_run(_run("b"))
        store.finish_step(_step("a", 0, 0))
        store.finish_step(_step("a", 1, 1))
        store.finish_step(_step("b", 0, 0))
        assert store.clear_cache(TASK, f"{1:032x}") == 1
        assert store.find_cached(TASK, f"{1:032x}") is None
        assert store.find_cached(TASK, f"{0:032x}") is not None
        assert store.clear_cache(TASK) == 2
        assert store.clear_cache(TASK) == 0
        assert store.find_cached(TASK, f"{0:032x}") is None
        assert store.cached_steps(TASK, 10) == []
        assert store.clear_cache("e" * 32) == 0
        # the records stay as they were
        steps = store.list_steps("a")
        assert [step.cache for step in steps] == [True, True]
        assert steps[0].result == '"a"'
        # a cleared step is not served again when a later one is deleted
        assert _delete(store, "b")
        assert store.find_cached(TASK, f"{0:032x}") is None
        # what is recorded afterwards is served
        store.create_run(_run("c"))
        store.finish_step(_step("c", 0, 0))
        hit = store.find_cached(TASK, f"{0:032x}")
        assert hit is not None and hit.run_id == "c"

    def test_blobs_go_only_when_unreferenced_and_put_before(self, store: Store) -> None:
        store.create_run(_run("a"))
        used = store.put_blob(b"used")
        loose = store.put_blob(b"loose!")
        item = AttachmentRecord("u.txt", 0, "embed", 4, used, 1.0)
        store.finish_step(_step("a", 0, cache=False), attachments=[item])
        assert store.blob_users([used, loose]) == {used: {"a"}}
        time.sleep(0.01)
        assert store.unused_blobs() == {loose: 6}
        assert store.unused_blobs(put_before=time.time() - 3600) == {}
        assert store.delete_blobs([used, loose, "0" * 64], put_before=time.time() - 3600) == {}
        assert store.get_blob(loose) == b"loose!"
        assert store.delete_blobs([used, loose, "0" * 64]) == {loose: 6}
        assert store.get_blob(loose) is None
        assert store.get_blob(used) == b"used"
        assert store.unused_blobs() == {}

    def test_a_blob_put_again_stays(self, store: Store) -> None:
        digest = store.put_blob(b"again")
        time.sleep(0.01)
        cutoff = time.time()
        time.sleep(0.01)
        store.put_blob(b"again")  # as a live run does, before it records the reference
        assert store.delete_blobs([digest], put_before=cutoff) == {}
        assert store.get_blob(digest) == b"again"
        assert store.unused_blobs(put_before=cutoff) == {}

"""The conformance tests of the store methods that copy and restore records (``put_run``,
``put_resource``), which ``flightlog.copy`` builds on. Part of :class:`StoreContract`."""

from __future__ import annotations

import time

from .model import (
    Attempt,
    ErrorInfo,
    MetricChunk,
    Owner,
    ResourceRecord,
    ResourceStatus,
    Run,
    RunAttempt,
    Status,
    Step,
)
from .stores import Store

__all__ = ["CopyStoreContract"]


def _finished_run(run_id: str) -> Run:
    """A run with every field set, as a copy brings it: finished, resumed twice, canceled."""
    return Run(
        run_id=run_id,
        workflow="pipeline",
        status=Status.CANCELED,
        tag="exp2",
        arguments='{"args":[1],"kwargs":{}}',
        user_metadata={"team": "nlp", "n": 3},
        start_time=120.0,
        end_time=130.5,
        output='"out"',
        error=ErrorInfo("ValueError", "bad", "Traceback ..."),
        environment={"python": "3.12", "host": "h"},
        owner=Owner(host="host-b", pid=77, process_start=5, boot_id="b2"),
        lease_expires=190.0,
        created_time=100.0,
        resumes=2,
        cancel_requested=True,
        history=[
            RunAttempt(1, 100.0, 105.0, Status.FAILED, "host-a", 1),
            RunAttempt(2, 110.0, 111.0, Status.RESUMABLE, "host-a", 2),
        ],
        last_seen=129.0,
    )


def _step(run_id: str, position: int) -> Step:
    return Step(run_id, f"s_{position}", position, "s", "t" * 32, status=Status.SUCCESSFUL)


def _resource(ident: str) -> ResourceRecord:
    return ResourceRecord(
        collection="embeddings",
        ident=ident,
        status=ResourceStatus.ERROR,
        attempt=3,
        task_id="r" * 32,
        arguments='{"args":[],"kwargs":{"x":1}}',
        result=None,
        error=ErrorInfo("KeyError", "'x'", "Traceback ..."),
        start_time=50.0,
        end_time=51.0,
        owner=Owner(host="host-c", pid=9),
        lease_expires=80.0,
        created_time=10.0,
        history=[Attempt(1, 20.0, 21.0, Status.FAILED), Attempt(2, 30.0, 31.0, Status.FAILED)],
    )


class CopyStoreContract:
    """``put_run`` and ``put_resource``: records written exactly as given."""

    def test_put_run_inserts_a_run_exactly_as_given(self, store: Store) -> None:
        run = _finished_run("copied")
        store.put_run(run)
        found = store.get_run("copied")
        assert found == run
        assert [r.run_id for r in store.list_runs()] == ["copied"]

    def test_put_runs_take_places_in_the_creation_order(self, store: Store) -> None:
        for run_id in ("first", "second", "third"):
            store.put_run(_finished_run(run_id))
        store.put_run(_finished_run("second"))  # a replaced run keeps its place
        assert [r.run_id for r in store.list_runs()] == ["third", "second", "first"]

    def test_put_run_replaces_every_field_and_keeps_the_steps(self, store: Store) -> None:
        start = time.time()
        store.create_run(
            Run("copied", "pipeline", Status.RUNNING, start_time=start, created_time=start)
        )
        store.finish_step(
            _step("copied", 0),
            metrics=[MetricChunk("loss", 0, "s_0", [0], [0.5], [start])],
        )
        replacement = _finished_run("copied")
        store.put_run(replacement)
        found = store.get_run("copied")
        assert found is not None
        assert found.step_count == 1
        found.step_count = 0
        assert found == replacement
        assert [step.name for step in store.list_steps("copied")] == ["s_0"]
        assert [chunk.name for chunk in store.list_metrics("copied")] == ["loss"]
        # and back to a run with nothing optional set
        plain = Run("copied", "other", Status.RUNNING)
        store.put_run(plain)
        found = store.get_run("copied")
        assert found is not None and found.step_count == 1
        found.step_count = 0
        assert found == plain

    def test_put_resource_inserts_and_replaces_exactly(self, store: Store) -> None:
        record = _resource("a")
        store.put_resource(record)
        assert store.get_resource("embeddings", "a") == record
        assert store.resource_identifiers("embeddings", ResourceStatus.ERROR) == ["a"]
        done = ResourceRecord(
            "embeddings",
            "a",
            ResourceStatus.COMPLETED,
            attempt=4,
            task_id="r" * 32,
            result="[1,2]",
            start_time=60.0,
            end_time=61.0,
            created_time=10.0,
        )
        store.put_resource(done)
        assert store.get_resource("embeddings", "a") == done
        assert store.resource_identifiers("embeddings", ResourceStatus.ERROR) == []
        assert store.resource_identifiers("embeddings", ResourceStatus.COMPLETED) == ["a"]
        counts = store.count_resources("embeddings")
        assert [(c.status, c.count) for c in counts] == [(ResourceStatus.COMPLETED, 1)]
        # the claim protocol goes on from the attempt that was put
        assert not store.claim_resource(done, expected_attempt=3)
        assert store.claim_resource(done, expected_attempt=4)

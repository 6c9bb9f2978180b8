"""The store conformance suite, part 2: cancels, and finishing a run against them.

Mixed into :class:`flightlog.testing.StoreContract`; see there for how to use it.
"""

from __future__ import annotations

import threading
import time

from .model import ErrorInfo, Owner, Run, Status
from .stores import Store

__all__ = ["CancelStoreContract"]


def _running(run_id: str = "run-1") -> Run:
    start = time.time()
    return Run(
        run_id=run_id,
        workflow="pipeline",
        status=Status.RUNNING,
        start_time=start,
        created_time=start,
        owner=Owner(host="host-a", pid=4242, process_start=99, boot_id="boot"),
        lease_expires=start + 60,
    )


class CancelStoreContract:
    """How ``request_cancel`` and ``finish_run`` meet. Needs a ``store`` fixture."""

    def test_cancel_marks_a_running_run_canceled_at_once(self, store: Store) -> None:
        store.create_run(_running())
        assert store.request_cancel("run-1", end_time=50.0) is True
        found = store.get_run("run-1")
        assert found is not None
        assert found.status is Status.CANCELED
        assert found.cancel_requested
        assert found.end_time == 50.0
        assert found.lease_expires is not None  # the owner has not stopped yet
        # A second cancel finds it finished: nothing changes.
        assert store.request_cancel("run-1", end_time=60.0) is False
        found = store.get_run("run-1")
        assert found is not None and found.status is Status.CANCELED and found.end_time == 50.0
        assert [run.run_id for run in store.list_runs(statuses=[Status.CANCELED])] == ["run-1"]

    def test_cancel_applies_to_a_run_recorded_resumable(self, store: Store) -> None:
        store.create_run(_running())
        # Its owner gave it up (its end could not be recorded), then the store answered again.
        assert (
            store.finish_run("run-1", status=Status.RESUMABLE, end_time=5.0, expected_resumes=0)
            is Status.RESUMABLE
        )
        assert store.request_cancel("run-1", end_time=50.0) is True
        found = store.get_run("run-1")
        assert found is not None and found.status is Status.CANCELED and found.end_time == 50.0

    def test_a_late_resumable_end_leaves_a_later_attempt_alone(self, store: Store) -> None:
        store.create_run(_running())
        other = Owner(host="host-b", pid=7, process_start=1, boot_id="boot-b")
        store.restart_run(
            "run-1", expected_resumes=0, owner=other, start_time=10.0, lease_expires=70.0
        )
        # The first owner's late "I gave it up" must not end the attempt that took it over.
        store.finish_run("run-1", status=Status.RESUMABLE, end_time=5.0, expected_resumes=0)
        found = store.get_run("run-1")
        assert found is not None
        assert (found.status, found.owner, found.end_time) == (Status.RUNNING, other, None)

    def test_cancel_leaves_a_finished_run_alone(self, store: Store) -> None:
        store.create_run(_running("ok"))
        store.create_run(_running("bad"))
        store.finish_run("ok", status=Status.SUCCESSFUL, end_time=5.0, output="6")
        store.finish_run("bad", status=Status.FAILED, end_time=6.0, error=ErrorInfo("E", "m", ""))
        assert store.request_cancel("ok", end_time=50.0) is False
        assert store.request_cancel("bad", end_time=50.0) is False
        ok, bad = store.get_run("ok"), store.get_run("bad")
        assert ok is not None and bad is not None
        assert (ok.status, ok.end_time, ok.output, ok.cancel_requested) == (
            Status.SUCCESSFUL,
            5.0,
            "6",
            False,
        )
        assert (bad.status, bad.end_time, bad.cancel_requested) == (Status.FAILED, 6.0, False)

    def test_finish_after_a_cancel_keeps_it_canceled(self, store: Store) -> None:
        store.create_run(_running("a"))
        store.create_run(_running("b"))
        for run_id in ("a", "b"):
            assert store.request_cancel(run_id, end_time=50.0)
        status = store.finish_run(
            "a", status=Status.SUCCESSFUL, end_time=60.0, output="1", expected_resumes=0
        )
        assert status is Status.CANCELED
        error = ErrorInfo("ValueError", "late", "")
        status = store.finish_run(
            "b", status=Status.FAILED, end_time=61.0, error=error, expected_resumes=0
        )
        assert status is Status.CANCELED
        for run_id, end in (("a", 60.0), ("b", 61.0)):
            found = store.get_run(run_id)
            assert found is not None
            assert found.status is Status.CANCELED
            assert found.end_time == end  # when its owner really stopped
            assert found.output is None and found.error is None
            assert found.lease_expires is None

    def test_finish_of_an_earlier_attempt_changes_nothing(self, store: Store) -> None:
        store.create_run(_running())
        store.request_cancel("run-1", end_time=5.0)
        owner = Owner(host="host-b", pid=7, process_start=1, boot_id="b")
        store.restart_run(
            "run-1", expected_resumes=0, owner=owner, start_time=10.0, lease_expires=70.0
        )
        # The first attempt's owner ends late: the resumed attempt is not its to finish.
        for status in (Status.SUCCESSFUL, Status.CANCELED):
            late = store.finish_run(
                "run-1", status=status, end_time=11.0, output="1", expected_resumes=0
            )
            assert late is Status.RUNNING
        found = store.get_run("run-1")
        assert found is not None
        assert (found.status, found.owner, found.end_time, found.output) == (
            Status.RUNNING,
            owner,
            None,
            None,
        )
        assert found.lease_expires == 70.0
        assert not found.cancel_requested
        done = store.finish_run(
            "run-1", status=Status.SUCCESSFUL, end_time=12.0, output="2", expected_resumes=1
        )
        assert done is Status.SUCCESSFUL

    def test_a_resumed_run_can_be_canceled_again(self, store: Store) -> None:
        store.create_run(_running())
        assert store.request_cancel("run-1", end_time=5.0)
        store.finish_run("run-1", status=Status.CANCELED, end_time=6.0, expected_resumes=0)
        owner = Owner(host="host-b", pid=7, process_start=1, boot_id="b")
        run = store.restart_run(
            "run-1", expected_resumes=0, owner=owner, start_time=10.0, lease_expires=70.0
        )
        assert (run.status, run.cancel_requested, run.end_time) == (Status.RUNNING, False, None)
        assert store.request_cancel("run-1", end_time=20.0)
        found = store.get_run("run-1")
        assert found is not None and found.status is Status.CANCELED and found.end_time == 20.0

    def test_cancel_and_finish_race_to_one_outcome(self, store: Store) -> None:
        """Whichever write lands first wins whole: a cancel that says it canceled leaves the
        run CANCELED, and the owner's finish then reports CANCELED too."""
        count = 12
        for index in range(count):
            store.create_run(_running(f"race-{index}"))
        barrier = threading.Barrier(2)
        canceled: dict[str, bool] = {}
        finished: dict[str, Status] = {}

        def cancel() -> None:
            barrier.wait(10)
            for index in range(count):
                canceled[f"race-{index}"] = store.request_cancel(f"race-{index}", end_time=1.0)

        def finish() -> None:
            barrier.wait(10)
            for index in range(count):
                finished[f"race-{index}"] = store.finish_run(
                    f"race-{index}",
                    status=Status.SUCCESSFUL,
                    end_time=2.0,
                    output="1",
                    expected_resumes=0,
                )

        threads = [threading.Thread(target=cancel), threading.Thread(target=finish)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        for index in range(count):
            run_id = f"race-{index}"
            found = store.get_run(run_id)
            assert found is not None and found.end_time == 2.0
            if canceled[run_id]:
                assert finished[run_id] is Status.CANCELED
                assert found.status is Status.CANCELED and found.output is None
            else:
                assert finished[run_id] is Status.SUCCESSFUL
                assert found.status is Status.SUCCESSFUL and found.output == "1"
                assert not found.cancel_requested

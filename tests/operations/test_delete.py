"""fl.delete_run, fl.gc and fl.clear_cache over every store, with real workflows."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import flightlog
from flightlog import ConflictError, Flightlog, InvalidInputError, NotFoundError
from flightlog.model import Owner, Run, Status
from flightlog.operations import parse_age


def _recorder(fl: Flightlog, calls: list[int]) -> tuple[Any, Any]:
    """A cache-enabled task that tracks a metric and attaches a file, and a workflow."""

    @fl.task(cache=True)
    def embed(x: int) -> str:
        calls.append(x)
        flightlog.track(size=x)
        flightlog.attach("emb.txt", data=f"embedding {x}".encode())
        return "e" * 100 * x

    @fl.workflow
    def pipeline(x: int) -> str:
        return embed(x)

    return embed, pipeline


def test_delete_run_takes_its_records_and_blobs(fl: Flightlog) -> None:
    calls: list[int] = []
    _, pipeline = _recorder(fl, calls)
    pipeline.run(1, run_id="one")
    pipeline.run(2, run_id="two")
    blob_one = fl.store.list_attachments("one")[0].sha256
    report = fl.delete_run("one", blob_grace=0)
    assert report.runs == ["one"] and report.steps == 1
    assert report.blobs == 1 and report.bytes == len(b"embedding 1")
    with pytest.raises(NotFoundError):
        fl.get_metadata("one")
    assert fl.store.list_metrics("one") == [] and fl.store.list_attachments("one") == []
    assert fl.store.get_blob(blob_one) is None
    assert [run["run_id"] for run in fl.list_runs()] == ["two"]
    assert fl.get_step_result("two", "embed") == "e" * 200
    with pytest.raises(NotFoundError):
        fl.delete_run("one")


def test_a_blob_another_run_references_stays(fl: Flightlog) -> None:
    @fl.workflow
    def body(name: str) -> None:
        flightlog.attach("same.txt", data=b"shared bytes")

    body.run("a", run_id="a")
    body.run("b", run_id="b")
    digest = fl.store.list_attachments("a")[0].sha256
    assert fl.delete_run("a", blob_grace=0).blobs == 0
    assert fl.store.get_blob(digest) == b"shared bytes"
    assert fl.delete_run("b", blob_grace=0).blobs == 1
    assert fl.store.get_blob(digest) is None


def test_a_live_run_is_never_deleted(fl: Flightlog) -> None:
    inside, release = threading.Event(), threading.Event()

    @fl.workflow
    def waits() -> int:
        inside.set()
        assert release.wait(30)
        return 1

    thread = threading.Thread(target=lambda: waits.run(run_id="live"))
    thread.start()
    try:
        assert inside.wait(30)
        with pytest.raises(ConflictError, match="RUNNING"):
            fl.delete_run("live")
        report = fl.gc(older_than=0, status=["RUNNING", "SUCCESSFUL"])
        assert report.runs == [] and "live" in report.kept
    finally:
        release.set()
        thread.join(30)
    assert fl.get_status("live") == "SUCCESSFUL"
    assert fl.gc(older_than=0).runs == ["live"]


def test_a_run_whose_owner_died_may_go(fl: Flightlog) -> None:
    now = time.time()
    fl.store.create_run(
        Run(
            run_id="dead",
            workflow="w",
            status=Status.RUNNING,
            start_time=now - 100,
            created_time=now - 100,
            owner=Owner(host="another-host", pid=1),
            lease_expires=now - 50,
        )
    )
    assert fl.get_status("dead") == "RESUMABLE"
    assert fl.gc(status="RESUMABLE").runs == ["dead"]
    assert fl.store.get_run("dead") is None


def test_cached_results_kept_runs_took_keep_their_source(fl: Flightlog) -> None:
    calls: list[int] = []
    _, pipeline = _recorder(fl, calls)
    pipeline.run(3, run_id="source")
    pipeline.run(3, run_id="user")  # served from cache
    assert calls == [3]
    assert fl.get_metadata("user", name="embed")["source_run"] == "source"
    with pytest.raises(ConflictError, match="user"):
        fl.delete_run("source")
    report = fl.gc(older_than=0, keep_last=1)
    assert report.runs == [] and "user" in report.kept["source"]
    assert fl.get_status("source") == "SUCCESSFUL"
    # together they may go, dependents first
    report = fl.delete_run("source", "user", blob_grace=0)
    assert sorted(report.runs) == ["source", "user"] and report.blobs == 1
    assert fl.list_runs() == []


def test_force_deletes_a_source_and_its_user_keeps_its_result(fl: Flightlog) -> None:
    calls: list[int] = []
    _, pipeline = _recorder(fl, calls)
    pipeline.run(2, run_id="source")
    pipeline.run(2, run_id="user")
    assert fl.delete_run("source", force=True).runs == ["source"]
    assert fl.get_step_result("user", "embed") == "e" * 200
    pipeline.run(2, run_id="again")  # nothing serves it from cache now
    assert calls == [2, 2]


def test_gc_dry_run_reports_and_deletes_nothing(fl: Flightlog) -> None:
    calls: list[int] = []
    _, pipeline = _recorder(fl, calls)
    for index in range(4):
        pipeline.run(index + 10, run_id=f"run-{index}")
    report = fl.gc(keep_last=1, dry_run=True, blob_grace=0)
    assert report.dry_run and sorted(report.runs) == ["run-0", "run-1", "run-2"]
    assert report.steps == 3 and report.blobs == 3
    assert len(fl.list_runs()) == 4
    done = fl.gc(keep_last=1, blob_grace=0)
    assert sorted(done.runs) == sorted(report.runs)
    assert (done.steps, done.blobs, done.bytes) == (report.steps, report.blobs, report.bytes)
    assert [run["run_id"] for run in fl.list_runs()] == ["run-3"]


def test_gc_rules_age_status_and_keep_last_per_workflow(fl: Flightlog) -> None:
    @fl.workflow
    def good() -> int:
        return 1

    @fl.workflow
    def bad() -> int:
        raise ValueError("no")

    for index in range(3):
        good.run(run_id=f"good-{index}")
        with pytest.raises(ValueError):
            bad.run(run_id=f"bad-{index}")
    assert fl.gc(older_than="1h").runs == []  # all of them are younger
    assert sorted(fl.gc(status=["FAILED"], keep_last=1).runs) == ["bad-0", "bad-1"]
    assert sorted(fl.gc(keep_last=2).runs) == ["good-0"]
    assert sorted(run["run_id"] for run in fl.list_runs()) == ["bad-2", "good-1", "good-2"]
    with pytest.raises(InvalidInputError, match="say which runs"):
        fl.gc()
    with pytest.raises(InvalidInputError, match="30x"):
        fl.gc(older_than="30x")
    with pytest.raises(InvalidInputError, match="keep_last"):
        fl.gc(keep_last=-1)


def test_clear_cache_makes_the_next_call_compute(fl: Flightlog) -> None:
    calls: list[int] = []
    _, pipeline = _recorder(fl, calls)
    pipeline.run(1, run_id="a")
    pipeline.run(1, run_id="b")
    assert calls == [1]
    cleared = fl.clear_cache("embed")
    assert list(cleared.values()) == [1]
    pipeline.run(1, run_id="c")
    assert calls == [1, 1]
    assert fl.get_step_result("a", "embed") == "e" * 100  # the records stay
    pipeline.run(1, run_id="d")  # what was recorded after the clear serves again
    assert calls == [1, 1]
    task_id = next(iter(cleared))
    assert fl.clear_cache(task_id=task_id) == {task_id: 1}
    assert fl.clear_cache("embed", version=task_id[:8]) == {task_id: 0}
    assert fl.clear_cache() == {task_id: 0}
    with pytest.raises(NotFoundError):
        fl.clear_cache("nothing")
    with pytest.raises(NotFoundError):
        fl.clear_cache("embed", version="v9")


def test_parse_age() -> None:
    assert parse_age("30d") == 30 * 86400
    assert parse_age("12h") == 12 * 3600
    assert parse_age(" 1.5m ") == 90
    assert parse_age(45) == 45
    assert parse_age("2w") == 14 * 86400
    for bad in ("30x", "", "d", "-1d", float("nan"), True):
        with pytest.raises(InvalidInputError):
            parse_age(bad)  # type: ignore[arg-type]


def _claim_rows(fl: Flightlog) -> list[str]:
    found = []
    for count in fl.store.count_resources():
        if count.collection.startswith("flightlog.cache."):
            found += [r.ident for r in fl.store.list_resources(count.collection)]
    return found


def test_the_claims_of_cache_keys_go_with_their_run_and_with_clear_cache(fl: Flightlog) -> None:
    """One computation per cache key takes a claim, a record of flightlog's own; it goes with
    the run that computed the key, and when the task's cache is cleared."""
    calls: list[int] = []
    _, pipeline = _recorder(fl, calls)
    pipeline.run(1, run_id="one")
    pipeline.run(2, run_id="two")
    assert len(_claim_rows(fl)) == 2
    report = fl.delete_run("one")
    assert report.resources == []  # flightlog's own records are not listed
    assert len(_claim_rows(fl)) == 1
    fl.clear_cache("embed")
    assert _claim_rows(fl) == []
    pipeline.run(2, run_id="three")  # cleared: computed again, through a new claim
    assert calls == [1, 2, 2] and len(_claim_rows(fl)) == 1

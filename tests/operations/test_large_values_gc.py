"""Deleting runs and gc with values stored out of line (large results in blobs): a blob goes
with the last record that refers to it, never before; over every store."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np

import flightlog
from flightlog import Flightlog
from flightlog.codec_blobs import blob_references

LARGE = np.arange(300_000, dtype=np.float64)  # 2.4 MB: above the threshold, out of line


def _large_task(fl: Flightlog) -> Any:
    @fl.task
    def large(scale: float) -> Any:
        return LARGE * scale

    return large


def _run_of(fl: Flightlog, before: set[str]) -> str:
    (run_id,) = {run["run_id"] for run in fl.list_runs()} - before
    return run_id


def _lone_run(fl: Flightlog, task: Any, scale: float) -> tuple[str, str]:
    """Call the task outside any workflow (a run of its own): its id and its result's blob."""
    before = {run["run_id"] for run in fl.list_runs()}
    task(scale)
    run_id = _run_of(fl, before)
    (step,) = fl.store.list_steps(run_id)
    (digest,) = blob_references(step.result)
    return run_id, digest


def test_delete_run_frees_the_blob_of_its_large_result(fl: Flightlog) -> None:
    large = _large_task(fl)
    gone, gone_blob = _lone_run(fl, large, 1.0)
    kept, kept_blob = _lone_run(fl, large, 2.0)
    assert gone_blob != kept_blob
    dry = fl.delete_run(gone, dry_run=True, blob_grace=0)
    assert (dry.blobs, dry.bytes) == (1, LARGE.nbytes)
    assert fl.store.blob_size(gone_blob) == LARGE.nbytes
    report = fl.delete_run(gone, blob_grace=0)
    assert (report.runs, report.blobs, report.bytes) == ([gone], 1, LARGE.nbytes)
    assert fl.store.blob_size(gone_blob) is None
    assert list(fl.store.read_blob_chunks(gone_blob)) == []
    assert gone_blob not in fl.store.referenced_blobs()
    assert np.array_equal(fl.get_output(kept), LARGE * 2.0)


def test_a_large_result_another_run_returned_too_stays(fl: Flightlog) -> None:
    large = _large_task(fl)
    first, blob = _lone_run(fl, large, 3.0)
    second, same = _lone_run(fl, large, 3.0)
    assert same == blob  # deduplicated: stored once
    assert fl.delete_run(first, dry_run=True, blob_grace=0).blobs == 0
    assert fl.delete_run(first, blob_grace=0).blobs == 0
    assert np.array_equal(fl.get_output(second), LARGE * 3.0)
    report = fl.delete_run(second, blob_grace=0)  # the last one to refer to it
    assert (report.blobs, report.bytes) == (1, LARGE.nbytes)
    assert fl.store.blob_size(blob) is None


def test_gc_never_takes_a_blob_that_a_kept_run_refers_to(fl: Flightlog) -> None:
    large = _large_task(fl)
    kept, kept_blob = _lone_run(fl, large, 4.0)
    loose = bytes(range(256)) * 5000  # a blob nothing refers to: gc takes it
    loose_blob = fl.store.put_blob(loose)

    @fl.workflow
    def fails() -> None:
        raise RuntimeError("on purpose")

    try:
        fails.run(run_id="failed")
    except RuntimeError:
        pass
    dry = fl.gc(status=["FAILED"], dry_run=True, blob_grace=0)
    assert dry.runs == ["failed"] and (dry.blobs, dry.bytes) == (1, len(loose))
    report = fl.gc(status=["FAILED"], blob_grace=0)
    assert report.runs == ["failed"] and (report.blobs, report.bytes) == (1, len(loose))
    assert fl.store.get_blob(loose_blob) is None
    assert fl.store.blob_size(kept_blob) == LARGE.nbytes
    assert kept_blob in fl.store.referenced_blobs()
    assert np.array_equal(fl.get_output(kept), LARGE * 4.0)
    assert np.array_equal(fl.get_step_result(kept, "large"), LARGE * 4.0)


def test_sqlite_deletes_the_pieces_of_a_large_result_with_it(tmp_path: Path) -> None:
    database = tmp_path / "store.db"
    with flightlog.open(f"sqlite:///{database}") as fl:
        run_id, blob = _lone_run(fl, _large_task(fl), 5.0)
        with closing(sqlite3.connect(database)) as connection:
            query = "SELECT count(*) FROM blob_chunks WHERE sha256 = ?"
            assert connection.execute(query, (blob,)).fetchone()[0] >= 1
            fl.delete_run(run_id, blob_grace=0)
            assert connection.execute(query, (blob,)).fetchone()[0] == 0
            assert connection.execute("SELECT count(*) FROM blobs").fetchone()[0] == 0

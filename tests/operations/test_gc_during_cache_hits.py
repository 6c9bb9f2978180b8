"""gc and a cache hit whose result is stored out of line (a large array in a blob), at the
same moment, on every store: the hit's blobs stay for the run that took them, or the hit
becomes a miss and the step executes; a run never ends up pointing at a deleted blob, and a
blob deleted while it is read is missing, never "damaged"."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import flightlog
from flightlog import Flightlog
from flightlog.codec_blobs import PIECE, blob_references
from flightlog.model import Origin, Status, Step

ROWS = 700  # 700 x 1024 float64: 5.7 MB, out of line, and more than one piece of a blob


def _pipeline(fl: Flightlog, computed: list[int]) -> Any:
    @fl.task(cache=True)
    def embed(n: int) -> Any:
        computed.append(n)
        return np.ones((n, 1024))

    @fl.workflow
    def train(n: int) -> float:
        return float(embed(n).sum())

    return train


def _blob_of(fl: Flightlog, run_id: str) -> str:
    step = fl.store.get_step(run_id, "embed")
    assert step is not None
    (digest,) = blob_references(step.result)
    return digest


@pytest.mark.timeout(120)
def test_a_run_deleted_while_a_hit_on_it_is_recorded_leaves_the_blob(
    fl: Flightlog, monkeypatch: pytest.MonkeyPatch
) -> None:
    computed: list[int] = []
    train = _pipeline(fl, computed)
    assert train.run(ROWS, run_id="A") == ROWS * 1024
    digest = _blob_of(fl, "A")
    store = fl.store
    finish = store.finish_step
    entered, release = threading.Event(), threading.Event()

    def held_finish(step: Step, *args: Any, **kwargs: Any) -> Any:
        if step.origin is Origin.CACHED and not entered.is_set():
            entered.set()
            assert release.wait(60)
        return finish(step, *args, **kwargs)

    monkeypatch.setattr(store, "finish_step", held_finish)
    outcome: dict[str, Any] = {}

    def run_b() -> None:
        try:
            outcome["B"] = train.run(ROWS, run_id="B")
        except BaseException as error:  # reported below
            outcome["B"] = error

    thread = threading.Thread(target=run_b)
    thread.start()
    try:
        assert entered.wait(60)
        report = fl.delete_run("A", blob_grace=0)
        assert report.runs == ["A"]
    finally:
        release.set()
        thread.join(60)
    assert outcome["B"] == ROWS * 1024
    assert computed == [ROWS]  # B was served from cache
    step = fl.store.get_step("B", "embed")
    assert step is not None and step.origin is Origin.CACHED
    assert digest in fl.store.referenced_blobs()
    assert fl.store.blob_size(digest) == ROWS * 1024 * 8
    assert np.array_equal(fl.get_step_result("B", "embed"), np.ones((ROWS, 1024)))
    # and a gc now (nothing live) still leaves what B refers to
    fl.gc(status=["FAILED"], blob_grace=0)
    assert np.array_equal(fl.get_step_result("B", "embed"), np.ones((ROWS, 1024)))


@pytest.mark.timeout(120)
def test_a_hit_whose_blob_was_deleted_after_the_lookup_executes(
    fl: Flightlog, monkeypatch: pytest.MonkeyPatch
) -> None:
    computed: list[int] = []
    train = _pipeline(fl, computed)
    train.run(ROWS, run_id="A")
    digest = _blob_of(fl, "A")
    store = fl.store
    lookup = store.find_cached
    victims = ["A"]

    def find_then_delete(task_id: str, execution_id: str) -> Step | None:
        hit = lookup(task_id, execution_id)
        while victims:  # as a gc in another process would, between lookup and read
            run_id = victims.pop()
            deleter = threading.Thread(
                target=fl.delete_run, args=(run_id,), kwargs={"blob_grace": 0}
            )
            deleter.start()
            deleter.join(60)
            assert store.get_run(run_id) is None and store.blob_size(digest) is None
        return hit

    monkeypatch.setattr(store, "find_cached", find_then_delete)
    assert train.run(ROWS, run_id="B") == ROWS * 1024
    assert computed == [ROWS, ROWS]  # a miss: the step executed again
    step = fl.store.get_step("B", "embed")
    assert step is not None and step.status is Status.SUCCESSFUL
    assert step.origin is not Origin.CACHED and step.source_run is None
    assert step.reason is not None and "deleted" in step.reason
    assert fl.store.blob_size(digest) == ROWS * 1024 * 8  # put again
    assert np.array_equal(fl.get_step_result("B", "embed"), np.ones((ROWS, 1024)))


@pytest.mark.timeout(120)
def test_a_hit_whose_blob_goes_while_it_is_read_is_a_miss(
    fl: Flightlog, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    computed: list[int] = []
    train = _pipeline(fl, computed)
    train.run(ROWS, run_id="A")
    digest = _blob_of(fl, "A")
    assert ROWS * 1024 * 8 > PIECE
    store = fl.store
    read = store.read_blob_chunks
    deleted: list[str] = []

    def read_then_delete(sha256: str) -> Any:
        for number, piece in enumerate(read(sha256)):
            yield piece
            if number == 0 and not deleted:  # gone after its first piece was read
                deleted.extend(store.delete_blobs([sha256], put_before=time.time() + 3600))

    monkeypatch.setattr(store, "read_blob_chunks", read_then_delete)
    assert train.run(ROWS, run_id="B") == ROWS * 1024
    assert deleted == [digest]
    step = fl.store.get_step("B", "embed")
    assert step is not None and step.status is Status.SUCCESSFUL
    if request.node.callspec.params["fl"] in ("memory", "files"):
        # they read what they opened (bytes held, a file open) whole: served from cache
        assert step.origin is Origin.CACHED and computed == [ROWS]
    else:  # the SQL stores find the rest gone: missing, a miss, and the step executes
        assert step.origin is not Origin.CACHED and computed == [ROWS, ROWS]
        assert np.array_equal(fl.get_step_result("B", "embed"), np.ones((ROWS, 1024)))


WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    import flightlog

    fl = flightlog.open(sys.argv[1])

    @fl.task(cache=True)
    def embed(n: int):
        return np.ones((n, 1024))

    @fl.workflow
    def train(index: int) -> float:
        return float(embed(700).sum())

    print("started", flush=True)
    for index in range(int(sys.argv[2])):
        assert train.run(index, run_id=f"run-{index}") == 700 * 1024
    print("done", flush=True)
    """
)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind", ["sqlite", "postgres", "files"])
def test_gc_in_a_loop_never_breaks_a_process_hitting_a_large_cached_result(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The audit's reproduction, smaller: another process serves every run's step from the
    cache (a 5.7 MB array out of line) while this one runs ``gc(keep_last=1)`` in a loop."""
    from ..store_urls import store_url

    url = store_url(kind, request, tmp_path)
    flightlog.open(url).close()
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writer = subprocess.Popen(
        [sys.executable, str(script), url, "40"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deleted = 0
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "started\n"
        with flightlog.open(url) as fl:
            while writer.poll() is None:
                deleted += len(fl.gc(keep_last=1, blob_grace=0).runs)
            assert writer.wait(60) == 0, writer.stderr.read() if writer.stderr else ""
            assert deleted > 0
            for run in fl.list_runs():
                assert fl.get_step_result(run["run_id"], "embed").shape == (700, 1024)
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.wait(30)
        for stream in (writer.stdout, writer.stderr):
            if stream is not None:
                stream.close()

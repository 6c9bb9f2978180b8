"""Live recording: a running step's log and metrics reach the store while it runs, and its
end record completes them without losing or doubling anything."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import flightlog
from flightlog import Flightlog
from flightlog.model import AttachmentRecord, MetricChunk
from flightlog.stores.memory import MemoryStore
from flightlog.testing import make_run


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.02)


def start(fl: Flightlog, body: Callable[[], Any]) -> tuple[str, threading.Thread]:
    @fl.task
    def work() -> Any:
        return body()

    @fl.workflow
    def pipeline() -> Any:
        return work()

    thread = threading.Thread(target=pipeline.run, kwargs={"run_id": "live-1"})
    thread.start()
    return "live-1", thread


def step_log(fl: Flightlog, run_id: str) -> str:
    steps = fl.steps(run_id) if fl.list_runs() else []
    return str(steps[0]["log"]) if steps else ""


def test_a_running_step_log_and_metrics_are_visible_before_it_ends(fl: Flightlog) -> None:
    release = threading.Event()

    def body() -> int:
        print("epoch 1 done")
        logging.getLogger("train").warning("half way")
        flightlog.track(loss=0.5, step=1)
        release.wait(30)
        print("all done")
        flightlog.track(loss=0.25, step=2)
        return 1

    run_id, thread = start(fl, body)
    try:
        wait_for(lambda: "half way" in step_log(fl, run_id), "the log of the running step")
        assert fl.steps(run_id)[0]["status"] == "RUNNING"
        assert step_log(fl, run_id) == "epoch 1 done\nWARNING train: half way\n"
        wait_for(lambda: len(fl.metrics(run_id)) == 1, "the metric of the running step")
        assert fl.metrics(run_id)[0]["value"] == 0.5
        assert fl.metrics(run_id)[0]["task_step"] == "work"
    finally:
        release.set()
        thread.join(30)
    (step,) = fl.steps(run_id)
    assert step["status"] == "SUCCESSFUL"
    assert step["log"] == "epoch 1 done\nWARNING train: half way\nall done\n"
    assert [(m["step"], m["value"]) for m in fl.metrics(run_id)] == [(1, 0.5), (2, 0.25)]


def test_many_points_tracked_while_flushing_are_written_once(fl: Flightlog) -> None:
    written = threading.Event()
    release = threading.Event()

    def body() -> int:
        step = 0
        while not release.is_set():
            step += 1
            flightlog.track(value=step, step=step)
            print(f"line {step}")
            if step % 200 == 0:
                time.sleep(0.001)
            if step == 1_000:
                written.set()
        return step

    run_id, thread = start(fl, body)
    try:
        assert written.wait(30)
        wait_for(lambda: len(fl.metrics(run_id)) > 0, "some points of the running step")
        wait_for(lambda: len(step_log(fl, run_id)) > 0, "some log of the running step")
    finally:
        release.set()
        thread.join(30)
    total = fl.get_output(run_id)
    steps = [m["step"] for m in fl.metrics(run_id)]
    assert steps == list(range(1, total + 1))
    assert step_log(fl, run_id) == "".join(f"line {n}\n" for n in range(1, total + 1))


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.live_writes = 0

    def append_step_log(self, run_id: str, position: int, text: str) -> bool:
        self.live_writes += 1
        return super().append_step_log(run_id, position, text)

    def record_tracked(
        self,
        run_id: str,
        *,
        metrics: Any = (),
        attachments: tuple[AttachmentRecord, ...] = (),
    ) -> None:
        self.live_writes += 1
        super().record_tracked(run_id, metrics=metrics, attachments=attachments)


def test_a_short_step_writes_nothing_while_it_runs() -> None:
    store = CountingStore()
    fl = Flightlog(store)

    @fl.task
    def quick(n: int) -> int:
        print("quick", n)
        flightlog.track(n=n)
        return n

    @fl.workflow
    def pipeline() -> int:
        return sum(quick(n) for n in range(20))

    assert pipeline() == 190
    assert store.live_writes == 0
    run_id = fl.list_runs()[0]["run_id"]
    assert len(fl.metrics(run_id)) == 20


def test_the_end_record_gets_only_the_points_not_written_yet() -> None:
    from flightlog.runtime.live import end_chunks, flush_tracked
    from flightlog.runtime.state import RunState
    from flightlog.runtime.tracked import Tracked

    store = MemoryStore()
    store.create_run(make_run("r"))
    tracked = Tracked(0, "work")
    tracked.points("a").extend([(1, 1.0, 0.0), (2, 2.0, 0.0)])
    state = RunState(store=store, run_id="r")
    flush_tracked(state, tracked)
    tracked.points("a").append((3, 3.0, 0.0))
    tracked.points("b").append((1, 9.0, 0.0))
    rest = end_chunks(tracked)
    assert rest is not None
    assert [(c.name, list(c.steps)) for c in rest] == [("a", [3]), ("b", [1])]
    flush_tracked(state, tracked)  # closed: the end record takes everything left
    chunks: list[MetricChunk] = store.list_metrics("r")
    assert [(c.name, list(c.steps)) for c in chunks] == [("a", [1, 2])]

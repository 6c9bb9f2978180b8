"""flightlog.track(): values recorded against steps, kept through failures, read back."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import math
import threading

import numpy
import pydantic
import pytest

import flightlog
from flightlog import Flightlog
from flightlog.runtime.tracked import CHUNK_POINTS


class Settings(pydantic.BaseModel):
    learning_rate: float = pydantic.Field(alias="learningRate")
    layers: list[int]


@dataclasses.dataclass
class Point:
    x: int
    label: str


def points(fl: Flightlog, run_id: str, name: str | None = None) -> list[tuple[object, ...]]:
    return [(m["name"], m["step"], m["value"], m["task_step"]) for m in fl.metrics(run_id, name)]


def test_series_against_the_step_that_recorded_them(fl: Flightlog) -> None:
    @fl.task
    def train(epochs: int) -> int:
        for epoch in range(1, epochs + 1):
            flightlog.track(loss=1 / epoch, step=epoch)
        flightlog.track(accuracy=0.9)
        return epochs

    @fl.workflow
    def pipeline() -> int:
        return train(3) + train(1)

    pipeline.run(run_id="r")
    assert points(fl, "r") == [
        ("accuracy", 0, 0.9, "train"),
        ("accuracy", 0, 0.9, "train_1"),
        ("loss", 1, 1.0, "train"),
        ("loss", 1, 1.0, "train_1"),
        ("loss", 2, 0.5, "train"),
        ("loss", 3, 1 / 3, "train"),
    ]
    first = fl.metrics("r", "loss")[0]
    assert set(first) == {"name", "step", "value", "task_step", "time"}
    run = fl.get_metadata("r")
    assert run["stats"]["start_time"] <= first["time"] <= run["stats"]["end_time"]
    assert fl.compare("r") == {"r": {"accuracy": 0.9, "loss": 1 / 3}}


def test_every_kind_of_value_round_trips(fl: Flightlog) -> None:
    @fl.task
    def measure() -> None:
        flightlog.track(
            count=3,
            ratio=0.25,
            flag=True,
            nothing=None,
            note="hello",
            table={"a": [1, 2.5, None], "b": {"c": "d"}},
            pair=(1, "x"),
            settings=Settings(learningRate=0.1, layers=[2, 3]),
            point=Point(4, "p"),
            small=numpy.float32(0.5),
            big=numpy.int64(7),
            yes=numpy.bool_(True),
            huge=10**30,
            missing=math.nan,
        )

    @fl.workflow
    def pipeline() -> None:
        measure()

    pipeline.run(run_id="r")
    values = {m["name"]: m["value"] for m in fl.metrics("r")}
    assert values["count"] == 3 and type(values["count"]) is int
    assert values["ratio"] == 0.25 and values["flag"] is True and values["nothing"] is None
    assert values["note"] == "hello"
    assert values["table"] == {"a": [1, 2.5, None], "b": {"c": "d"}}
    assert values["pair"] == [1, "x"]
    assert values["settings"] == {"learningRate": 0.1, "layers": [2, 3]}
    assert values["point"] == {"x": 4, "label": "p"}
    assert values["small"] == 0.5 and type(values["small"]) is float
    assert values["big"] == 7 and type(values["big"]) is int
    assert values["yes"] is True
    assert values["huge"] == 10**30
    assert math.isnan(values["missing"])


def test_a_tracked_dict_is_copied_when_tracked(fl: Flightlog) -> None:
    @fl.workflow
    def pipeline() -> None:
        state = {"seen": [1]}
        flightlog.track(state=state)
        state["seen"].append(2)

    pipeline.run(run_id="r")
    assert fl.metrics("r")[0]["value"] == {"seen": [1]}


def test_outside_any_run_is_a_clear_error() -> None:
    with pytest.raises(flightlog.OutsideRunError, match=r"track\(\) was called outside any run"):
        flightlog.track(loss=1.0)
    with pytest.raises(flightlog.OutsideRunError, match=r"attach\(\)"):
        flightlog.attach("x.txt", data=b"x")


def test_bad_value_names_the_key_and_loses_nothing(fl: Flightlog) -> None:
    @fl.task
    def train() -> None:
        flightlog.track(loss=0.5, step=1)
        try:
            flightlog.track(fine=1, config={"when": object()})
        except flightlog.SerializationError as error:
            assert "metric 'config'" in str(error) and "value['when']" in str(error)
        else:  # pragma: no cover - the test fails below
            raise AssertionError("no error")
        flightlog.track(loss=0.4, step=2)
        flightlog.track(callback=print)

    @fl.workflow
    def pipeline() -> None:
        train()

    with pytest.raises(flightlog.SerializationError, match="metric 'callback'"):
        pipeline.run(run_id="r")
    assert points(fl, "r") == [("loss", 1, 0.5, "train"), ("loss", 2, 0.4, "train")]
    assert fl.get_metadata("r", name="train")["status"] == "FAILED"


@pytest.mark.parametrize("step", [-1, 1.5, True, "2", 2**63, None])
def test_bad_step_is_refused(fl: Flightlog, step: object) -> None:
    @fl.workflow
    def pipeline() -> None:
        flightlog.track(loss=1.0, step=step)  # type: ignore[arg-type]

    with pytest.raises(flightlog.InvalidInputError, match="step must be an integer"):
        pipeline()


def test_failing_step_and_retries_keep_their_points(fl: Flightlog) -> None:
    attempts: list[int] = []

    @fl.task(retries=1)
    def flaky() -> None:
        attempts.append(1)
        flightlog.track(attempt=len(attempts), step=len(attempts))
        raise ValueError("always")

    @fl.workflow
    def pipeline() -> None:
        flaky()

    with pytest.raises(ValueError):
        pipeline.run(run_id="r")
    assert points(fl, "r") == [("attempt", 1, 1, "flaky"), ("attempt", 2, 2, "flaky")]


def test_the_workflow_body_tracks_for_the_run(fl: Flightlog) -> None:
    @fl.task
    def work() -> None:
        flightlog.track(inner=1)

    @fl.workflow
    def pipeline() -> None:
        flightlog.track(phase="start")
        work()
        flightlog.track(phase="end", step=1)

    pipeline.run(run_id="r")
    assert points(fl, "r") == [
        ("inner", 0, 1, "work"),
        ("phase", 0, "start", None),
        ("phase", 1, "end", None),
    ]

    @fl.workflow
    def stepless() -> None:
        flightlog.track(only=1)
        raise KeyError("stop")

    with pytest.raises(KeyError):
        stepless.run(run_id="s")
    assert points(fl, "s") == [("only", 0, 1, None)]


def test_nested_threads_and_async_steps(fl: Flightlog) -> None:
    @fl.task
    def inner() -> None:
        flightlog.track(depth=2)

    @fl.task
    def outer() -> None:
        flightlog.track(depth=1)
        inner()

        def worker(index: int) -> None:
            for step in range(100):
                flightlog.track(step=step, **{f"thread{index}": step})

        threads = [
            threading.Thread(target=contextvars.copy_context().run, args=(worker, n))
            for n in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    @fl.task
    async def later() -> None:
        await asyncio.sleep(0)
        flightlog.track(waited=True)

    @fl.workflow
    async def pipeline() -> None:
        outer()
        await later()

    asyncio.run(pipeline.run(run_id="r"))
    by_name = {}
    for metric in fl.metrics("r"):
        by_name.setdefault(metric["name"], []).append((metric["step"], metric["task_step"]))
    assert by_name["depth"] == [(0, "inner"), (0, "outer")]  # inner's end record came first
    for index in range(4):
        assert by_name[f"thread{index}"] == [(step, "outer") for step in range(100)]
    assert by_name["waited"] == [(0, "later")]


def test_long_series_are_stored_in_chunks_in_order(fl: Flightlog) -> None:
    count = 2 * CHUNK_POINTS + 17

    @fl.task
    def train() -> None:
        for step in range(count):
            flightlog.track(loss=step / count, step=step)

    @fl.workflow
    def pipeline() -> None:
        train()

    pipeline.run(run_id="r")
    chunks = fl.store.list_metrics("r", "loss")
    assert [len(chunk.values) for chunk in chunks] == [CHUNK_POINTS, CHUNK_POINTS, 17]
    series = fl.metrics("r", "loss")
    assert [metric["step"] for metric in series] == list(range(count))
    assert series[-1]["value"] == (count - 1) / count


def test_steps_out_of_order_are_read_back_by_step(fl: Flightlog) -> None:
    @fl.workflow
    def pipeline() -> None:
        for step in (3, 1, 2, 1):
            flightlog.track(score=step * 10 + len(str(step)), step=step)

    pipeline.run(run_id="r")
    assert [(m["step"], m["value"]) for m in fl.metrics("r")] == [
        (1, 11),
        (1, 11),
        (2, 21),
        (3, 31),
    ]


def test_resume_keeps_the_points_of_replayed_steps_once(fl: Flightlog) -> None:
    fail = [True]

    @fl.task
    def first() -> int:
        flightlog.track(first=1)
        return 1

    @fl.task
    def second() -> int:
        flightlog.track(second=len(fail))
        if fail:
            fail.pop()
            raise RuntimeError("once")
        return 2

    @fl.workflow
    def pipeline() -> int:
        return first() + second()

    with pytest.raises(RuntimeError):
        pipeline.run(run_id="r")
    assert fl.resume("r") == 3
    assert points(fl, "r") == [("first", 0, 1, "first"), ("second", 0, 1, "second"),
                               ("second", 0, 0, "second")]  # fmt: skip
    assert fl.compare("r") == {"r": {"first": 1, "second": 0}}


def test_lone_tasks_and_tasks_with_a_timeout_track_too(fl: Flightlog) -> None:
    @fl.task(timeout=30)
    def slow() -> str:
        flightlog.track(progress=1.0)
        return flightlog.track.__name__

    @fl.workflow
    def pipeline() -> None:
        slow()

    pipeline.run(run_id="r")
    assert points(fl, "r") == [("progress", 0, 1.0, "slow")]

    @fl.task
    def alone() -> None:
        flightlog.track(single=True)

    alone()
    (run,) = fl.list_runs(workflow="alone")
    assert points(fl, run["run_id"]) == [("single", 0, True, "alone")]

"""Runs found by the values of their arguments, by parameter name: passed by position or by
keyword, left at a default, gathered by ``*args`` or ``**kwargs``; every store."""

from __future__ import annotations

import dataclasses
import inspect
import io
import json
import threading
from typing import Any

import pytest

import flightlog
from flightlog import cli
from flightlog.questions import RunQuestions
from flightlog.runtime.task import parameter_defaults


@dataclasses.dataclass
class Point:
    x: int


ORIGIN = Point(1)


def _record(fl: flightlog.Flightlog) -> None:
    @fl.workflow
    def w(lr: Any, n: Any = 5, *rest: Any, where: Any = ORIGIN, **kw: Any) -> Any:
        return lr

    w.run(0.1, run_id="plain")  # n left at its default
    w.run(0.2, 6, 8, extra=3, run_id="rest")
    w.run(1, n=5.0, extra=[1, 2], flag=True, run_id="int-lr")
    w.run(1.0, 5, 7, 8, options={"a": 1.0, "b": "é"}, flag=1, run_id="float-lr")
    w.run(2.0, (7, 8), extra=3.5, run_id="tuple-n")


def _ids(fl: flightlog.Flightlog, **params: Any) -> list[str]:
    return [str(run["run_id"]) for run in fl.list_runs(params=params)]


def test_parameters_are_found_by_name(fl: flightlog.Flightlog) -> None:
    _record(fl)
    assert _ids(fl, n=5) == ["float-lr", "int-lr", "plain"]  # a default counts
    assert _ids(fl, n=5.0) == ["float-lr", "int-lr", "plain"]
    assert _ids(fl, n=6) == ["rest"]
    assert _ids(fl, extra=3) == ["rest"]  # **kwargs by their own names
    assert _ids(fl, extra=3.5) == ["tuple-n"]
    assert _ids(fl, extra=[1, 2]) == ["int-lr"]
    assert _ids(fl, extra=(1, 2)) == ["int-lr"]
    assert _ids(fl, rest=[8]) == ["rest"]  # *args as a list (or a tuple)
    assert _ids(fl, rest=(7, 8)) == ["float-lr"]
    assert _ids(fl, rest=[]) == []  # no *args given: none recorded, as for **kwargs
    assert _ids(fl, n=[7, 8]) == ["tuple-n"]  # a tuple argument, found by a list
    assert _ids(fl, lr=1.0) == ["float-lr", "int-lr"]  # 1 == 1.0
    assert _ids(fl, lr=1) == ["float-lr", "int-lr"]
    assert _ids(fl, lr=2) == ["tuple-n"]
    assert _ids(fl, flag=True) == ["int-lr"]  # a bool is not a number
    assert _ids(fl, flag=1) == ["float-lr"]
    assert _ids(fl, options={"b": "é", "a": 1}) == ["float-lr"]  # keys in any order
    assert _ids(fl, options={"a": 1}) == []
    assert _ids(fl, lr=0.1, n=5) == ["plain"]
    assert _ids(fl, lr=0.1, n=6) == []
    assert _ids(fl, kw={"extra": 3}) == []  # **kwargs are not a parameter of their own
    assert len(_ids(fl, where=Point(1))) == 5  # a dataclass, encoded as the codec does
    assert _ids(fl, where=Point(2)) == []
    limited = fl.list_runs(params={"n": 5}, limit=1, offset=1)
    assert [run["run_id"] for run in limited] == ["int-lr"]


def test_frames_and_metadata_agree(fl: flightlog.Flightlog) -> None:
    pytest.importorskip("pandas")
    _record(fl)
    frame = fl.runs_frame().set_index("run_id")
    assert frame.loc["plain", "param.n"] == 5
    assert frame.loc["rest", "param.extra"] == 3
    assert frame.loc["rest", "param.rest"] == "[8]"  # a list cell as JSON text
    assert "param.kw" not in frame.columns
    # what a run was called with is shown as it was called
    assert fl.get_metadata("plain")["arguments"] == {"args": [0.1], "kwargs": {}}
    assert fl.get_metadata("rest")["arguments"] == {"args": [0.2, 6, 8], "kwargs": {"extra": 3}}


@pytest.mark.parametrize(
    ("params", "candidates"),
    [
        ({"lr": 1.0}, {"int-lr", "float-lr"}),  # 1 or 1.0 as a value, not 0.1
        ({"lr": [0.3]}, set()),
        ({"options": {"a": 2.0}}, set()),
        ({"options": {"a": 1}}, {"float-lr"}),
        ({"epochs": 3}, set()),  # 3 is a value (of extra), not of a parameter epochs
        ({"extra": 3}, {"rest"}),  # under its own name: not 3.5, nor rest's other 3s
        # n by name: rest passed 6; a tuple (which the codec tags, as it tags numbers that
        # may equal 6) is left for the query API to decode
        ({"n": 6}, {"rest", "tuple-n"}),
        # 5 left at its default (plain), 5.0, 5; the tuple again; rest passed 6
        ({"n": 5}, {"plain", "int-lr", "float-lr", "tuple-n"}),
    ],
)
def test_the_store_narrows_every_kind_of_value(
    fl: flightlog.Flightlog, params: dict[str, Any], candidates: set[str]
) -> None:
    """Whole floats, lists and dicts are looked for in the store, not by reading every run:
    the store gives only the runs whose value under that parameter's name may be it."""
    _record(fl)
    selection, _ = RunQuestions(fl._queries).selection(params=params)
    assert {run.run_id for run in fl.store.select_runs(selection)} == candidates


def test_a_metric_filter_asks_the_store_for_runs_with_that_metric(
    fl: flightlog.Flightlog,
) -> None:
    @fl.workflow
    def train(lr: float) -> float:
        if lr > 0:
            flightlog.track(loss=lr)
        return lr

    train.run(0.1, run_id="a")
    train.run(-1.0, run_id="none")
    train.run(0.5, run_id="b")
    metric = ("loss", "<", 0.3)
    selection, _ = RunQuestions(fl._queries).selection(metric=metric)
    assert [run.run_id for run in fl.store.select_runs(selection)] == ["a"]  # compared there
    by_name = RunQuestions(fl._queries).selection(metric=("loss", "==", "text"))[0]
    assert [run.run_id for run in fl.store.select_runs(by_name)] == ["b", "a"]  # by name only
    assert [run["run_id"] for run in fl.list_runs(metric=metric)] == ["a"]
    assert [run["run_id"] for run in fl.list_runs(metric=("loss", ">", 0), limit=1)] == ["b"]
    assert fl.list_runs(metric=("accuracy", ">", 0)) == []


def test_a_metric_filter_compares_last_values_that_are_not_plain_numbers(
    fl: flightlog.Flightlog,
) -> None:
    """Texts, bools, NaN and integers beyond a float's: the store gives such runs, the query
    API compares their values."""

    @fl.workflow
    def note(value: Any) -> None:
        flightlog.track(last=value)

    for run_id, value in [
        ("text", "high"),
        ("flag", True),
        ("nan", float("nan")),
        ("huge", 2**60 + 1),
        ("half", 0.5),
    ]:
        note.run(value, run_id=run_id)

    def ids(symbol: str, bound: Any) -> list[str]:
        return [run["run_id"] for run in fl.list_runs(metric=("last", symbol, bound))]

    assert ids("<", 1) == ["half"]  # a text is not less than 1; NaN is not
    assert ids("==", 1) == ["flag"]  # True == 1, as Python compares
    assert ids("!=", 0.5) == ["huge", "nan", "flag", "text"]
    assert ids(">", 2**60) == ["huge"]
    assert ids("==", 2**60 + 1) == ["huge"]  # beyond a float's integers: compared in Python
    assert ids("==", "high") == ["text"]


def test_defaults_that_cannot_be_stored_plainly_are_left_out() -> None:
    def f(a: int, b: Any = threading.Lock(), c: str = "x" * 5000, d: float = 0.5) -> None:  # noqa: B008
        del a, b, c, d

    assert parameter_defaults(inspect.signature(f)) == {"d": 0.5}


def test_the_command_line_finds_runs_by_parameter_name(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    with flightlog.open(url) as fl:
        _record(fl)
    out = io.StringIO()
    code = cli.main(
        ["runs", "--url", url, "--json", "--param", "n=5", "--param", "lr=0.1"], out=out
    )
    assert code == 0
    assert [run["run_id"] for run in json.loads(out.getvalue())] == ["plain"]
    out = io.StringIO()
    assert cli.main(["runs", "--url", url, "--json", "--param", "extra=3"], out=out) == 0
    assert [run["run_id"] for run in json.loads(out.getvalue())] == ["rest"]


def test_a_metric_filter_over_many_runs(fl: flightlog.Flightlog) -> None:
    """More runs than one read of the store takes: every one is judged by its last value."""

    @fl.workflow
    def fit(number: int) -> int:
        flightlog.track(loss=1.0)
        flightlog.track(loss=number / 1000)  # the last value counts
        return number

    for number in range(0, 1200, 2):
        fit.run(number, run_id=f"r{number:04d}")
    low = [run["run_id"] for run in fl.list_runs(metric=("loss", "<", 0.1))]
    assert low == [f"r{number:04d}" for number in range(98, -1, -2)]
    high = fl.list_runs(metric=("loss", ">=", 1.0), limit=3, offset=2)
    assert [run["run_id"] for run in high] == ["r1194", "r1192", "r1190"]


def test_a_run_whose_arguments_are_in_the_blobs_is_found(fl: flightlog.Flightlog) -> None:
    @fl.workflow
    def load(lr: float, text: str) -> float:
        return lr

    load.run(0.3, "x" * (2 << 20), run_id="big")  # over the blob threshold: out of line
    load.run(0.2, "small", run_id="small")
    assert [run["run_id"] for run in fl.list_runs(params={"lr": 0.3})] == ["big"]
    assert [run["run_id"] for run in fl.list_runs(params={"lr": 0.2})] == ["small"]

"""Reading tracked metrics: series, comparisons across runs, pandas frames, the CLI."""

from __future__ import annotations

import io
import json
import sys

import pandas
import pytest

import flightlog
from flightlog import Flightlog, cli


def record_two_runs(fl: Flightlog) -> None:
    @fl.task
    def train(rate: float) -> None:
        for epoch in range(3):
            flightlog.track(loss=rate * (3 - epoch), step=epoch)
        flightlog.track(loss=99.0, step=1)  # a late value at an earlier step
        flightlog.track(model="small" if rate < 1 else "large")

    @fl.workflow
    def pipeline(rate: float) -> None:
        train(rate)
        if rate < 1:
            flightlog.track(extra=True)

    pipeline.run(0.5, run_id="a")
    pipeline.run(2.0, run_id="b")


def test_compare_gives_the_value_at_the_highest_step(fl: Flightlog) -> None:
    record_two_runs(fl)
    assert fl.compare(["a", "b"]) == {
        "a": {"extra": True, "loss": 0.5, "model": "small"},
        "b": {"loss": 2.0, "model": "large"},
    }
    assert fl.compare(["a", "b"], metrics=["loss"]) == {"a": {"loss": 0.5}, "b": {"loss": 2.0}}
    assert fl.compare("b", metrics="extra") == {"b": {}}
    with pytest.raises(flightlog.NotFoundError, match="'zzz'"):
        fl.compare(["a", "zzz"])
    with pytest.raises(flightlog.InvalidInputError, match="metrics must be"):
        fl.compare(["a"], metrics=[""])


def test_metrics_ordered_by_name_then_step(fl: Flightlog) -> None:
    record_two_runs(fl)
    assert [(m["name"], m["step"], m["value"]) for m in fl.metrics("a", "loss")] == [
        ("loss", 0, 1.5),
        ("loss", 1, 1.0),
        ("loss", 1, 99.0),
        ("loss", 2, 0.5),
    ]
    assert fl.metrics("a", "nothing") == []
    with pytest.raises(flightlog.NotFoundError):
        fl.metrics("zzz")


def test_frames(fl: Flightlog) -> None:
    record_two_runs(fl)
    frame = fl.metrics_frame(["a", "b"], name="loss")
    assert list(frame.columns) == ["run_id", "name", "step", "value", "task_step", "time"]
    assert len(frame) == 8
    assert frame[frame.run_id == "b"]["value"].tolist() == [6.0, 4.0, 99.0, 2.0]
    compared = fl.compare_frame(["a", "b"])
    assert compared.index.name == "run_id"
    assert compared.loc["a", "loss"] == 0.5 and compared.loc["b", "model"] == "large"
    assert pandas.isna(compared.loc["b", "extra"])


def test_frames_need_pandas(fl: Flightlog, monkeypatch: pytest.MonkeyPatch) -> None:
    record_two_runs(fl)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(flightlog.MissingDependencyError, match=r"flightlog\[pandas\]"):
        fl.metrics_frame("a")
    with pytest.raises(ImportError):
        fl.compare_frame("a")


def run_cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    return cli.main(list(args), out=out), out.getvalue()


def test_metrics_and_compare_commands(sqlite_url: str) -> None:
    fl = flightlog.open(sqlite_url)
    record_two_runs(fl)
    fl.close()
    code, text = run_cli("metrics", "a", "--url", sqlite_url, "--name", "loss")
    assert code == 0
    header, *rows = text.splitlines()
    assert header.split() == ["NAME", "STEP", "VALUE", "TASK", "STEP", "TIME"]
    assert [row.split()[:4] for row in rows] == [
        ["loss", "0", "1.5", "train"],
        ["loss", "1", "1.0", "train"],
        ["loss", "1", "99.0", "train"],
        ["loss", "2", "0.5", "train"],
    ]
    code, text = run_cli("metrics", "a", "--url", sqlite_url, "--json")
    assert {point["name"] for point in json.loads(text)} == {"extra", "loss", "model"}
    code, text = run_cli("compare", "a", "b", "--url", sqlite_url)
    assert text.splitlines() == [
        "RUN ID  extra  loss  model",
        "a       true   0.5   small",
        "b       -      2.0   large",
    ]
    code, text = run_cli("compare", "a", "b", "--url", sqlite_url, "--metric", "loss", "--json")
    assert json.loads(text) == {"a": {"loss": 0.5}, "b": {"loss": 2.0}}


def test_show_says_what_each_step_tracked(sqlite_url: str) -> None:
    fl = flightlog.open(sqlite_url)
    record_two_runs(fl)

    @fl.workflow
    def saving() -> None:
        flightlog.attach("notes.txt", data=b"hello")

    saving.run(run_id="c")
    fl.close()
    code, text = run_cli("show", "a", "--url", sqlite_url)
    assert code == 0
    assert "  metrics extra=true\n" in text
    assert "    metrics loss=0.5 (4 points)  model=small\n" in text
    code, text = run_cli("show", "c", "--url", sqlite_url)
    assert "  attached notes.txt (5 bytes)\n" in text

"""Runs, steps and metrics as pandas and polars tables, and as Parquet files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest

import flightlog


def _record(fl: flightlog.Flightlog) -> None:
    @fl.task
    def square(x: int) -> int:
        flightlog.track(value=x * x)
        return x * x

    @fl.workflow(metadata={"team": "nlp"})
    def flow(count: int, label: str = "x") -> int:
        return sum(square(index) for index in range(count))

    flow.run(3, run_id="three")
    flow.run(2, label="y", run_id="two")


def test_runs_frame_in_pandas_and_polars(fl: flightlog.Flightlog) -> None:
    _record(fl)
    frame = fl.runs_frame()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["run_id"]) == ["two", "three"]
    assert list(frame["status"]) == ["SUCCESSFUL", "SUCCESSFUL"]
    assert list(frame["step_count"]) == [2, 3]
    assert list(frame["param.count"]) == [2, 3]
    assert list(frame["param.label"]) == ["y", "x"]  # the default, where the call left it
    assert list(frame["metadata.team"]) == ["nlp", "nlp"]
    assert frame["created_time"].dt.tz is not None
    only = fl.runs_frame(params={"count": 3}, library="polars")
    assert isinstance(only, pl.DataFrame)
    assert only["run_id"].to_list() == ["three"]
    assert isinstance(only["start_time"][0], dt.datetime)


def test_steps_and_metrics_frames(fl: flightlog.Flightlog) -> None:
    _record(fl)
    steps = fl.steps_frame("three")
    assert list(steps["name"]) == ["square", "square_1", "square_2"]
    assert list(steps["position"]) == [0, 1, 2]
    assert (steps["duration"] >= 0).all()
    polars_steps = fl.steps_frame("three", library="polars")
    assert polars_steps["name"].to_list() == ["square", "square_1", "square_2"]
    metrics = fl.metrics_frame(["three", "two"], library="polars")
    assert metrics.filter(pl.col("run_id") == "three")["value"].to_list() == [0, 1, 4]
    assert list(fl.metrics_frame("two")["value"]) == [0, 1]
    with pytest.raises(flightlog.InvalidInputError, match="library"):
        fl.steps_frame("three", library="excel")


def test_export_parquet(fl: flightlog.Flightlog, tmp_path: Path) -> None:
    _record(fl)
    report = fl.export_parquet(tmp_path / "out")
    assert (report["runs"], report["steps"], report["metrics"]) == (2, 5, 5)
    runs = pq.read_table(tmp_path / "out" / "runs.parquet").to_pandas()
    assert list(runs["run_id"]) == ["two", "three"]
    steps = pq.read_table(tmp_path / "out" / "steps.parquet").to_pandas()
    assert sorted(steps["run_id"]) == ["three"] * 3 + ["two"] * 2
    metrics = pl.read_parquet(tmp_path / "out" / "metrics.parquet")
    assert sorted(metrics["value"].to_list()) == [0.0, 0.0, 1.0, 1.0, 4.0]
    assert metrics.schema["time"] == pl.Datetime("us", "UTC")
    one = fl.export_parquet(tmp_path / "one", runs="two")
    assert (one["runs"], one["steps"]) == (1, 2)
    assert sorted(path.name for path in (tmp_path / "one").iterdir()) == [
        "metrics.parquet",
        "runs.parquet",
        "steps.parquet",
    ]
    with pytest.raises(flightlog.NotFoundError):
        fl.export_parquet(tmp_path / "none", runs=["nope"])

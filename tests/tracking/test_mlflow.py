"""MLflowTracker and `flightlog export mlflow`, against a real local MLflow store, read back
through MLflow's own client."""

from __future__ import annotations

import dataclasses
import io
import sys
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

import flightlog
from flightlog import Flightlog, cli
from flightlog.trackers import MLflowTracker


@pytest.fixture
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    # MLflow 3 keeps its file store behind this switch (its SQLite store needs SQLAlchemy and
    # seconds of migrations per new database).
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return (tmp_path / "mlruns").as_uri()


def mlflow_run(uri: str, experiment: str, run_id: str) -> Any:
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no MLflow experiment {experiment!r}"
    runs = client.search_runs(
        [found.experiment_id], filter_string=f"tags.`flightlog.run_id` = '{run_id}'"
    )
    assert len(runs) == 1, runs
    return runs[0]


def history(uri: str, mlflow_run_id: str, key: str) -> list[tuple[int, float]]:
    client = MlflowClient(tracking_uri=uri)
    points = client.get_metric_history(mlflow_run_id, key)
    return sorted((point.step, point.value) for point in points)


def record(fl: Flightlog, *, fail: bool = False) -> None:
    @fl.task
    def train(epochs: int) -> float:
        for epoch in range(1, epochs + 1):
            flightlog.track(loss=1 / epoch, step=epoch)
        flightlog.track(
            accuracy=0.9, count=7, model="small", layers=[2, 3], tuned=True, note="a", mode="x"
        )
        flightlog.track(mode="y", step=4)
        flightlog.attach("weights.bin", data=b"w" * 10)
        if fail:
            raise RuntimeError("diverged")
        return 0.9

    @fl.workflow
    def pipeline(epochs: int) -> float:
        flightlog.track(stage="start")
        return train(epochs)

    if fail:
        with pytest.raises(RuntimeError):
            pipeline.run(3, run_id="broken", tag="experiment-1")
    else:
        pipeline.run(3, run_id="good", tag="experiment-1")


def test_a_live_run_becomes_an_mlflow_run(tracking_uri: str, sqlite_url: str) -> None:
    fl = flightlog.open(sqlite_url, trackers=[MLflowTracker(tracking_uri=tracking_uri)])
    record(fl)
    run = mlflow_run(tracking_uri, "experiment-1", "good")
    assert run.info.run_name == "good" and run.info.status == "FINISHED"
    assert run.data.tags["flightlog.workflow"] == "pipeline"
    assert history(tracking_uri, run.info.run_id, "loss") == [(1, 1.0), (2, 0.5), (3, 1 / 3)]
    assert history(tracking_uri, run.info.run_id, "count") == [(0, 7.0)]
    assert run.data.params == {
        "epochs": "3",  # the workflow's argument
        "model": "small",
        "layers": "[2,3]",
        "tuned": "true",
        "note": "a",
        "mode": "x",
        "mode_4": "y",
        "stage": "start",
    }
    artifacts = MlflowClient(tracking_uri=tracking_uri).list_artifacts(run.info.run_id, "train")
    assert [artifact.path for artifact in artifacts] == ["train/weights.bin"]
    assert fl.run_log("good")["run_config"]["trackers"] == [
        {
            "type": "flightlog.tracking.mlflow.MLflowTracker",
            "tracking_uri": tracking_uri,
            "experiment": None,
        }
    ]
    fl.close()


def test_failed_runs_and_the_experiment_choice(tracking_uri: str) -> None:
    fl = flightlog.open(
        "memory://", trackers=[MLflowTracker(tracking_uri=tracking_uri, experiment="mine")]
    )
    record(fl, fail=True)
    run = mlflow_run(tracking_uri, "mine", "broken")
    assert run.info.status == "FAILED"
    assert history(tracking_uri, run.info.run_id, "loss")[-1] == (3, 1 / 3)

    fl = flightlog.open("memory://", trackers=[MLflowTracker(tracking_uri=tracking_uri)])

    @fl.workflow
    def untagged() -> None:
        flightlog.track(x=1)

    untagged.run(run_id="plain")
    assert mlflow_run(tracking_uri, "untagged", "plain").info.status == "FINISHED"


def test_parameters_are_write_once(tracking_uri: str) -> None:
    fl = flightlog.open("memory://", trackers=[MLflowTracker(tracking_uri=tracking_uri)])

    @fl.task
    def choose(model: str) -> None:
        flightlog.track(model=model)

    @fl.workflow
    def pipeline() -> None:
        choose("small")
        choose("small")
        choose("large")

    with pytest.warns(flightlog.TrackerWarning, match="write-once") as caught:
        pipeline.run(run_id="r")
    assert len(caught) == 1
    run = mlflow_run(tracking_uri, "pipeline", "r")
    assert run.data.params["model"] == "small"
    assert run.data.tags["model"] == "large"


def test_a_resumed_run_continues_its_mlflow_run(tracking_uri: str, sqlite_url: str) -> None:
    fl = flightlog.open(sqlite_url, trackers=[MLflowTracker(tracking_uri=tracking_uri)])
    fail = [True]

    @fl.task
    def epoch(index: int) -> None:
        flightlog.track(loss=1 / (index + 1), step=index)
        if index == 1 and fail:
            fail.pop()
            raise RuntimeError("interrupted")

    @fl.workflow
    def pipeline() -> None:
        for index in range(3):
            epoch(index)

    with pytest.raises(RuntimeError):
        pipeline.run(run_id="r")
    assert mlflow_run(tracking_uri, "pipeline", "r").info.status == "FAILED"
    fl.resume("r")
    run = mlflow_run(tracking_uri, "pipeline", "r")
    assert run.info.status == "FINISHED"
    assert history(tracking_uri, run.info.run_id, "loss") == [
        (0, 1.0),
        (1, 0.5),
        (1, 0.5),  # the failed attempt's point, and the re-executed step's
        (2, 1 / 3),
    ]
    fl.close()


@dataclasses.dataclass
class Config:
    layers: list[int]
    optimizer: dict[str, Any]


def test_the_workflows_arguments_are_mlflow_parameters(tracking_uri: str, sqlite_url: str) -> None:
    fl = flightlog.open(sqlite_url, trackers=[MLflowTracker(tracking_uri=tracking_uri)])
    fail = [True]

    @fl.workflow
    def train(lr: float, config: Config, *, note: str, tags: tuple[str, ...] = ()) -> str:
        flightlog.track(phase="first" if fail else "second")
        if fail:
            fail.pop()
            raise RuntimeError("interrupted")
        return "trained"

    config = Config([2, 3], {"name": "adam", "beta": 0.9, "odd key!": None, "nested": {}})
    with (
        pytest.warns(flightlog.TrackerWarning, match="6000") as caught,
        pytest.raises(RuntimeError),
    ):
        train.run(0.5, config, note="n" * 7000, tags=("a", "b"), run_id="p")
    assert len(caught) == 1 and "'note'" in str(caught[0].message)
    expected = {
        "lr": "0.5",
        "config.layers": "[2,3]",
        "config.optimizer.name": "adam",
        "config.optimizer.beta": "0.9",
        "config.optimizer.odd key_": "null",
        "config.optimizer.nested": "{}",
        "note": "n" * 6000,
        "tags": '["a","b"]',
        "phase": "first",
    }
    assert mlflow_run(tracking_uri, "train", "p").data.params == expected
    # Resumed: the same arguments are not sent again (MLflow parameters are write-once), and
    # a value tracked differently goes to a tag, with one warning.
    with pytest.warns(flightlog.TrackerWarning, match="write-once") as caught:
        assert fl.resume("p") == "trained"
    assert len(caught) == 1
    run = mlflow_run(tracking_uri, "train", "p")
    assert run.info.status == "FINISHED"
    assert run.data.params == expected
    assert run.data.tags["phase"] == "second"
    fl.close()


def test_export_of_recorded_runs(tracking_uri: str, sqlite_url: str) -> None:
    fl = flightlog.open(sqlite_url)
    record(fl)
    record(fl, fail=True)
    fl.close()
    for _ in range(2):  # exporting again adds nothing
        out = io.StringIO()
        code = cli.main(
            ["export", "mlflow", "good", "broken", "--url", sqlite_url,
             "--tracking-uri", tracking_uri],
            out=out,
        )  # fmt: skip
        assert code == 0
        assert out.getvalue() == "exported run good to mlflow\nexported run broken to mlflow\n"
    good = mlflow_run(tracking_uri, "experiment-1", "good")
    broken = mlflow_run(tracking_uri, "experiment-1", "broken")
    assert (good.info.status, broken.info.status) == ("FINISHED", "FAILED")
    assert history(tracking_uri, good.info.run_id, "loss") == [(1, 1.0), (2, 0.5), (3, 1 / 3)]
    assert good.data.params["mode_4"] == "y"


def test_export_of_an_unknown_run_sends_nothing(
    tracking_uri: str, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fl = flightlog.open(sqlite_url)
    record(fl)
    fl.close()
    code = cli.main(["export", "mlflow", "good", "nope", "--url", sqlite_url,
                     "--tracking-uri", tracking_uri])  # fmt: skip
    assert code == 3  # not found
    assert "no run with id 'nope'" in capsys.readouterr().err
    assert MlflowClient(tracking_uri=tracking_uri).get_experiment_by_name("experiment-1") is None


def test_without_mlflow_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with pytest.raises(flightlog.MissingDependencyError, match=r"flightlog\[mlflow\]"):
        MLflowTracker()


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"flush_timeout": -1}, "flush_timeout"),
        ({"flush_timeout": "soon"}, "flush_timeout"),
        ({"http_retries": -1}, "http_retries"),
        ({"http_retries": 1.5}, "http_retries"),
        ({"http_timeout": 0}, "http_timeout"),
        ({"experiment": ""}, "experiment"),
        ({"tracking_uri": 5}, "tracking_uri"),
    ],
)
def test_bad_options_are_refused_by_name(options: dict[str, Any], named: str) -> None:
    with pytest.raises(flightlog.ConfigurationError, match=named):
        MLflowTracker(**{"tracking_uri": "http://127.0.0.1:1", **options})

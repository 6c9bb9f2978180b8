"""How MLflowTracker delivers: in the background and batched, flushed when a run ends, never
failing or holding up a run (an unreachable server, a slow one), read back through MLflow's
own client.

MLflow is held up deterministically: ``MlflowClient.log_batch`` waits at a gate the test
opens, so "the steps did not wait for MLflow" is a fact of the order of events, not of time.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

import flightlog
from flightlog.trackers import MLflowTracker

from .test_mlflow import history, mlflow_run


@pytest.fixture
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return (tmp_path / "mlruns").as_uri()


class Gate:
    """Holds every ``MlflowClient.log_batch`` call until opened; records what each sent."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened = threading.Event()
        self.calls: list[dict[str, int]] = []
        self.waiting = threading.Event()  # a call is held at the gate
        real = MlflowClient.log_batch

        def log_batch(client: Any, run_id: str, metrics: Any = (), params: Any = (),
                      tags: Any = (), **rest: Any) -> Any:  # fmt: skip
            self.waiting.set()
            assert self.opened.wait(timeout=30), "the test never opened the gate"
            self.calls.append({"metrics": len(metrics), "params": len(params), "tags": len(tags)})
            return real(client, run_id, metrics=metrics, params=params, tags=tags, **rest)

        monkeypatch.setattr(MlflowClient, "log_batch", log_batch)

    def open(self) -> None:
        self.opened.set()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    held = Gate(monkeypatch)
    yield held
    held.open()  # never leave the sender waiting


def test_steps_do_not_wait_for_mlflow_and_points_are_sent_in_batches(
    tracking_uri: str, gate: Gate
) -> None:
    tracker = MLflowTracker(tracking_uri=tracking_uri)
    fl = flightlog.open("memory://", trackers=[tracker])
    seen: dict[str, Any] = {}

    @fl.task
    def epoch(index: int) -> int:
        flightlog.track(loss=1 / (index + 1), step=index)
        return index

    @fl.task
    def wide() -> None:
        flightlog.track(**{f"m{n}": float(n) for n in range(2500)})
        flightlog.track(**{f"p{n}": f"v{n}" for n in range(150)})

    @fl.workflow
    def pipeline() -> int:
        total = sum(epoch(index) for index in range(50))
        wide()
        # Every step has ended while MLflow has not taken a single batch.
        seen["sent before the run ended"] = list(gate.calls)
        gate.open()
        return total

    assert pipeline.run(run_id="r") == sum(range(50))
    assert seen["sent before the run ended"] == []
    # The run's end waited for the flush: MLflow has every point now.
    run = mlflow_run(tracking_uri, "pipeline", "r")
    assert run.info.status == "FINISHED"
    assert history(tracking_uri, run.info.run_id, "loss") == [
        (index, 1 / (index + 1)) for index in range(50)
    ]
    assert len(run.data.metrics) == 2501 and len(run.data.params) == 150
    assert all(call["metrics"] <= 1000 and call["params"] <= 100 for call in gate.calls)
    assert sum(call["metrics"] for call in gate.calls) == 2550
    assert sum(call["params"] for call in gate.calls) == 150
    # 2,550 points and 150 parameters in a handful of calls, not one (or more) per step.
    assert len(gate.calls) <= 6, gate.calls
    fl.close()


def test_a_slow_mlflow_holds_the_run_end_no_longer_than_the_flush_timeout(
    tracking_uri: str, gate: Gate
) -> None:
    tracker = MLflowTracker(tracking_uri=tracking_uri, flush_timeout=0.2)
    fl = flightlog.open("memory://", trackers=[tracker])

    @fl.workflow
    def pipeline() -> str:
        flightlog.track(loss=0.5, step=1)
        return "done"

    with pytest.warns(flightlog.TrackerWarning, match=r"within 0\.2 s") as caught:
        assert pipeline.run(run_id="slow") == "done"
    assert len(caught) == 1
    assert gate.waiting.is_set() and gate.calls == []  # MLflow still holds the first batch
    assert fl.get_metadata("slow")["status"] == "SUCCESSFUL"
    gate.open()
    fl.close()  # closing waits for what is still on its way
    run = mlflow_run(tracking_uri, "pipeline", "slow")
    assert history(tracking_uri, run.info.run_id, "loss") == [(1, 0.5)]
    assert run.info.status == "FINISHED"


def closed_port() -> int:
    """A loopback port that nothing listens on (connections to it are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


HTTP_SETTINGS = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")


@pytest.mark.timeout(90)  # MLflow's own retries would take about 4 minutes
def test_an_unreachable_server_fails_within_seconds_and_never_fails_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in HTTP_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    uri = f"http://127.0.0.1:{closed_port()}"
    fl = flightlog.open("memory://", trackers=[MLflowTracker(tracking_uri=uri)])

    @fl.task
    def train(lr: float) -> float:
        flightlog.track(loss=lr, step=1)
        return lr * 2

    @fl.workflow
    def pipeline(lr: float) -> float:
        return train(lr)

    started = time.monotonic()
    with pytest.warns(flightlog.TrackerWarning) as caught:
        assert pipeline.run(0.5, run_id="offline") == 1.0
        assert pipeline.run(0.25, run_id="offline-2") == 0.5
    elapsed = time.monotonic() - started
    assert fl.get_metadata("offline")["status"] == "SUCCESSFUL"
    assert fl.get_metadata("offline-2")["status"] == "SUCCESSFUL"
    assert len(caught) == 1, [str(warning.message) for warning in caught]  # reported once
    message = str(caught[0].message)
    assert uri in message and "offline" in message, message
    assert elapsed < 30, f"two runs took {elapsed:.1f} s against a closed port"
    # The bounds are the tracker's: the process's environment is as it was.
    assert not {name for name in HTTP_SETTINGS if name in os.environ}
    fl.close()


def test_the_http_bounds_apply_to_the_sending_thread_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlflow.utils import rest_utils

    from flightlog.tracking.mlflow_http import bounded_http, http_settings

    for name in HTTP_SETTINGS:
        monkeypatch.delenv(name, raising=False)

    def read() -> tuple[int, int]:
        return (
            rest_utils.MLFLOW_HTTP_REQUEST_MAX_RETRIES.get(),
            rest_utils.MLFLOW_HTTP_REQUEST_TIMEOUT.get(),
        )

    defaults = read()
    settings = http_settings(retries=1, timeout=3)
    assert settings == {"max_retries": 1, "timeout": 3}
    elsewhere: list[tuple[int, int]] = []
    with bounded_http(settings):
        assert read() == (1, 3)
        other = threading.Thread(target=lambda: elsewhere.append(read()))
        other.start()
        other.join()
    # Any other thread (the user's own MLflow calls) reads MLflow's settings unchanged.
    assert elsewhere == [defaults]
    assert read() == defaults
    # Unless told otherwise the tracker bounds MLflow's retries, except where the user
    # set MLflow's own variables.
    assert http_settings()["max_retries"] < defaults[0]
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "4")
    assert http_settings()["max_retries"] == 4
    assert http_settings(retries=0)["max_retries"] == 0


def test_a_step_that_tracks_nothing_costs_the_tracker_nothing(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flightlog.tracking import notify

    def refused(*args: Any) -> Any:
        raise AssertionError("an info that no tracker reads was built")

    for name in ("task_info", "execution_info", "session_info", "result_info"):
        monkeypatch.setattr(notify, name, refused)
    tracker = MLflowTracker(tracking_uri=tracking_uri)
    queued: list[str] = []
    put = tracker._background.put
    monkeypatch.setattr(
        tracker._background, "put", lambda item: [queued.append(item[0]), put(item)]
    )
    fl = flightlog.open("memory://", trackers=[tracker])

    @fl.task
    def add(left: int, right: int) -> int:
        return left + right

    @fl.task
    def scored(value: int) -> int:
        flightlog.track(score=value)
        return value

    @fl.workflow
    def pipeline(n: int) -> int:
        return scored(sum(add(index, 1) for index in range(n)))

    assert pipeline.run(20, run_id="quiet") == 210
    assert queued == ["start", "arguments", "points", "end"]
    run = mlflow_run(tracking_uri, "pipeline", "quiet")
    assert run.data.params == {"n": "20"} and run.data.metrics == {"score": 210.0}
    fl.close()


def test_an_export_to_an_unreachable_server_is_one_line_and_exit_1(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from flightlog import cli

    for name in HTTP_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    fl = flightlog.open(sqlite_url)

    @fl.workflow
    def pipeline() -> None:
        flightlog.track(loss=0.5)

    pipeline.run(run_id="done")
    fl.close()
    uri = f"http://127.0.0.1:{closed_port()}"
    code = cli.main(["export", "mlflow", "done", "--url", sqlite_url, "--tracking-uri", uri])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"flightlog: error: MLflow at {uri} failed for run 'done'"), err
    assert err.count("\n") == 1, err

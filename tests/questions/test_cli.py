"""``flightlog counts``, ``flightlog export-parquet`` and the filters of ``flightlog runs``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import flightlog

from ..cli_run import run_cli


@pytest.fixture
def url(tmp_path: Path) -> str:
    found = f"sqlite:///{tmp_path}/q.db"
    with flightlog.open(found) as fl:

        @fl.task
        def step(x: float) -> float:
            flightlog.track(loss=x)
            if x < 0:
                raise ValueError("negative: timeout")
            return x

        @fl.workflow(metadata={"team": "nlp"})
        def train(lr: float) -> float:
            return step(lr)

        train.run(0.1, run_id="a")
        train.run(0.5, run_id="b")
        with pytest.raises(ValueError):
            train.run(-1.0, run_id="c")
    return found


def test_counts_command(url: str) -> None:
    code, text = run_cli("counts", "--url", url)
    assert code == 0
    lines = [line.split() for line in text.splitlines()]
    assert lines == [
        ["SUCCESSFUL", "FAILED", "TOTAL"],
        ["runs", "2", "1", "3"],
        ["steps", "2", "1", "3"],
    ]
    code, text = run_cli("counts", "--url", url, "--json", "--since", "1h")
    assert json.loads(text) == {
        "runs": {"SUCCESSFUL": 2, "FAILED": 1},
        "steps": {"SUCCESSFUL": 2, "FAILED": 1},
    }


def test_runs_filters(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    def ids(*options: str) -> list[str]:
        code, text = run_cli("runs", "--url", url, "--json", *options)
        assert code == 0, capsys.readouterr().err
        return [run["run_id"] for run in json.loads(text)]

    assert ids() == ["c", "b", "a"]
    assert ids("--param", "lr=0.1") == ["a"]
    assert ids("--metadata", "team=nlp", "--offset", "1", "--limit", "1") == ["b"]
    assert ids("--metric", "loss<0.3") == ["c", "a"]
    assert ids("--search", "TIMEOUT") == ["c"]
    assert ids("--since", "2h", "--until", "1h") == []
    with pytest.raises(SystemExit) as exited:  # a bad option value: a usage error, one line
        run_cli("runs", "--url", url, "--since", "last tuesday")
    assert exited.value.code == 2
    assert "cannot read 'last tuesday' as a time" in capsys.readouterr().err
    code, _ = run_cli("runs", "--url", url, "--param", "lr")
    assert code == 1
    assert "--param takes NAME=VALUE" in capsys.readouterr().err


def test_export_parquet_command(url: str, tmp_path: Path) -> None:
    code, text = run_cli("export-parquet", str(tmp_path / "out"), "--url", url, "--param", "lr=0.5")
    assert (code, text) == (
        0,
        f"wrote 1 run(s), 1 step(s), 1 metric point(s) to {tmp_path / 'out'}\n",
    )
    code, text = run_cli("export-parquet", str(tmp_path / "all"), "--url", url, "--json")
    assert json.loads(text)["runs"] == 3

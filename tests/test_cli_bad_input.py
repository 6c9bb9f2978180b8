"""Bad input gets a clear error naming what was wrong, from the Python API and as one line
with its documented exit status from the command line, and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

import flightlog

from .cli_run import run_cli


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one line a failed command printed on stderr (no traceback)."""
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("flightlog: error: ")
    return lines[0]


@pytest.fixture
def url(tmp_path: Path) -> str:
    found = f"sqlite:///{tmp_path}/bad.db"
    with flightlog.open(found) as fl:

        @fl.task(cache=True)
        def step(x: float) -> float:
            flightlog.track(loss=x)
            return x

        @fl.workflow
        def train(lr: float) -> float:
            return step(lr)

        train.run(0.1, run_id="lr-0.1")
        train.run(0.5, run_id="lr-0.5")
    return found


def test_export_parquet_into_a_path_that_cannot_be_a_folder(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pyarrow")
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n")
    with flightlog.open(url) as fl:
        for place in (a_file / "x", a_file):
            with pytest.raises(flightlog.InvalidInputError, match="cannot write Parquet files"):
                fl.export_parquet(place)
        with pytest.raises(flightlog.NotFoundError, match="nosuch"):
            fl.export_parquet(tmp_path / "never", runs=["lr-0.1", "nosuch"])
    assert not (tmp_path / "never").exists()  # a missing run: no folder made
    assert a_file.read_text() == "not a folder\n"
    code, text = run_cli("export-parquet", str(a_file / "x"), "--url", url)
    assert (code, text) == (1, "")
    line = one_line(capsys)
    assert "cannot write Parquet files into" in line and "a-file/x" in line


def test_metric_filters_need_a_number_to_order_by(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with flightlog.open(url) as fl:
        for bound in ("abc", "<0.3", None, True, [0.3]):
            with pytest.raises(flightlog.InvalidInputError, match="needs a number"):
                fl.list_runs(metric=("loss", "<", bound))
        assert [run["run_id"] for run in fl.list_runs(metric=("loss", "<", 0.3))] == ["lr-0.1"]
        assert fl.list_runs(metric=("loss", "==", "abc")) == []  # equality takes any value
    for given in ("loss<<0.3", "loss<abc", "loss>=", "loss>x"):
        code, text = run_cli("runs", "--url", url, "--metric", given)
        assert (code, text) == (1, ""), given
        assert "needs a number to compare with" in one_line(capsys)
    code, text = run_cli("runs", "--url", url, "--metric", "loss<0.3")
    assert code == 0 and "lr-0.1" in text and "lr-0.5" not in text


def test_copy_of_a_missing_run_makes_no_destination(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "copy.db"
    code, text = run_cli("copy", url, f"sqlite:///{target}", "--run", "lr-0.1", "--run", "nosuch")
    assert (code, text) == (3, "")
    assert "nosuch" in one_line(capsys)
    assert not target.exists()
    with pytest.raises(flightlog.NotFoundError, match="nosuch"):
        flightlog.copy(url, f"sqlite:///{target}", runs=["nosuch"])
    assert not target.exists()
    code, _ = run_cli("copy", url, f"sqlite:///{target}", "--run", "lr-0.1")
    assert code == 0
    with flightlog.open(f"sqlite:///{target}") as copied:
        assert [run["run_id"] for run in copied.list_runs()] == ["lr-0.1"]


def test_clear_cache_names_a_bad_task(url: str) -> None:
    with flightlog.open(url) as fl:
        for options in ({"task": 3}, {"task": ""}, {"task_id": b"x"}, {"version": 1.0}):
            with pytest.raises(flightlog.InvalidInputError, match="must be a non-empty str"):
                fl.clear_cache(**options)  # type: ignore[arg-type]
        with pytest.raises(flightlog.NotFoundError, match="no task named 'nosuch'"):
            fl.clear_cache("nosuch")
        assert sum(fl.clear_cache("step").values()) == 2


def test_limits_and_offsets_beyond_a_stores_integers(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    huge = 10**30
    with flightlog.open(url) as fl:
        assert [run["run_id"] for run in fl.list_runs(limit=huge)] == ["lr-0.5", "lr-0.1"]
        assert fl.list_runs(offset=huge) == []
        assert len(fl.steps("lr-0.1", offset=0, limit=huge)) == 1
        assert fl.steps("lr-0.1", offset=huge, limit=1) == []
    code, text = run_cli("runs", "--url", url, "--limit", str(huge))
    assert code == 0 and "lr-0.1" in text and capsys.readouterr().err == ""
    code, text = run_cli("runs", "--url", url, "--offset", str(huge))
    assert code == 0 and text.startswith("no runs in ")
    pytest.importorskip("pyarrow")
    code, text = run_cli("export-parquet", str(tmp_path / "o"), "--url", url, "--limit", str(huge))
    assert code == 0 and text.startswith("wrote 2 run(s)")

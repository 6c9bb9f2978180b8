"""``flightlog export-parquet`` takes the filters of ``flightlog runs``; ``flightlog upgrade``
finds its store as every other command does (URL, ``--url``, ``$FLIGHTLOG_URL``, the local
file)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

import flightlog
from flightlog.stores.base import SCHEMA_VERSION

from .cli_run import run_cli

FIXTURES = Path(__file__).resolve().parent / "stores" / "fixtures"


@pytest.fixture
def url(tmp_path: Path) -> str:
    found = f"sqlite:///{tmp_path}/export.db"
    with flightlog.open(found) as fl:

        @fl.task
        def step(x: float) -> float:
            if x < 0:
                raise ValueError("negative")
            return x

        @fl.workflow
        def train(lr: float) -> float:
            return step(lr)

        @fl.workflow
        def evaluate(lr: float) -> float:
            return step(lr)

        train.run(0.1, run_id="t1", tag="first")
        train.run(0.2, run_id="t2")
        with pytest.raises(ValueError):
            train.run(-1.0, run_id="t3")
        evaluate.run(0.3, run_id="e1", tag="first")
    return found


def _exported(url: str, folder: Path, *options: str) -> list[str]:
    pq = pytest.importorskip("pyarrow.parquet")
    shutil.rmtree(folder, ignore_errors=True)
    code, text = run_cli("export-parquet", str(folder), "--url", url, "--json", *options)
    assert code == 0, options
    ids = [str(run_id) for run_id in pq.read_table(folder / "runs.parquet")["run_id"].to_pylist()]
    assert json.loads(text)["runs"] == len(ids)
    return ids


def test_export_parquet_takes_the_filters_of_runs(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert _exported(url, out) == ["e1", "t3", "t2", "t1"]
    assert _exported(url, out, "--status", "FAILED") == ["t3"]
    assert _exported(url, out, "--status", "FAILED", "--status", "SUCCESSFUL") == [
        "e1",
        "t3",
        "t2",
        "t1",
    ]
    assert _exported(url, out, "--workflow", "train") == ["t3", "t2", "t1"]
    assert _exported(url, out, "--tag", "first") == ["e1", "t1"]
    assert _exported(url, out, "--workflow", "train", "--limit", "2") == ["t3", "t2"]
    assert _exported(url, out, "--run", "t2", "--run", "e1") == ["t2", "e1"]
    code, text = run_cli("export-parquet", str(out), "--url", url, "--run", "t1", "--tag", "x")
    assert (code, text) == (1, "")
    assert capsys.readouterr().err.splitlines() == [
        "flightlog: error: give runs=... or list_runs filters, not both"
    ]
    with pytest.raises(SystemExit) as exited:
        run_cli("export-parquet", str(out), "--url", url, "--limit", "0")
    assert exited.value.code == 2
    assert "not a whole number >= 1: '0'" in capsys.readouterr().err


def _old_store(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "flightlog.db"
    shutil.copy(FIXTURES / "sqlite_v3.db", database)
    return database


def _version_of(database: Path) -> int:
    with closing(sqlite3.connect(database)) as connection:
        row = connection.execute("SELECT value FROM flightlog_meta WHERE key = 'schema_version'")
        return int(row.fetchone()[0])


@pytest.mark.parametrize("where", ["--url before", "--url after", "environment", "default"])
def test_upgrade_finds_its_store_as_every_command_does(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLIGHTLOG_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    database = _old_store(tmp_path / ".flightlog")
    url = f"sqlite:///{database}"
    arguments = {
        "--url before": ["--url", url, "upgrade"],
        "--url after": ["upgrade", "--url", url],
        "environment": ["upgrade"],
        "default": ["upgrade"],
    }[where]
    if where == "environment":
        database = _old_store(tmp_path / "elsewhere")
        monkeypatch.setenv("FLIGHTLOG_URL", f"sqlite:///{database}")
    assert _version_of(database) == 3
    code, text = run_cli(*arguments)
    assert code == 0
    assert f"from schema version 3 to {SCHEMA_VERSION}" in text
    assert _version_of(database) == SCHEMA_VERSION
    code, text = run_cli(*arguments)
    assert (code, text.endswith(f"is at schema version {SCHEMA_VERSION} already\n")) == (0, True)


def test_upgrade_takes_one_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = _old_store(tmp_path)
    url = f"sqlite:///{database}"
    code, text = run_cli("upgrade", url, "--url", f"sqlite:///{tmp_path}/other.db")
    assert (code, text) == (1, "")
    assert "upgrade takes one store" in capsys.readouterr().err
    assert _version_of(database) == 3
    assert run_cli("upgrade", url, "--url", url)[0] == 0  # the same store twice: fine
    assert _version_of(database) == SCHEMA_VERSION

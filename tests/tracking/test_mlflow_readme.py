"""``pip install 'flightlog[mlflow]'`` works with MLflow's default tracking URI: the docs'
trackers example runs as written, in a fresh folder with ``MLFLOW_TRACKING_URI`` unset (MLflow
3 then keeps runs in ``sqlite:///mlflow.db``, which needs SQLAlchemy and alembic)."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient
from packaging.requirements import Requirement

import flightlog
from flightlog.trackers import MLflowTracker

README = Path(__file__).resolve().parents[2] / "docs" / "guides" / "metrics-files-shell.md"

# MLflow's SQL store uses SQLAlchemy APIs that SQLAlchemy 2.1 deprecates (MLflow's to fix).
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SADeprecationWarning")


def example() -> str:
    section = README.read_text().split("## Trackers and MLflow", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, "metrics-files-shell.md's trackers section has no example"
    return found.group(1)


def printed(code: str) -> str:
    """What the example says it prints: its lines that are ``# `` comments."""
    return "".join(line[2:] + "\n" for line in code.splitlines() if line.startswith("# "))


@pytest.fixture
def fresh_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_ALLOW_FILE_STORE", "FLIGHTLOG_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_the_readme_example_runs_with_mlflows_default_tracking_uri(
    fresh_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = example()
    assert "MLflowTracker()" in code  # the default tracking URI, as the README promises
    namespace: dict[str, Any] = {"__name__": "readme_mlflow"}
    exec(compile(code, str(README), "exec"), namespace)
    assert capsys.readouterr().out == printed(code)
    client = MlflowClient(tracking_uri=f"sqlite:///{fresh_folder}/mlflow.db")
    exported = client.get_experiment_by_name("reviewed")
    assert exported is not None
    [run] = client.search_runs([exported.experiment_id])
    assert run.info.run_name == "mlflow-a" and run.info.status == "FINISHED"
    assert run.data.params == {"lr": "0.5", "config.epochs": "3", "config.optimizer": "adam"}
    points = client.get_metric_history(run.info.run_id, "loss")
    assert sorted((point.step, point.value) for point in points) == [
        (1, 0.5), (2, 0.25), (3, 0.5 / 3)
    ]  # fmt: skip


def test_the_mlflow_extra_brings_what_mlflows_default_store_needs() -> None:
    wanted = set()
    for text in importlib.metadata.requires("flightlog") or []:
        requirement = Requirement(text)
        if requirement.marker is not None and requirement.marker.evaluate({"extra": "mlflow"}):
            wanted.add(requirement.name.lower())
    assert {"mlflow-skinny", "sqlalchemy", "alembic"} <= wanted, wanted


def test_without_sqlalchemy_the_default_uri_gets_a_clear_error(
    fresh_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)
    with pytest.raises(flightlog.MissingDependencyError) as raised:
        MLflowTracker()
    message = str(raised.value)
    assert "sqlite:" in message and "SQLAlchemy" in message, message
    assert "pip install 'flightlog[mlflow]'" in message, message

"""Reading is harmless: no query, export or CLI command imports user code to read a record, a
stored value names a class that is used only if its module is imported already (or the reader
allowed it), and commands that must import user code to act say so and stay in the working
tree unless told."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import flightlog
from flightlog.model import Run, Status

SUBPROCESS_SECONDS = 120

GUARDLESS = textwrap.dedent(
    """
    import flightlog

    fl = flightlog.open()

    @fl.task
    def double(x):
        return 2 * x

    @fl.workflow
    def pipeline(epochs, *extra, label="x", **options):
        return double(epochs)

    with open("side-effects.txt", "a") as out:  # no __main__ guard: runs at every import
        out.write("ran\\n")
    pipeline(2, label="y")
    """
)


def run_python(*args: str, cwd: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLIGHTLOG_URL": url}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_SECONDS,
    )


@pytest.fixture
def guardless(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """A run recorded by ``python flightlog_guardless.py``, a script without a ``__main__``
    guard, in the working directory (on sys.path, as for ``python -m`` or a notebook there).
    Yields the store's URL and the run's id."""
    name = "flightlog_guardless"
    url = f"sqlite:///{tmp_path}/store.db"
    (tmp_path / f"{name}.py").write_text(GUARDLESS)
    done = run_python(f"{name}.py", cwd=tmp_path, url=url)
    assert done.returncode == 0, done.stderr
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLIGHTLOG_URL", url)
    monkeypatch.syspath_prepend(str(tmp_path))
    with flightlog.open(url) as fl:
        (run,) = fl.list_runs()
    try:
        yield url, run["run_id"]
    finally:
        sys.modules.pop(name, None)


def side_effects(folder: Path) -> int:
    path = folder / "side-effects.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


# ------------------------------------------------------------ run logs name parameters from records


def test_run_log_reads_parameter_names_from_the_record(
    guardless: tuple[str, str], tmp_path: Path
) -> None:
    url, run_id = guardless
    with flightlog.open(url) as fl:
        log = fl.run_log(run_id)
        assert log["parameters"] == {"epochs": 2, "label": "y"}
        assert len(fl.list_runs()) == 1
        entry = fl.get_metadata(run_id)["environment"]["entry"]
    assert entry["parameters"] == ["epochs", "*extra", "label", "**options"]
    assert side_effects(tmp_path) == 1
    assert "flightlog_guardless" not in sys.modules


def test_show_run_log_on_the_command_line_runs_no_user_code(
    guardless: tuple[str, str], tmp_path: Path
) -> None:
    url, run_id = guardless
    shown = run_python(
        "-m", "flightlog", "show", run_id, "--format", "run-log", cwd=tmp_path, url=url
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["parameters"] == {"epochs": 2, "label": "y"}
    listed = run_python("-m", "flightlog", "runs", "--json", cwd=tmp_path, url=url)
    assert len(json.loads(listed.stdout)) == 1  # no second run
    assert side_effects(tmp_path) == 1  # and the script's side effect did not happen again


def test_parameters_of_runs_recorded_without_names(
    guardless: tuple[str, str], tmp_path: Path
) -> None:
    """Runs recorded before names were recorded: keyword arguments by name, positional ones
    as ``args[i]`` (never confused with a parameter: brackets are not in names)."""
    url, _ = guardless
    with flightlog.open(url) as fl:
        fl.store.create_run(
            Run(
                run_id="old",
                workflow="pipeline",
                status=Status.SUCCESSFUL,
                arguments='{"args":[2,3],"kwargs":{"label":"y"}}',
                created_time=time.time(),
                start_time=time.time(),
                environment={"entry": {"module": "flightlog_guardless", "qualname": "pipeline"}},
            )
        )
        assert fl.run_log("old")["parameters"] == {"args[0]": 2, "args[1]": 3, "label": "y"}
    assert side_effects(tmp_path) == 1
    assert "flightlog_guardless" not in sys.modules


def test_lone_task_runs_record_their_parameter_names() -> None:
    with flightlog.open("memory://") as fl:

        @fl.task
        def scale(value: int, /, factor: int = 2, *, offset: int = 0) -> int:
            return value * factor + offset

        scale(3, offset=1)
        (run,) = fl.list_runs()
        assert run["environment"]["entry"]["parameters"] == ["value", "/", "factor", "*", "offset"]
        assert fl.run_log(run["run_id"])["parameters"] == {"value": 3, "offset": 1}

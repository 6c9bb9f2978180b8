"""What ``import flightlog`` and a plain workflow on SQLite load: not the other stores, the
engines, the faces, asyncio or the plugin lookup (they are loaded when first used).

A behaviour test, not a timing test: it checks the set of modules a fresh process imports
(``sys.modules`` at the end), which does not depend on the machine's load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)

# Never loaded by ``import flightlog`` nor by a plain workflow recorded into SQLite.
HEAVY = (
    "asyncio",
    "concurrent.futures.process",
    "dask",
    "email",
    "flightlog.browse",
    "flightlog.cli",
    "flightlog.executors.dask",
    "flightlog.executors.ray",
    "flightlog.operations",
    "flightlog.questions",
    "flightlog.stores.files",
    "flightlog.stores.postgres",
    "flightlog.tracking.mlflow",
    "flightlog.web",
    "importlib.metadata",
    "mlflow",
    "multiprocessing",
    "numpy",
    "pandas",
    "psycopg",
    "ray",
    "zipfile",
)

# The facade's mixins load with it; their packages load the rest when a method is called.
FACADE = {
    "flightlog.operations",
    "flightlog.operations.api",
    "flightlog.questions",
    "flightlog.questions.methods",
}


def imported_modules(code: str, cwd: Path) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``: ``sys.modules`` at the
    end. (``-X importtime`` alone would miss what ``importlib.import_module`` loads: it times
    only ``import`` statements; it is on here so that a failure's stderr shows the costs.)"""
    environment = dict(os.environ)
    environment.pop("FLIGHTLOG_URL", None)
    listing = "\nimport sys\nprint('\\n'.join(sorted(sys.modules)))\n"
    finished = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code + listing],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    names = set(finished.stdout.split())
    assert "flightlog" in names
    return names


def heavy_among(names: set[str]) -> list[str]:
    return sorted(
        name
        for name in names - FACADE
        if any(name == heavy or name.startswith(heavy + ".") for heavy in HEAVY)
        or name.startswith("flightlog.cli_")
    )


def test_import_flightlog_loads_nothing_heavy(tmp_path: Path) -> None:
    assert heavy_among(imported_modules("import flightlog", tmp_path)) == []


PLAIN_RUN = """
import flightlog
fl = flightlog.open("sqlite:///plain.db")

@fl.task
def double(x):
    return 2 * x

@fl.task(cache=True)
def add(x, y):
    return x + y

@fl.workflow
def pipeline(n):
    return add(double(n), 1)

assert pipeline(3) == 7
assert pipeline(3) == 7
fl.close()
"""


def test_a_plain_workflow_on_sqlite_loads_nothing_heavy(tmp_path: Path) -> None:
    assert heavy_among(imported_modules(PLAIN_RUN, tmp_path)) == []


def test_public_names_still_resolve_lazily(tmp_path: Path) -> None:
    code = (
        "import flightlog\n"
        "missing = [n for n in flightlog.__all__ if getattr(flightlog, n, None) is None]\n"
        "assert not missing, missing\n"
        "assert flightlog.copy.__module__ == 'flightlog.operations.copy'\n"
    )
    assert "flightlog.operations.copy" in imported_modules(code, tmp_path)


def test_an_unknown_name_is_an_attribute_error() -> None:
    import flightlog

    with pytest.raises(AttributeError, match="no_such_name"):
        flightlog.no_such_name  # noqa: B018


ASYNC_RUN = """
import asyncio
import flightlog
fl = flightlog.open("sqlite:///async.db")

@fl.task(cache=True, timeout=30, retries=1)
async def double(x):
    return 2 * x

@fl.workflow
async def pipeline(n):
    return await double(n) + 1

assert asyncio.run(pipeline(3)) == 7
assert asyncio.run(pipeline(3)) == 7
steps = fl.steps(fl.list_runs(limit=1)[0]["run_id"])
assert [step["origin"] for step in steps] == ["cached"], steps
fl.close()
"""


def test_an_async_workflow_runs_where_flightlog_imported_no_asyncio(tmp_path: Path) -> None:
    """flightlog's async paths import asyncio where they use it (none at module level)."""
    assert "asyncio" in imported_modules(ASYNC_RUN, tmp_path)


PROCESS_RUN = """
import flightlog
from flightlog.executors import Processes

fl = flightlog.open("sqlite:///pool.db", executor=Processes(1))

@fl.task
def double(x):
    return 2 * x

@fl.workflow
def pipeline(n):
    return sum(double.map(range(n)))

if __name__ == "__main__":
    assert pipeline(4) == 12
    fl.close()
"""


def test_a_process_pool_loads_multiprocessing_when_it_starts(tmp_path: Path) -> None:
    script = tmp_path / "pool_job.py"
    script.write_text(PROCESS_RUN)
    code = f"import runpy; runpy.run_path({str(script)!r}, run_name='__main__')"
    names = imported_modules(code, tmp_path)
    assert {"multiprocessing", "concurrent.futures.process"} <= names

"""``flightlog resources stats|list|error|log|retry``."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..cli_run import run_cli

JOBS = textwrap.dedent(
    """
    from pathlib import Path
    import flightlog

    fl = flightlog.open()

    @fl.resource("tables")
    def load_table(ident, args, ctx):
        ctx.logger.info("loading %s with %s", ident, args)
        if Path("broken").exists() and ident.startswith("bad"):
            raise RuntimeError(f"cannot load {ident}")
        return {"rows": len(ident)}
    """
)


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A store whose collection "tables" has 2 completed, 2 failed and 1 declared resources,
    computed by the module ``flightlog_cli_jobs`` in the working directory."""
    url = f"sqlite:///{tmp_path}/jobs.db"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLIGHTLOG_URL", url)
    (tmp_path / "flightlog_cli_jobs.py").write_text(JOBS)
    (tmp_path / "broken").touch()
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        import flightlog_cli_jobs as jobs

        jobs.fl.declare("tables", ["later"])
        jobs.fl.fetch_many("tables", ["good-1", "good-2", "bad-1", "bad-2"], args={"n": 1})
        jobs.fl.close()
        yield url
    finally:
        sys.modules.pop("flightlog_cli_jobs", None)


def test_stats_and_list(recorded: str) -> None:
    code, text = run_cli("resources", "stats")
    assert code == 0
    header, row = text.splitlines()
    assert header.split() == ["COLLECTION", "TOTAL", "COMPLETED", "PENDING", "ERROR", "UNAVAILABLE"]
    assert row.split() == ["tables", "5", "2", "0", "2", "1"]
    code, text = run_cli("resources", "stats", "tables", "--json")
    assert json.loads(text)["counts"]["error"] == 2
    code, text = run_cli("resources", "list", "tables")
    assert text.splitlines() == [
        "bad-1  error",
        "bad-2  error",
        "good-1  completed",
        "good-2  completed",
        "later  unavailable",
    ]
    code, text = run_cli("resources", "list", "tables", "--status", "error")
    assert text.splitlines() == ["bad-1", "bad-2"]
    code, text = run_cli("resources", "list", "tables", "--json", "--status", "completed")
    assert json.loads(text) == [
        {"ident": "good-1", "status": "completed"},
        {"ident": "good-2", "status": "completed"},
    ]


def test_error_and_log(recorded: str) -> None:
    code, text = run_cli("resources", "error", "tables", "bad-1")
    assert code == 0 and "RuntimeError: cannot load bad-1" in text and "Traceback" in text
    code, text = run_cli("resources", "log", "tables", "bad-1")
    assert "INFO     loading bad-1 with {'n': 1}" in text
    code, text = run_cli("resources", "error", "tables", "good-1", "--json")
    assert json.loads(text) == {"ident": "good-1", "error": ""}


def test_retry_imports_the_function_and_keeps_history(recorded: str, tmp_path: Path) -> None:
    (tmp_path / "broken").unlink()  # the cause is fixed
    code, text = run_cli("resources", "retry", "tables", "--workers", "2")
    assert code == 0
    assert text == "retried 2 resource(s) of tables: 2 completed, 0 failed\n"
    code, text = run_cli("resources", "stats", "tables", "--json")
    assert json.loads(text)["counts"]["completed"] == 4
    code, text = run_cli("show", "resource:tables", "--json")
    steps = {step["name"]: step for step in json.loads(text)["steps"]}
    assert [a["status"] for a in steps["bad-1"]["attempts"]] == ["FAILED", "SUCCESSFUL"]
    assert steps["bad-1"]["arguments"] == {"ident": "bad-1", "args": {"n": 1}}


def test_errors_are_clear(recorded: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run_cli("resources", "error", "tables", "nope")
    assert code == 3  # not found
    assert "resource 'nope' of collection 'tables' was never computed" in capsys.readouterr().err
    code, _ = run_cli("resources", "log", "tables", "../escape")
    assert code == 1 and "is not allowed" in capsys.readouterr().err
    code, _ = run_cli("resources", "retry", "nowhere")
    assert code == 0


def test_data_dir_option(tmp_path: Path) -> None:
    code, text = run_cli("resources", "stats", "--url", "memory://", "--data-dir", str(tmp_path))
    assert code == 0 and text == "no resources in memory://\n"

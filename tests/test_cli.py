"""The command line: thin, documented, and machine-readable with --json."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog import cli
from flightlog.stores.sqlite import SQLiteStore

from .cli_run import run_cli

CLI_REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference" / "cli.md"


@pytest.fixture
def recorded(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/cli.db"
    fl = flightlog.open(url)

    @fl.task(retries=1, metadata={"team": "data"})
    def flaky(x: int) -> int:
        print(f"working on {x}")
        if not flaky_state:
            flaky_state.append(1)
            raise ConnectionError("first try fails")
        return x

    flaky_state: list[int] = []

    @fl.task
    def boom() -> None:
        raise ValueError("it broke")

    @fl.workflow
    def good(x: int) -> int:
        return flaky(x)

    @fl.workflow
    def bad() -> None:
        boom()

    good.run(3, run_id="good-run", tag="t1")
    with pytest.raises(ValueError):
        bad.run(run_id="bad-run")
    fl.close()
    return url


def test_runs_table_and_json(recorded: str) -> None:
    code, text = run_cli("runs", "--url", recorded)
    assert code == 0
    header, *lines = text.splitlines()
    assert header.split() == ["RUN", "ID", "WORKFLOW", "STATUS", "START", "DURATION", "STEPS"]
    assert lines[0].split()[:3] == ["bad-run", "bad", "FAILED"]
    assert lines[1].split()[:3] == ["good-run", "good", "SUCCESSFUL"]
    code, text = run_cli("runs", "--url", recorded, "--json", "--status", "FAILED")
    runs = json.loads(text)
    assert [run["run_id"] for run in runs] == ["bad-run"]


def test_show_has_steps_attempts_errors_logs_metadata(recorded: str) -> None:
    code, text = run_cli("show", "good-run", "--url", recorded)
    assert code == 0
    assert "run good-run  workflow good  SUCCESSFUL" in text
    assert "attempt 1: FAILED" in text and "ConnectionError: first try fails" in text
    assert "attempt 2: SUCCESSFUL" in text
    assert "> working on 3" in text
    assert '"team": "data"' in text
    code, text = run_cli("show", "bad-run", "--url", recorded)
    assert "ValueError: it broke" in text and "Traceback" in text
    code, text = run_cli("show", "good-run", "--url", recorded, "--json")
    shown = json.loads(text)
    assert shown["run"]["run_id"] == "good-run"
    assert [a["status"] for a in shown["steps"][0]["attempts"]] == ["FAILED", "SUCCESSFUL"]


def test_plan_and_explain(recorded: str) -> None:
    code, text = run_cli("plan", "bad-run", "--url", recorded, "--json")
    assert json.loads(text) == {
        "run_id": "bad-run",
        "steps": [
            {
                "step": "boom",
                "decision": "execute",
                "why": "the earlier attempt of this run left it FAILED (ValueError: it broke)",
            }
        ],
        "notes": [],
    }
    code, text = run_cli("explain", "good-run", "flaky", "--url", recorded)
    assert code == 0 and text.startswith("flaky: executed")
    assert "attempt 1 failed (ConnectionError: first try fails)" in text


def _failed_nightly(url: str, fetches: int) -> None:
    """A run "night" of ``fetches`` steps that succeeded, then one that failed."""
    with flightlog.open(url) as fl:

        @fl.task
        def fetch(i: int) -> int:
            return i

        @fl.task
        def store(total: int) -> None:
            raise OSError("disk full")

        @fl.workflow
        def nightly() -> None:
            store(sum(fetch(i) for i in range(fetches)))

        with pytest.raises(OSError):
            nightly.run(run_id="night")


def test_plan_says_once_what_it_cannot_judge_without_the_code(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/plan.db"
    _failed_nightly(url, 3)
    code, text = run_cli("plan", "night", "--url", url)
    assert code == 0
    _header, *rows, note = text.splitlines()
    assert [row.split()[:2] for row in rows] == [
        ["fetch", "replay"],
        ["fetch_1", "replay"],
        ["fetch_2", "replay"],
        ["store", "execute"],
    ]
    assert all("defined" not in row for row in rows)
    assert note.startswith("note: steps fetch, fetch_1, fetch_2 replay if their code is unchanged")
    assert text.count("not defined in this process") == 1


def test_plan_of_a_long_run_names_a_few_steps_it_cannot_judge_and_counts_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/plan.db"
    _failed_nightly(url, 1234)
    limits: list[int | None] = []
    page_of = SQLiteStore.steps_page

    def counted(self: SQLiteStore, run_id: str, **options: Any) -> Any:
        limits.append(options.get("limit"))
        return page_of(self, run_id, **options)

    monkeypatch.setattr(SQLiteStore, "steps_page", counted)
    code, text = run_cli("plan", "night", "--url", url)
    assert code == 0
    _header, *rows, note = text.splitlines()
    assert len(rows) == 1235 and rows[-1].split()[:2] == ["store", "execute"]
    named = ", ".join(["fetch"] + [f"fetch_{index}" for index in range(1, 10)])
    assert note.startswith(f"note: steps {named} and 1,224 more replay if their code")
    assert limits == [1000, 1000]  # a page at a time, never the whole run


def test_unknown_run_is_a_clear_error(recorded: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run_cli("show", "nope", "--url", recorded)
    assert code == 3  # not found
    assert "no run with id 'nope'" in capsys.readouterr().err


def test_flightlog_url_is_honoured(recorded: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flightlog", "runs", "--json"],
        env={**__import__("os").environ, "FLIGHTLOG_URL": recorded},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert {run["run_id"] for run in json.loads(done.stdout)} == {"good-run", "bad-run"}


def test_every_command_has_help_and_is_documented() -> None:
    reference = CLI_REFERENCE.read_text()
    for name in cli.COMMANDS:
        with pytest.raises(SystemExit) as leaving:
            cli.build_parser().parse_args([name, "--help"])
        assert leaving.value.code == 0
        assert f"flightlog {name}" in reference, f"docs/reference/cli.md lacks 'flightlog {name}'"


def test_cancel_of_a_finished_run_says_so_and_fails(
    recorded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for run_id, status in (("good-run", "SUCCESSFUL"), ("bad-run", "FAILED")):
        code, text = run_cli("cancel", run_id, "--url", recorded)
        assert (code, text) == (4, "")  # a conflict
        assert capsys.readouterr().err == (
            f"flightlog: error: run {run_id!r} has already finished ({status}); nothing to cancel\n"
        )
    with flightlog.open(recorded) as fl:
        assert fl.get_status("good-run") == "SUCCESSFUL"
        assert fl.get_output("good-run") == 3
    code, _ = run_cli("cancel", "nope", "--url", recorded)
    assert code == 3
    assert "no run with id 'nope'" in capsys.readouterr().err


def test_cancel_of_a_running_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/live.db"
    entered = threading.Event()
    release = threading.Event()
    with flightlog.open(url) as fl:

        @fl.task
        def wait() -> int:
            entered.set()
            assert release.wait(10)
            return 1

        @fl.workflow
        def flow() -> int:
            return wait()

        handles = [flow.run_async(run_id=run_id) for run_id in ("live", "live-json")]
        try:
            assert entered.wait(10)
            assert run_cli("cancel", "live", "--url", url) == (
                0,
                "run live is now CANCELED; it starts no new step\n",
            )
            code, text = run_cli("cancel", "live-json", "--url", url, "--json")
            assert code == 0
            assert json.loads(text) == {"run_id": "live-json", "status": "CANCELED"}
            assert fl.get_status("live") == "CANCELED"
        finally:
            release.set()
        for handle in handles:
            with pytest.raises(flightlog.CanceledError):
                handle.result(10)
        assert run_cli("cancel", "live", "--url", url) == (4, "")
        assert "has already finished (CANCELED)" in capsys.readouterr().err

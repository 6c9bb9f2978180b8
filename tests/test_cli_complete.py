"""The command line's fuller face: show with outputs and results, runs filters, global
options before the command, --version, resume --all, attachments get."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import flightlog
from flightlog import cli
from flightlog.cli_options import parse_when

from .cli_run import run_cli


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/cli.db"
    with flightlog.open(url) as fl:

        @fl.task
        def describe(name: str, size: int) -> dict[str, object]:
            flightlog.attach("report.txt", f"report of {name}\n".encode())
            flightlog.attach("blob.bin", bytes(range(256)))
            return {"name": name, "size": size, "text": "x" * 200}

        @fl.workflow
        def catalogue(first: str, count: int = 2, *rest: str, label: str = "") -> int:
            describe(first, count)
            return count * 10

        @fl.task
        def boom() -> None:
            raise ValueError("needle in the error")

        @fl.workflow
        def broken() -> None:
            boom()

        catalogue.run("alpha", 3, "extra", label="L", run_id="run-alpha", tag="nightly")
        with pytest.raises(ValueError):
            broken.run(run_id="run-broken")
    return url


def test_show_names_arguments_and_shows_output_and_results(url: str) -> None:
    code, out = run_cli("show", "run-alpha", "--url", url)
    assert code == 0
    assert '  arguments first="alpha", count=3, *rest=["extra"], label="L"\n' in out
    assert "  output 30\n" in out
    step = next(line for line in out.splitlines() if line.startswith("  - describe"))
    assert '(name="alpha", size=3) -> {"name": "alpha"' in step
    assert step.endswith("…") and len(step.split(" -> ")[1]) == 60
    code, full = run_cli("show", "run-alpha", "--url", url, "--full")
    assert '"text": "' + "x" * 200 + '"}' in full


def test_show_json_has_output_named_arguments_and_results(url: str) -> None:
    code, out = run_cli("--url", url, "--json", "show", "run-alpha")
    assert code == 0
    shown = json.loads(out)
    assert shown["output"] == 30
    assert shown["named_arguments"] == {"first": "alpha", "count": 3, "*rest": ["extra"],
                                        "label": "L"}  # fmt: skip
    (step,) = shown["steps"]
    assert step["result"] == {"name": "alpha", "size": 3, "text": "x" * 200}
    assert step["arguments"] == {"name": "alpha", "size": 3}
    code, out = run_cli("show", "run-broken", "--url", url, "--json")
    assert json.loads(out)["output"] is None


def test_show_json_of_a_large_run_is_whole(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/big.db"
    with flightlog.open(url) as fl:

        @fl.task
        def add(left: int, right: int) -> int:
            return left + right

        @fl.workflow
        def many(count: int) -> int:
            return sum(add(n, 1) for n in range(count))

        many.run(2_000, run_id="many")
    code, out = run_cli("show", "many", "--url", url, "--json")
    assert code == 0
    shown = json.loads(out)
    assert [step["result"] for step in shown["steps"]] == list(range(1, 2_001))
    assert shown["run"]["step_count"] == 2_000


def test_runs_filters_by_time_text_and_pages(url: str) -> None:
    def ids(*args: str) -> list[str]:
        code, out = run_cli("runs", "--url", url, "--json", *args)
        assert code == 0, out
        return [run["run_id"] for run in json.loads(out)]

    assert ids() == ["run-broken", "run-alpha"]
    assert ids("--since", "1h") == ["run-broken", "run-alpha"]
    assert ids("--until", "1h") == []
    assert ids("--since", time.strftime("%Y-%m-%d")) == ["run-broken", "run-alpha"]
    assert ids("--search", "NEEDLE") == ["run-broken"]  # its error message
    assert ids("--search", "alpha") == ["run-alpha"]
    assert ids("--search", "nightly") == ["run-alpha"]  # its tag
    assert ids("--offset", "1") == ["run-alpha"]
    assert ids("--offset", "1", "--limit", "1") == ["run-alpha"]
    assert ids("--offset", "5") == []


def test_a_bad_time_is_a_usage_error_naming_it(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as leaving:
        cli.main(["runs", "--url", url, "--since", "yesterday-ish"])
    assert leaving.value.code == 2
    assert "cannot read 'yesterday-ish' as a time" in capsys.readouterr().err


def test_times_ago_and_iso_dates() -> None:
    assert parse_when("2h", now=10_000.0) == 10_000.0 - 7200
    assert parse_when("3d", now=1e6) == 1e6 - 3 * 86400
    assert parse_when("90s", now=100.0) == 10.0
    assert parse_when("2026-12-01T00:00:00+00:00") == 1796083200.0


def test_global_options_before_or_after_the_command(url: str) -> None:
    before = run_cli("--url", url, "--json", "runs")
    after = run_cli("runs", "--url", url, "--json")
    assert before == after and before[0] == 0
    assert len(json.loads(before[1])) == 2
    mixed = run_cli("--json", "runs", "--url", url)
    assert mixed == before


def test_version_and_global_options_in_a_real_process(url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flightlog", "--version"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout == f"flightlog {flightlog.__version__}\n"
    done = subprocess.run(
        [sys.executable, "-m", "flightlog", "--url", url, "--json", "runs", "--limit", "1"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert [run["run_id"] for run in json.loads(done.stdout)] == ["run-broken"]


def test_attachments_list_and_get(url: str, tmp_path: Path) -> None:
    code, out = run_cli("attachments", "list", "run-alpha", "--url", url)
    assert code == 0 and "report.txt" in out and "describe" in out
    target = tmp_path / "copy.bin"
    code, out = run_cli("attachments", "get", "run-alpha", "blob.bin", "-o", str(target),
                        "--url", url)  # fmt: skip
    assert code == 0 and out == f"wrote 256 bytes to {target}\n"
    assert target.read_bytes() == bytes(range(256))
    code, out = run_cli("attachments", "get", "run-alpha", "report.txt", "--url", url)
    assert (code, out) == (0, "report of alpha\n")
    code, _ = run_cli("attachments", "get", "run-alpha", "nope.txt", "--url", url)
    assert code == 3
    code, _ = run_cli("attachments", "get", "run-alpha", "report.txt", "--url", url,
                      "-o", str(tmp_path / "no-such-folder" / "x"))  # fmt: skip
    assert code == 1


def test_attachments_get_writes_bytes_to_a_pipe(url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flightlog", "attachments", "get", "run-alpha", "blob.bin"],
        env={**os.environ, "FLIGHTLOG_URL": url}, capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout == bytes(range(256))


RESUMABLE = """
import os, sys
import flightlog

fl = flightlog.open(os.environ["FLIGHTLOG_URL"])

@fl.task
def step(n: int) -> int:
    if os.path.exists("broken"):
        raise RuntimeError("still broken")
    return n + 1

@fl.workflow
def flow(n: int) -> int:
    return step(n)

if __name__ == "__main__":
    flow.run(int(sys.argv[1]), run_id=sys.argv[2])
"""


def test_resume_all_resumes_every_failed_run(tmp_path: Path) -> None:
    (tmp_path / "flow_module.py").write_text(RESUMABLE)
    (tmp_path / "broken").touch()
    env = {**os.environ, "FLIGHTLOG_URL": f"sqlite:///{tmp_path}/store.db"}
    for number in ("1", "2"):
        subprocess.run(
            [sys.executable, "flow_module.py", number, f"run-{number}"],
            cwd=tmp_path, env=env, capture_output=True, timeout=60,
        )  # fmt: skip
    command = [sys.executable, "-m", "flightlog", "resume", "--all"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "no run to resume\n")  # none died
    command.append("--include-failed")
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert "run run-1 failed: run 'run-1' failed again" in done.stdout or "still broken" in (
        done.stdout
    )
    assert done.stderr.endswith("2 of 2 run(s) did not succeed: run-1, run-2\n")
    (tmp_path / "broken").unlink()
    done = subprocess.run([*command, "--json"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    outcomes = {item["run_id"]: item for item in json.loads(done.stdout)}
    assert outcomes["run-1"]["status"] == "SUCCESSFUL" and outcomes["run-1"]["output"] == 2
    assert outcomes["run-2"]["output"] == 3


def test_resume_needs_a_run_or_all(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["resume", "--url", url]) == 1
    assert "resume needs a RUN_ID, or --all" in capsys.readouterr().err
    assert cli.main(["resume", "run-alpha", "--all", "--url", url]) == 1
    assert "either a RUN_ID or --all" in capsys.readouterr().err

"""``flightlog watch`` draws a progress bar where the total is known: a ``map`` (its first step
records the item count) and ``fetch_many`` of a resource collection (it declares its
identifiers first). A real workflow process, held at gates the test opens one by one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import flightlog

from .test_cli_live import Processes, environment, processes, read_until, wait_for_run

__all__ = ["processes"]  # the fixture, imported for the tests below

pytestmark = pytest.mark.timeout(120)

PROGRAM = """
import os, sys, time
import flightlog

fl = flightlog.open(os.environ["FLIGHTLOG_URL"])
GATES = os.environ["GATES"]

def wait(name):
    print("started", name, flush=True)
    while not os.path.exists(os.path.join(GATES, name)):
        time.sleep(0.02)

@fl.task
def prepare(count: int) -> int:
    return count

@fl.task
def square(n: int) -> int:
    wait(f"square-{n}")
    return n * n

@fl.workflow
def fan(count: int) -> int:
    return sum(square.map(range(prepare(count))))

@fl.resource("tiles")
def tile(ident, args, ctx):
    wait(f"tile-{ident}")
    return ident.upper()

if __name__ == "__main__":
    if sys.argv[1] == "map":
        fan.run(int(sys.argv[2]), run_id=sys.argv[3])
    else:
        fl.fetch_many("tiles", sys.argv[2:], progress=False)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "fan_module.py").write_text(PROGRAM)
    (tmp_path / "gates").mkdir()
    return tmp_path


def watch(run_id: str) -> list[str]:
    return [sys.executable, "-m", "flightlog", "watch", run_id, "--interval", "0.05"]


def test_watch_draws_the_bar_of_a_map(project: Path, processes: Processes) -> None:
    url = f"sqlite:///{project}/store.db"
    gates = project / "gates"
    env = environment(url, GATES=str(gates))
    processes.start([sys.executable, "fan_module.py", "map", "4", "run-m"], project, env)
    wait_for_run(url, "run-m", "started square-0")
    watcher = processes.start(watch("run-m"), project, env)
    first = read_until(watcher, "now square")
    assert "[........................]   0% of 4 (square map)" in first
    (gates / "square-0").touch()
    read_until(watcher, "  25% of 4 (square map)")
    (gates / "square-1").touch()
    read_until(watcher, "  50% of 4 (square map)")
    for n in (2, 3):
        (gates / f"square-{n}").touch()
    rest, errors = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, errors
    last = rest.splitlines()[-1]
    assert last.startswith("run-m SUCCESSFUL  [" + "#" * 24 + "] 100% of 4 (square map)")
    assert "5 done" in last  # prepare and the 4 squares
    as_json = json.loads(
        processes.start([*watch("run-m"), "--json"], project, env).communicate(timeout=60)[0]
    )
    assert as_json["total"] == 4 and as_json["ended"] == 4 and as_json["fanout"] == "square"
    with flightlog.open(url) as fl:  # the mark is the first step's, the others' stay plain
        options = [step["step_options"].get("fanout") for step in fl.steps("run-m")]
    assert options == [None, 4, None, None, None]


def test_watch_draws_the_bar_of_fetch_many(project: Path, processes: Processes) -> None:
    url = f"sqlite:///{project}/store.db"
    gates = project / "gates"
    env = environment(url, GATES=str(gates))
    processes.start([sys.executable, "fan_module.py", "tiles", "a", "b", "c"], project, env)
    with flightlog.open(url) as fl:  # declared at once: the total is known
        wait_until_declared(fl)
    watcher = processes.start(watch("resource:tiles"), project, env)
    read_until(watcher, "   0% of 3")
    (gates / "tile-a").touch()
    read_until(watcher, "  33% of 3")
    (gates / "tile-b").touch()
    (gates / "tile-c").touch()
    rest, errors = watcher.communicate(timeout=60)
    assert watcher.returncode == 0, errors
    assert rest.splitlines()[-1].startswith(
        "resource:tiles SUCCESSFUL  [" + "#" * 24 + "] 100% of 3"
    )


def wait_until_declared(fl: flightlog.Flightlog) -> None:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (
            len(fl.fetch_by_status("tiles", "unavailable"))
            + len(fl.fetch_by_status("tiles", "pending"))
            == 3
        ):
            return
        time.sleep(0.05)
    pytest.fail("fetch_many never declared its identifiers")


@pytest.mark.parametrize("interval", ["-1", "0", "soon", "nan"])
def test_a_bad_interval_is_a_usage_error_naming_it(
    interval: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from flightlog import cli

    with pytest.raises(SystemExit) as exited:
        cli.main(["watch", "some-run", "--interval", interval])
    assert exited.value.code == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error == (
        f"flightlog watch: error: argument --interval: must be a number of seconds above 0, "
        f"not {interval!r}"
    )


def test_watch_on_a_terminal_rewrites_one_line_coloured_unless_no_color(project: Path) -> None:
    from .test_cli_live import in_terminal

    url = f"sqlite:///{project}/store.db"
    gates = project / "gates"
    for n in range(3):
        (gates / f"square-{n}").touch()
    env = environment(url, GATES=str(gates), TERM="xterm")
    subprocess.run(
        [sys.executable, "fan_module.py", "map", "3", "run-t"],
        cwd=project, env=env, capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    shown = in_terminal(watch("run-t"), env, project)
    assert shown.startswith("\r\x1b[Krun-t \x1b[32mSUCCESSFUL\x1b[0m  [" + "#" * 24 + "] 100% of 3")
    assert shown.endswith("\r\n")
    plain = in_terminal(watch("run-t"), {**env, "NO_COLOR": "1"}, project)
    assert plain.startswith("\r\x1b[Krun-t SUCCESSFUL  [" + "#" * 24 + "] 100% of 3")
    assert "\x1b[3" not in plain

"""Names computed when a workflow's module loads do not stop a resume or a cache hit.

``PID = os.getpid()`` and ``SCRATCH = tempfile.mkdtemp(...)`` differ in every process; a task
that reads them keeps its identity (they count by their source, see flightlog.identity), so a
run that failed in one process resumes in another, and a cached result recorded by one
process serves the next. Each child process is bounded in time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import flightlog

SRC = str(Path(flightlog.__file__).resolve().parent.parent)
WAIT = 60.0  # the longest a child process may take

FLOW = '''
"""A workflow whose tasks read names computed when this module loads."""

import os
import tempfile

import flightlog

fl = flightlog.open(os.environ["FLOW_URL"])
PID = os.getpid()
SCRATCH = tempfile.mkdtemp(dir=os.environ["FLOW_DIR"])
LOG = os.path.join(os.environ["FLOW_DIR"], "calls.log")


def note(text):
    with open(LOG, "a") as log:
        log.write(text + "\\n")


@fl.task
def load(i: int) -> int:
    note(f"load {i} {PID}")
    return i * 10


@fl.task
def check(total: int) -> int:
    note(f"check {total} {PID}")
    if os.path.exists(os.path.join(os.environ["FLOW_DIR"], "broken")):
        raise RuntimeError("broken")
    return total


@fl.task(cache=True)
def embed(i: int) -> str:
    note(f"embed {i} {SCRATCH}")
    return f"{i} from {PID}"


@fl.workflow
def flow(n: int) -> int:
    return check(sum(load(i) for i in range(n)))
'''


def _child(directory: Path, body: str) -> list[str]:
    """Run ``body`` in a fresh process (bounded); return its printed lines."""
    script = f"import sys\nsys.path[:0] = [{SRC!r}, {str(directory)!r}]\n" + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=directory,
        env=dict(os.environ, FLOW_URL=f"sqlite:///{directory}/store.db", FLOW_DIR=str(directory)),
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert done.returncode == 0, f"child failed ({done.returncode}):\n{done.stdout}{done.stderr}"
    return done.stdout.splitlines()


def test_a_run_reading_computed_names_resumes_in_another_process(tmp_path: Path) -> None:
    (tmp_path / "computedflow.py").write_text(FLOW)
    (tmp_path / "broken").touch()
    first = _child(
        tmp_path,
        """
        import os, computedflow
        try:
            computedflow.flow.run(3, run_id="r")
        except RuntimeError as error:
            print(error)
        print(os.getpid())
        """,
    )
    assert first[0] == "broken"
    (tmp_path / "broken").unlink()  # the fix
    second = _child(
        tmp_path,
        """
        import os, computedflow
        print(computedflow.fl.resume("r"))
        print(os.getpid())
        """,
    )
    assert second[0] == "30"
    pid_1, pid_2 = first[-1], second[-1]
    assert pid_1 != pid_2
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert calls == [
        f"load 0 {pid_1}",
        f"load 1 {pid_1}",
        f"load 2 {pid_1}",
        f"check 30 {pid_1}",
        f"check 30 {pid_2}",
    ]
    with flightlog.open(f"sqlite:///{tmp_path}/store.db") as fl:
        assert fl.get_status("r") == "SUCCESSFUL"
        origins = {step["name"]: step["origin"] for step in fl.steps("r")}
        assert origins == {
            "load": "replayed",
            "load_1": "replayed",
            "load_2": "replayed",
            "check": "executed",
        }


def test_a_cached_task_reading_computed_names_hits_from_another_process(
    tmp_path: Path,
) -> None:
    (tmp_path / "computedflow.py").write_text(FLOW)
    body = """
        import json, os, computedflow
        print(json.dumps([computedflow.embed(5), os.getpid()]))
        """
    first, pid_1 = json.loads(_child(tmp_path, body)[-1])
    second, pid_2 = json.loads(_child(tmp_path, body)[-1])
    assert pid_1 != pid_2
    assert first == second == f"5 from {pid_1}"
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert len(calls) == 1 and calls[0].startswith("embed 5 ")

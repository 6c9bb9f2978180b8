"""The bare floor of the JSON-files store, and bulk loading for its query benchmarks.

The floor writes, in plain Python, what a step of bandsaw's layout needs at the least: for
each step, its session folder ``tasks/<task>/<execution>/<run>/``, then ``session-info.json``,
``result-info.json`` and the empty session marker ``runs/<run>/<session_id>``, each one
atomically (a hidden temporary file in the same folder, written, fsynced, renamed, then the
folder fsynced). Its JSON has the shape and size of flightlog's files for the benchmark's
steps, encoded for each step as flightlog encodes them.

    python benchmarks/files_floor.py [STEPS]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import flightlog
from flightlog.model import Run, Status, Step
from flightlog.stores.files import FileStore

TASK = "f" * 32
RUN = "brave-curie-0412"


def _atomic(path: str, data: bytes) -> None:
    directory, name = os.path.split(path)
    temporary = os.path.join(directory, f".{name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.rename(temporary, path)
    folder = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _document(index: int, result: bool) -> bytes:
    """The shape and size of flightlog's info files for a step ``add(index, 1)``."""
    now = time.time()
    execution = f"{index:032x}"
    document: dict[str, Any] = {
        "task": {
            "id": TASK,
            "definition": "add",
            "advice_parameters": {"retries": 0, "timeout": None, "cache": False},
        },
        "execution": {
            "id": execution,
            "arguments": [
                {"type": "int", "value": str(index), "name": "left"},
                {"type": "int", "value": "1", "name": "right"},
            ],
        },
        "run": {
            "id": RUN,
            "workflow": "pipeline",
            "status": "RUNNING",
            "tag": None,
            "start_time": now,
            "end_time": None,
            "user_metadata": {},
            "arguments": [{"type": "int", "value": "5000", "name": "args[0]"}],
            "resumes": 0,
            "error": None,
            "output": None,
        },
        "configuration": {"store": "file:///tmp/bench"},
        "environment": {
            "host": "host",
            "user": "user",
            "python": "3.11.7",
            "python_implementation": "CPython",
            "platform": "Linux-6.1-x86_64-with-glibc2.36",
            "flightlog": "0.1.0",
            "pid": 4242,
            "argv": ["benchmarks/stores.py"],
            "entry": {"module": "overhead", "qualname": "pipeline"},
        },
        "distribution_archive": {"id": None, "modules": ["overhead"]},
        "session": {
            "id": f"{TASK}_{execution}_{RUN}",
            "name": f"add_{index}",
            "position": index,
            "status": "SUCCESSFUL",
            "start_time": now,
            "end_time": now,
            "attempts": [{"attempt_number": 1, "start_time": now, "end_time": now}],
        },
    }
    if result:
        document["result"] = {"value": {"type": "int", "value": str(index + 1)}}
        entry: dict[str, Any] = {"name": f"add_{index}", **document["result"]}
    else:
        entry = {
            "name": f"add_{index}",
            "position": index,
            "task_name": "add",
            "task_id": TASK,
            "execution_id": execution,
            "status": "SUCCESSFUL",
            "start_time": now,
            "end_time": now,
            "arguments": f'{{"left":{index},"right":1}}',
            "result": str(index + 1),
            "origin": "executed",
        }
    document["flightlog"] = {"steps": {str(index): entry}}
    return json.dumps(document, separators=(",", ":")).encode() + b"\n"


def bare_files(directory: Path, count: int) -> float:
    """Seconds per step of the bare floor (see the module's description)."""
    root = str(directory)
    os.makedirs(f"{root}/runs/{RUN}")
    started = time.perf_counter()
    for index in range(count):
        execution = f"{index:032x}"
        session = f"{root}/tasks/{TASK}/{execution}/{RUN}"
        os.makedirs(session)
        _atomic(f"{session}/session-info.json", _document(index, False))
        _atomic(f"{session}/result-info.json", _document(index, True))
        _atomic(f"{root}/runs/{RUN}/{TASK}_{execution}_{RUN}", b"")
    return (time.perf_counter() - started) / count


def load_files(url: str, runs: int, steps: int, run_id: str | None = None) -> None:
    """``runs`` finished runs of ``steps`` steps each, written through the store's own
    methods without fsync (the files are the same; loading is faster)."""
    store = FileStore(url.split("?", 1)[0], fsync=False)
    now = time.time()
    for number in range(runs):
        name = run_id or f"run-{number:05d}"
        store.create_run(Run(name, "bulk", Status.RUNNING, created_time=now, start_time=now))
        for position in range(steps):
            store.finish_step(
                Step(
                    name,
                    f"add_{position}" if position else "add",
                    position,
                    "add",
                    TASK,
                    f"{position:032x}",
                    status=Status.SUCCESSFUL,
                    start_time=now,
                    end_time=now + 0.001,
                    arguments=f'{{"args":[{position},1],"kwargs":{{}}}}',
                    result=str(position + 1),
                )
            )
        store.finish_run(name, status=Status.SUCCESSFUL, end_time=now + 1, output="1")


def main() -> None:
    from overhead import best, plain_loop, recorded

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory() as name:
        runs = iter(range(1000))
        floor = best(lambda: bare_files(Path(tempfile.mkdtemp(dir=name)), count), 3)
        call = best(lambda: plain_loop(count), 3)
        store = best(lambda: recorded(f"file://{name}/fl-{next(runs)}", count), 3) - call
    print(f"flightlog {flightlog.__version__}, {count} steps per run, median of 3 runs")
    print(f"bare atomic files per step (floor): {floor * 1e6:10.1f} us")
    print(f"file:// store, per-step overhead:   {store * 1e6:10.1f} us  ({store / floor:.2f}x)")
    print("target: file:// <= 3x floor")


if __name__ == "__main__":
    main()

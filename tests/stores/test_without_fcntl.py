"""flightlog on a Python without ``fcntl`` (Windows): it imports, and records.

Each case runs in a fresh interpreter in which ``import fcntl`` fails (``sys.modules["fcntl"]
= None``), as it does on Windows. The memory and SQLite stores need no file locks. The JSON-files
store locks with ``msvcrt.locking`` where there is no ``fcntl`` (simulated here by a small
stand-in ``msvcrt`` that records its calls and locks with ``lockf``, put in place of the
missing module once flightlog is imported); on a platform with
neither, reading works and the first write says what is missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import flightlog

SRC = str(Path(flightlog.__file__).resolve().parent.parent)

PRELUDE = f"""
import sys
sys.path.insert(0, {SRC!r})
"""

WITHOUT_FCNTL = """
sys.modules["fcntl"] = None  # as on Windows: import fcntl raises ImportError
"""

FAKE_MSVCRT = """
import os, types
from fcntl import LOCK_EX, LOCK_UN, lockf
CALLS = []

def locking(descriptor, mode, size):
    assert os.lseek(descriptor, 0, os.SEEK_CUR) == 0, "lock from the start of the file"
    CALLS.append((mode, size))
    lockf(descriptor, LOCK_EX if mode == 1 else LOCK_UN, size)

msvcrt = types.ModuleType("msvcrt")
msvcrt.LK_UNLCK, msvcrt.LK_LOCK, msvcrt.locking = 0, 1, locking
"""

# Installed once flightlog is imported: a module named msvcrt in sys.modules would make the
# standard library (subprocess) believe it runs on Windows.
WITH_MSVCRT = """
from flightlog.stores import files_io
assert files_io.fcntl is None and files_io.msvcrt is None
files_io.msvcrt = msvcrt
"""

WORKFLOW = """
import json
import flightlog

def record(url):
    fl = flightlog.open(url)
    try:
        @fl.task
        def double(x):
            return 2 * x

        @fl.workflow
        def flow(n):
            return double(n) + double(n + 1)

        return flow.run(3, run_id="portable"), fl.get_status("portable")
    finally:
        fl.close()
"""


def _run(tmp_path: Path, *parts: str) -> list[object]:
    script = "".join(textwrap.dedent(part) for part in parts)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_import_and_record_in_memory_and_sqlite(tmp_path: Path) -> None:
    printed = _run(
        tmp_path,
        PRELUDE,
        WITHOUT_FCNTL,
        WORKFLOW,
        f"""
        print(json.dumps(record("memory://")))
        print(json.dumps(record("sqlite:///{tmp_path}/store.db")))
        """,
    )
    assert printed == [[14, "SUCCESSFUL"], [14, "SUCCESSFUL"]]


def test_the_files_store_locks_with_msvcrt(tmp_path: Path) -> None:
    printed = _run(
        tmp_path,
        PRELUDE,
        FAKE_MSVCRT,
        WITHOUT_FCNTL,
        WORKFLOW,
        WITH_MSVCRT,
        f"""
        print(json.dumps(record("file://{tmp_path}/files")))
        print(json.dumps(CALLS))
        """,
    )
    assert printed[0] == [14, "SUCCESSFUL"]
    calls = printed[1]
    assert isinstance(calls, list) and calls, "the files store took no lock"
    # Every lock is taken (LK_LOCK) and given back (LK_UNLCK), over one byte.
    assert calls == [[1, 1], [0, 1]] * (len(calls) // 2)


def test_the_files_store_without_any_file_lock_says_so(tmp_path: Path) -> None:
    """Neither fcntl nor msvcrt: the store opens and reads; a write is a StoreError that says
    what is missing (never an ImportError at import, never a write without its lock)."""
    _run(tmp_path, PRELUDE, WORKFLOW, f'print(json.dumps(record("file://{tmp_path}/files")))')
    printed = _run(
        tmp_path,
        PRELUDE,
        WITHOUT_FCNTL,
        WORKFLOW,
        f"""
        fl = flightlog.open("file://{tmp_path}/files")
        print(json.dumps(fl.get_status("portable")))
        try:
            fl.store.request_cancel("portable", end_time=0.0)
        except flightlog.StoreError as error:
            print(json.dumps(str(error)))
        """,
    )
    assert printed[0] == "SUCCESSFUL"
    assert "fcntl" in str(printed[1]) and "msvcrt" in str(printed[1])
    assert "lock" in str(printed[1])

"""Runs one page's examples in this fresh process and writes what each did as JSON.

Usage: python run_page.py PAGE RESULTS_JSON (the current directory is the page's sandbox).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import subprocess
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from examples import failure, parse


def commands(text: str) -> list[tuple[str, str]]:
    """The ``$`` commands of a console block, each with the output written after it."""
    found: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            found.append((line[2:], []))
        elif found:
            found[-1][1].append(line)
    return [(command, "\n".join(out).strip("\n")) for command, out in found]


def main() -> None:
    page = parse(Path(sys.argv[1]))
    results: list[dict[str, object]] = []
    namespace: dict[str, object] = {"__name__": "__main__"}
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "100"
    for block in page.blocks:
        result: dict[str, object] = {"line": block.line, "kind": block.kind}
        results.append(result)
        if block.kind == "python":
            out = io.StringIO()
            source = "\n" * (block.line - 1) + block.text
            try:
                with contextlib.redirect_stdout(out):
                    exec(compile(source, str(page.path), "exec"), namespace)
            except BaseException:
                result["error"] = traceback.format_exc()
            result["printed"] = out.getvalue()
            result["expected"] = block.expected
        elif block.kind == "console":
            runs = []
            for command, expected in commands(block.text):
                must_fail, status = failure(command)
                done = subprocess.run(
                    command, shell=True, capture_output=True, text=True, env=env, timeout=120
                )
                runs.append(
                    {
                        "command": command,
                        "expected": expected or None,
                        "printed": done.stdout,
                        "stderr": done.stderr,
                        "code": done.returncode,
                        "must_fail": must_fail,
                        "status": status,
                    }
                )
            result["commands"] = runs
        else:  # sql
            try:
                with contextlib.closing(sqlite3.connect(".flightlog/flightlog.db")) as db:
                    for statement in block.text.split(";"):
                        if statement.strip():
                            db.execute(statement).fetchall()
            except Exception:
                result["error"] = traceback.format_exc()
        if result.get("error"):
            break
    Path(sys.argv[2]).write_text(json.dumps(results))
    close = getattr(namespace.get("fl"), "close", None)
    if callable(close):
        close()


if __name__ == "__main__":
    main()

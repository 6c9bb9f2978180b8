"""Every example in README.md and docs/ runs, and prints what the page says it prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.examples import ROOT, matches, pages, parse

RUNNER = Path(__file__).with_name("run_page.py")
# Pages whose examples are being rewritten to run as written (the README is turning into the
# site's front door this round); this set must be empty when that lands.
NOT_YET: set[str] = set()
PAGES = [p for p in pages() if parse(p).blocks and p.relative_to(ROOT).as_posix() not in NOT_YET]


@pytest.mark.parametrize("path", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_page_examples_run(path: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHTLOG_")}
    env["PYTHONPATH"] = ""
    results = tmp_path / "results.json"
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    done = subprocess.run(
        [sys.executable, str(RUNNER), str(path), str(results)],
        cwd=sandbox,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, f"the runner failed:\n{done.stdout}\n{done.stderr}"
    name = path.relative_to(ROOT).as_posix()
    for result in json.loads(results.read_text()):
        where = f"{name}:{result['line']}"
        assert not result.get("error"), f"the example at {where} failed:\n{result['error']}"
        if result["kind"] == "python" and result["expected"] is not None:
            assert matches(result["expected"], result["printed"]), (
                f"the example at {where} printed:\n{result['printed']}\n"
                f"but the page says:\n{result['expected']}"
            )
        for run in result.get("commands", []):
            command = run["command"]
            if run["must_fail"]:
                assert run["code"] != 0, f"`{command}` at {where} should fail and did not"
                if run["status"] is not None:
                    assert run["code"] == run["status"], (
                        f"`{command}` at {where} exited {run['code']}, not {run['status']}:\n"
                        f"{run['stderr']}"
                    )
            else:
                assert run["code"] == 0, (
                    f"`{command}` at {where} failed ({run['code']}):\n{run['stderr']}"
                )
            if run["expected"] is not None:
                shown = run["printed"] + (run["stderr"] if run["must_fail"] else "")
                assert matches(run["expected"], shown), (
                    f"`{command}` at {where} printed:\n{shown}\nbut the page says:\n"
                    f"{run['expected']}"
                )

"""The first examples of the documentation run as written, on the default store, and give what
they say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
GETTING_STARTED = DOCS / "getting-started.md"
RESUME = DOCS / "guides" / "resume-and-cache.md"
PARALLEL = DOCS / "guides" / "parallel.md"
# An example and the block of what it prints, right after it.
EXAMPLE_AND_OUTPUT = r"```python\n(.*?)```\s*```text title=\"Output\"\n(.*?)```"


def test_use_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLIGHTLOG_URL", raising=False)
    section = GETTING_STARTED.read_text().split("## Your first workflow", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found is not None, "getting-started.md has no example under 'Your first workflow'"
    namespace: dict[str, object] = {}
    exec(compile(found.group(1), str(GETTING_STARTED), "exec"), namespace)
    fl = namespace["fl"]
    assert (tmp_path / ".flightlog" / "flightlog.db").exists()  # the default store
    assert fl.get_output("my-run") == 6  # type: ignore[attr-defined]
    assert fl.get_metadata("my-run")["tag"] == "exp1"  # type: ignore[attr-defined]
    assert [s["name"] for s in fl.steps("my-run")] == ["add", "add_1", "add_2"]  # type: ignore[attr-defined]
    assert len(fl.list_runs()) == 2  # type: ignore[attr-defined]
    fl.close()  # type: ignore[attr-defined]


def test_resume_after_a_fix_example(capsys: pytest.CaptureFixture[str]) -> None:
    section = RESUME.read_text().split("## Resume after a fix", 1)[1]
    found = re.search(EXAMPLE_AND_OUTPUT, section, re.S)
    assert found is not None, "resume-and-cache.md has no example under 'Resume after a fix'"
    code = found.group(1)
    namespace: dict[str, object] = {}
    exec(compile(code, str(RESUME), "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    assert printed == found.group(2).splitlines()  # the page's Output block
    namespace["fl"].close()  # type: ignore[attr-defined]


def test_parallel_steps_example(capsys: pytest.CaptureFixture[str]) -> None:
    found = re.search(EXAMPLE_AND_OUTPUT, PARALLEL.read_text(), re.S)
    assert found is not None, "parallel.md has no example"
    code = found.group(1)
    namespace: dict[str, object] = {}
    exec(compile(code, str(PARALLEL), "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    assert printed == found.group(2).splitlines()  # the page's Output block
    namespace["fl"].close()  # type: ignore[attr-defined]

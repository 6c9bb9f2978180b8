"""The README's first example runs as written, on the default store, and gives what it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def test_use_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLIGHTLOG_URL", raising=False)
    section = README.read_text().split("## Use", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found is not None, "the README has no example under 'Use'"
    namespace: dict[str, object] = {}
    exec(compile(found.group(1), str(README), "exec"), namespace)
    fl = namespace["fl"]
    assert (tmp_path / ".flightlog" / "flightlog.db").exists()  # the default store
    assert fl.get_output("my-run") == 6  # type: ignore[attr-defined]
    assert fl.get_metadata("my-run")["tag"] == "exp1"  # type: ignore[attr-defined]
    assert [s["name"] for s in fl.steps("my-run")] == ["add", "add_1", "add_2"]  # type: ignore[attr-defined]
    assert len(fl.list_runs()) == 2  # type: ignore[attr-defined]
    fl.close()  # type: ignore[attr-defined]


def test_resume_after_a_fix_example(capsys: pytest.CaptureFixture[str]) -> None:
    section = README.read_text().split("### Resume after a fix", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found is not None, "the README has no example under 'Resume after a fix'"
    code = found.group(1)
    namespace: dict[str, object] = {}
    exec(compile(code, str(README), "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    promised = [line[2:] for line in code.splitlines() if line.startswith("# ")]
    assert printed == promised
    namespace["fl"].close()  # type: ignore[attr-defined]


def test_parallel_steps_example(capsys: pytest.CaptureFixture[str]) -> None:
    section = README.read_text().split("## Parallel steps", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found is not None, "the README has no example under 'Parallel steps'"
    code = found.group(1)
    namespace: dict[str, object] = {}
    exec(compile(code, str(README), "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    promised = [line[2:] for line in code.splitlines() if line.startswith("# ")]
    assert printed == promised
    namespace["fl"].close()  # type: ignore[attr-defined]

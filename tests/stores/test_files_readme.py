"""The docs' JSON-files example runs as written and gives what it says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[2] / "docs" / "guides" / "stores.md"


def example() -> str:
    section = README.read_text().split("## JSON files (bandsaw's layout)", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, "stores.md has no JSON-files example"
    return found.group(1)


def test_the_docs_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = example()
    assert '"file://flightlog-files"' in code  # a folder below the working directory
    code = code.replace("flightlog-files", "files")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "readme_files"}
    exec(compile(code, str(README), "exec"), namespace)
    fl = namespace["fl"]
    try:
        assert namespace["info"]["result"] == {"value": {"type": "int", "value": "3"}}
        assert sorted(namespace["info"]["flightlog"]["steps"]) == ["0", "1"]
        assert fl.get_output("files-demo") == 6
        assert (tmp_path / "files/runs/files-demo/run-info.json").exists()
    finally:
        fl.close()

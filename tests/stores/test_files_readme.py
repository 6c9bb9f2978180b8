"""The README's JSON-files example runs as written and gives what it says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"


def example() -> str:
    section = README.read_text().split("### JSON files (bandsaw's layout)", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, "the README has no JSON-files example"
    return found.group(1)


def test_the_readme_example_runs(tmp_path: Path) -> None:
    code = example()
    assert code.count("/tmp/flightlog-files") == 2
    code = code.replace("/tmp/flightlog-files", str(tmp_path / "files"))
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

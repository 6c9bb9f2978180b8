"""The docs' example of questions at scale runs as written and prints what it says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "docs" / "guides" / "operations.md"


def example() -> str:
    section = README.read_text().split("## Questions at scale, and large values", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, "operations.md has no example under 'Questions at scale'"
    return found.group(1)


def test_the_readme_example_prints_what_it_says() -> None:
    code = example()
    expected = []
    for line in code.splitlines():
        if line.startswith("print("):
            comment = line.split("  # ", 1)
            if len(comment) == 2:
                expected.append(comment[1].split(":", 1)[0] if "shape" in line else comment[1])
        elif line.startswith("# {"):
            expected.append(line[2:])
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), namespace)
    namespace["fl"].close()
    lines = printed.getvalue().splitlines()
    frame_line = lines.pop(5)  # the frame's dict, given on its own comment line
    assert lines == [item for item in expected if not item.startswith("{'run_id'")]
    assert frame_line == next(item for item in expected if item.startswith("{'run_id'"))

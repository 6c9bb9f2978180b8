"""The timeouts and retries example of the docs runs as written and gives what it says."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[2] / "docs" / "guides" / "timeouts-retries-cancel.md"


def example() -> str:
    section = README.read_text().split("## Timeouts and retries", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, "timeouts-retries-cancel.md has no timeouts example"
    return found.group(1)


# pytest-timeout watches from a thread: its default method would take SIGALRM from the example.
@pytest.mark.timeout(120, method="thread")
def test_the_readme_example_runs() -> None:
    namespace: dict[str, Any] = {"__name__": "readme_timeouts"}
    started = time.monotonic()
    exec(compile(example(), str(README), "exec"), namespace)
    assert time.monotonic() - started < 5  # slow() sleeps 10 s twice unless interrupted
    fl = namespace["fl"]
    try:
        assert fl.get_output("crawl") == "page"
        fetch = fl.get_metadata("crawl", name="fetch")
        assert [a["status"] for a in fetch["attempts"]] == ["FAILED", "FAILED", "SUCCESSFUL"]
        assert fetch["step_options"]["retry_delay"] == {
            "initial": 0.01,
            "factor": 2.0,
            "maximum": 1.0,
            "jitter": 0.1,
        }
        assert fetch["step_options"]["retry_on"] == ["ConnectionError"]
        slow = fl.get_metadata("crawl", name="slow")
        assert slow["error"]["message"] == (
            "step 'slow' attempt 2 ran longer than its timeout of 0.2 s and was interrupted"
        )
        assert [a["status"] for a in slow["attempts"]] == ["FAILED", "FAILED"]
        assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL
    finally:
        fl.close()

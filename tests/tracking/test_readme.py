"""The tracking example of the docs runs as written and gives what it says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[2] / "docs" / "guides" / "metrics-files-shell.md"


def example() -> str:
    found = re.search(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert found is not None, "metrics-files-shell.md has no tracking example"
    return found.group(1)


def test_the_readme_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLIGHTLOG_TRACK_lr", raising=False)  # the example sets it
    namespace: dict[str, Any] = {"__name__": "readme_tracking"}
    exec(compile(example(), str(README), "exec"), namespace)
    fl = namespace["fl"]
    try:
        compared = fl.compare(["a", "b"])
        assert compared["a"] == {
            "accuracy": 0.91,
            "loss": 0.5 / 3,
            "lr": 0.5,
            "model": "small",
            "rows": 1000,
        }
        assert compared["b"]["lr"] == 0.1 and compared["b"]["loss"] == 0.1 / 3
        loss = fl.metrics("a", "loss")
        assert [(point["step"], point["value"], point["task_step"]) for point in loss] == [
            (1, 0.5, "train"),
            (2, 0.25, "train"),
            (3, 0.5 / 3, "train"),
        ]
        assert fl.attachments("a")[0]["size"] == 16
        assert fl.read_attachment("a", "weights.bin") == b"\0" * 16
        assert fl.compare_frame(["a", "b"]).loc["b", "model"] == "small"
        assert len(fl.metrics_frame(["a", "b"], name="loss")) == 6
        assert fl.run_log("a")["steps"]["fetch"]["user_defined_metrics"] == {"rows": 1000}
    finally:
        fl.close()

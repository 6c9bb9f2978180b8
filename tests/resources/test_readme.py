"""The resource example of the docs runs as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

README = Path(__file__).resolve().parents[2] / "docs" / "guides" / "resources.md"


def example() -> str:
    found = re.search(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert found is not None, "resources.md has no resource example"
    return found.group(1)


def test_the_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLIGHTLOG_URL", raising=False)
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(example(), str(README), "exec"), namespace)
    fl = namespace["fl"]
    try:
        assert fl.url == "sqlite:///.flightlog/flightlog.db"
        assert fl.stats("images") == {
            "counts": {"total": 3, "pending": 0, "completed": 1, "error": 2, "unavailable": 0}
        }
        assert fl.fetch("images", "img-1").result["size"] == 4  # recomputed: its args changed
        assert (tmp_path / ".flightlog/resources/images/img-1/storage/out.png").exists()
        assert "ValueError: size must be positive" in fl.fetch_error("images", "img-2")
    finally:
        fl.close()

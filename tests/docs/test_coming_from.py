"""The "coming from" pages: one per system flightlog unifies, each with the same parts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs.examples import parse

PAGES = Path(__file__).resolve().parents[2] / "docs" / "coming-from"
SEEDS = ["bandsaw", "runnable", "hadrosaur", "taskflow", "ray-workflows"]
SHORT = ["dbos", "prefect", "joblib", "mlflow"]


def test_the_index_links_every_page_and_only_pages_that_exist() -> None:
    index = (PAGES / "index.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([\w-]+)\.md\)", index))
    assert linked == set(SEEDS + SHORT)
    assert all((PAGES / f"{name}.md").is_file() for name in linked)


@pytest.mark.parametrize("name", SEEDS)
def test_a_seed_page_has_a_side_by_side_table_runnable_code_and_what_differs(name: str) -> None:
    path = PAGES / f"{name}.md"
    text = path.read_text(encoding="utf-8")
    assert re.search(r"^\| [^|]+ \| flightlog \|$", text, re.MULTILINE), "no side-by-side table"
    assert "## What differs, and why" in text
    checked = [block for block in parse(path).blocks if block.kind == "python" and block.expected]
    assert checked, "no runnable example with its output"


@pytest.mark.parametrize("name", SHORT)
def test_a_short_page_has_a_table_and_a_runnable_example(name: str) -> None:
    path = PAGES / f"{name}.md"
    text = path.read_text(encoding="utf-8")
    assert re.search(r"^\| [^|]+ \| flightlog \|$", text, re.MULTILINE)
    assert "**What differs.**" in text
    assert any(block.kind == "python" for block in parse(path).blocks)

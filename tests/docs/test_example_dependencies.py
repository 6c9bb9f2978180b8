"""A page whose examples need a package that flightlog does not install says how to get it.

The examples run in the dev environment, which has every extra; a reader who installed only
flightlog meets an ImportError instead, unless the page names the package to install.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.docs.examples import ROOT, pages, parse

# What to install for each third-party module an example may use: any of these on the page.
INSTALL = {
    "numpy": ("pip install numpy", "flightlog[pandas]"),
    "pandas": ("flightlog[pandas]",),
    "polars": ("flightlog[polars]",),
    "pyarrow": ("flightlog[parquet]",),
    "pydantic": ("pip install pydantic",),
    "mlflow": ("flightlog[mlflow]",),
    "ray": ("flightlog[ray]",),
    "dask": ("flightlog[dask]",),
    "distributed": ("flightlog[dask]",),
    "psycopg": ("flightlog[postgres]",),
    "starlette": ("flightlog[ui]",),
}


def needed(path: Path) -> set[str]:
    """The third-party modules the page's running examples import (or need, for frames)."""
    found: set[str] = set()
    local: set[str] = set()  # modules an example writes itself (e.g. shapes.py)
    for block in parse(path).blocks:
        if block.kind != "python":
            continue
        for node in ast.walk(ast.parse(block.text)):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.endswith(".py")
                and "/" not in node.value
            ):
                local.add(node.value[:-3])
        if "_frame(" in block.text:
            found.add("pandas")
    return {m for m in found - local if m not in sys.stdlib_module_names and m != "flightlog"}


PAGES = [p for p in pages() if needed(p)]


def test_the_rule_sees_the_pages_that_need_packages() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in PAGES}
    assert {"docs/coming-from/joblib.md", "docs/guides/operations.md"} <= names


@pytest.mark.parametrize("path", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_a_page_says_how_to_install_what_its_examples_import(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for module in sorted(needed(path)):
        assert module in INSTALL, f"{path.name}: add {module!r} to INSTALL (what to install)"
        assert any(way in text for way in INSTALL[module]), (
            f"{path.relative_to(ROOT)} uses {module} in an example but says none of "
            f"{INSTALL[module]}"
        )

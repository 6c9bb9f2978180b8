"""The schema page (docs/reference/schema.md) describes every table, view, column and index of
a store that this flightlog makes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import flightlog

PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "schema.md"


def test_every_table_column_and_index_is_on_the_page(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/flightlog.db"
    with flightlog.open(url) as fl:
        fl.task(lambda: 1)()
    page = PAGE.read_text()
    sections = {
        part.split("`", 2)[1]: part for part in page.split("\n## ")[1:] if part.startswith("`")
    }
    missing = []
    with sqlite3.connect(tmp_path / "flightlog.db") as db:
        objects = db.execute(
            "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchall()
        for kind, name in objects:
            if kind == "index":
                if f"`{name}`" not in page:
                    missing.append(f"index {name}")
                continue
            section = next((text for title, text in sections.items() if name in title), None)
            if section is None:
                section = next((text for text in sections.values() if f"`{name}." in text), "")
            if not section:
                missing.append(f"{kind} {name}")
                continue
            for column in (row[1] for row in db.execute(f"PRAGMA table_info({name})")):
                if kind == "view":
                    continue  # step_view: the columns of steps, plus run_id and position
                if f"`{column}`" not in section and f"`{name}.{column}`" not in section:
                    missing.append(f"{name}.{column}")
    assert not missing, f"not on docs/reference/schema.md: {missing}"

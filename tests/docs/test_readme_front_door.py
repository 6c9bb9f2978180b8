"""The README is the front door: its set-up commands, a tour that runs and prints what it says,
and links into the documentation site that lead to pages that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def test_set_up_names_the_two_commands() -> None:
    set_up = README.read_text().split("\n## Set-up\n", 1)[1].split("\n## ", 1)[0]
    assert "make demo" in set_up and "make test" in set_up
    targets = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", targets, re.M) and re.search(r"^test:", targets, re.M)


def test_the_tour_prints_what_it_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLIGHTLOG_URL", raising=False)
    found = re.search(
        r"```python\n(.*?)```\s*```text title=\"Output\"\n(.*?)```", README.read_text(), re.S
    )
    assert found is not None, "the README has no tour with its output"
    namespace: dict[str, object] = {"__name__": "readme_tour"}
    exec(compile(found.group(1), str(README), "exec"), namespace)
    try:
        assert capsys.readouterr().out.splitlines() == found.group(2).splitlines()
        assert (tmp_path / ".flightlog" / "flightlog.db").exists()
    finally:
        namespace["fl"].close()  # type: ignore[attr-defined]


def test_links_into_the_site_lead_to_pages() -> None:
    links = re.findall(r"\]\(((?:docs/)[^)#]+)(?:#[^)]*)?\)", README.read_text())
    assert len(links) >= 10
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, f"the README links to pages that do not exist: {missing}"

"""The troubleshooting page names every exception and warning that flightlog exports."""

from __future__ import annotations

import re
from pathlib import Path

import flightlog
from flightlog import errors

PAGE = Path(__file__).resolve().parents[2] / "docs" / "troubleshooting.md"


def _problems(module: object, names: list[str]) -> set[str]:
    return {
        name
        for name in names
        if isinstance(getattr(module, name), type)
        and issubclass(getattr(module, name), BaseException)
        and getattr(module, name).__module__.startswith("flightlog")
    }


def exported_problems() -> list[str]:
    """Every exception or warning class in ``flightlog.__all__`` and in ``flightlog.errors``."""
    return sorted(_problems(flightlog, list(flightlog.__all__)) | _problems(errors, dir(errors)))


def headings() -> set[str]:
    """The names of the page's section headings (``## Name`` or ``### Name``)."""
    text = PAGE.read_text(encoding="utf-8")
    return {found.strip() for found in re.findall(r"^#{2,3} +(\w+) *$", text, re.MULTILINE)}


def test_the_exported_problems_are_found() -> None:
    # The check below means something only if it sees the errors and the warnings.
    found = exported_problems()
    assert {"FlightlogError", "StoreError", "TrackerWarning", "StoreWarning"} <= set(found)


def test_every_exported_error_and_warning_has_a_section() -> None:
    # The root is described in the page's introduction; every other class has its section.
    assert "flightlog.FlightlogError" in PAGE.read_text(encoding="utf-8")
    missing = [name for name in exported_problems() if name != "FlightlogError"]
    missing = [name for name in missing if name not in headings()]
    assert not missing, f"docs/troubleshooting.md has no section for: {', '.join(missing)}"


def test_each_section_says_what_causes_it_and_what_to_do() -> None:
    text = PAGE.read_text(encoding="utf-8")
    sections = re.split(r"^## +", text, flags=re.MULTILINE)
    errors = {section.split("\n", 1)[0].strip(): section for section in sections[1:]}
    for name in exported_problems():
        if name.endswith("Error") and name != "FlightlogError":
            body = errors[name]
            assert "**Cause.**" in body and "**What to do.**" in body, name

"""The API reference (docs/reference/*.md, rendered by mkdocstrings) covers every public name,
and every public name, method and property it shows has a docstring.

Read with griffe, as mkdocstrings reads them: from the source, docstrings of attributes
included."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import griffe
import pytest

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference"

# Each public module, and the page that documents its ``__all__``.
PAGES = {
    "flightlog": "api.md",
    "flightlog.executors": "executors.md",
    "flightlog.stores": "stores.md",
    "flightlog.trackers": "trackers.md",
    "flightlog.testing": "testing.md",
}
DIRECTIVE = re.compile(r"^::: ([\w.]+)\n((?:    .*\n)*)", re.MULTILINE)


def directives(page: str) -> dict[str, str]:
    """``{dotted name: its options block}`` of the ``:::`` directives on a page."""
    text = (REFERENCE / page).read_text()
    return {match[1]: match[2] for match in DIRECTIVE.finditer(text)}


@pytest.fixture(scope="module")
def package() -> griffe.Object:
    return griffe.load("flightlog", search_paths=[str(ROOT / "src")])


def _resolve(package: griffe.Object, dotted: str) -> griffe.Object:
    found = package[dotted.split(".", 1)[1]] if "." in dotted else package
    return found.final_target if isinstance(found, griffe.Alias) else found


@pytest.mark.parametrize("module", sorted(PAGES))
def test_every_public_name_is_in_the_reference(module: str) -> None:
    shown = directives(PAGES[module])
    missing = [
        name for name in importlib.import_module(module).__all__ if f"{module}.{name}" not in shown
    ]
    assert not missing, f"docs/reference/{PAGES[module]} lacks {missing}"


def _undocumented_members(obj: griffe.Object) -> list[str]:
    """Public methods and properties that mkdocstrings would show, without a docstring."""
    missing = []
    for name, member in obj.all_members.items():
        if name.startswith("_"):
            continue
        if isinstance(member, griffe.Alias):
            try:
                member = member.final_target
            except griffe.AliasResolutionError:
                continue  # defined outside flightlog (the standard library's)
        if not member.path.startswith("flightlog."):
            continue
        if not (member.is_function or "property" in member.labels) or member.docstring:
            continue
        if any(name in base.members and base.members[name].docstring for base in obj.mro()):
            continue  # it implements a method that a base class documents
        missing.append(f"{obj.path}.{name} ({member.relative_filepath}:{member.lineno})")
    return missing


@pytest.mark.parametrize("module", sorted(PAGES))
def test_every_documented_name_has_a_docstring(package: griffe.Object, module: str) -> None:
    missing = []
    for dotted, options in directives(PAGES[module]).items():
        obj = _resolve(package, dotted)
        if not obj.docstring:
            missing.append(dotted)
        if obj.is_class and "members: false" not in options:
            missing += _undocumented_members(obj)
    assert not missing, "without a docstring:\n" + "\n".join(missing)

"""Hostile collection names and identifiers are refused, naming them; nothing escapes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog import Flightlog


@pytest.fixture(params=["memory", "sqlite"])
def fl(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Names are checked before any store is asked: two stores are enough here."""
    monkeypatch.chdir(tmp_path)
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/fl.db"
    with flightlog.open(url) as recorder:
        yield recorder


HOSTILE = [
    "../x",
    "..",
    ".",
    "/etc/passwd",
    "a/b",
    "a\\b",
    "nul\x00byte",
    "line\nbreak",
    "bell\x07",
    " padded",
    "padded ",
    "",
    "x" * 201,
    "\ud800",
]


@pytest.mark.parametrize("ident", HOSTILE)
def test_hostile_identifiers_are_refused(fl: Flightlog, tmp_path: Path, ident: str) -> None:
    calls: list[str] = []
    fl.resource("images")(lambda i, args, ctx: calls.append(i))
    for call in (
        lambda: fl.fetch("images", ident),
        lambda: fl.status("images", ident),
        lambda: fl.fetch_error("images", ident),
        lambda: fl.fetch_log("images", ident),
        lambda: fl.declare("images", ["fine", ident]),
        lambda: fl.fetch_many("images", ["fine", ident]),
    ):
        with pytest.raises(flightlog.InvalidInputError) as refused:
            call()
        message = str(refused.value)
        assert "resource identifier" in message and "'images'" in message
        assert repr(ident)[:60] in message
    assert calls == []
    assert fl.status("images", "fine") == "unavailable"  # the batch was refused as a whole
    made = [path for path in tmp_path.rglob("*") if "resources" in path.parts[:-1]]
    assert [path.name for path in made] == ["images"]  # the collection's own folder, empty


@pytest.mark.parametrize("name", [*HOSTILE, "x" * 101])
def test_hostile_collection_names_are_refused(fl: Flightlog, name: str) -> None:
    with pytest.raises(flightlog.InvalidInputError, match="resource collection name"):
        fl.resource(name)(lambda ident, args, ctx: None)
    with pytest.raises(flightlog.InvalidInputError, match="resource collection name"):
        fl.stats(name)


@pytest.mark.parametrize("ident", [None, 1.5, b"bytes", True, ["a"]])
def test_identifiers_of_other_types_are_refused(fl: Flightlog, ident: Any) -> None:
    fl.resource("images")(lambda i, args, ctx: None)
    with pytest.raises(flightlog.InvalidInputError, match="must be a string"):
        fl.fetch("images", ident)


@pytest.mark.parametrize(
    "ident", ["img 1", "ümlaut-ß", "2024-01-01T10:00:00", "a.b.c", "-x", "日本"]
)
def test_unusual_but_safe_identifiers_work(fl: Flightlog, ident: str) -> None:
    @fl.resource("images")
    def where(i: str, args: Any, ctx: Any) -> str:
        return str(ctx.subdir)

    stored = Path(fl.fetch("images", ident).result)
    assert stored.parent.name == ident and stored.is_dir()
    assert fl.fetch_by_status("images", "completed") == [ident]


def test_reserved_run_ids(fl: Flightlog) -> None:
    @fl.workflow
    def pipeline() -> None:
        return None

    with pytest.raises(flightlog.InvalidInputError, match="resource:"):
        pipeline.run(run_id="resource:images")

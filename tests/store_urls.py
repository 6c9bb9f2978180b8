"""The stores that the conformance suite and the runtime tests run over, by kind."""

from __future__ import annotations

from pathlib import Path

import pytest

STORE_KINDS = ("memory", "sqlite", "postgres", "files")


def store_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh, empty store of this kind for the requesting test."""
    if kind == "memory":
        return "memory://"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    if kind == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    if kind == "files":
        # Without fsync, like the PostgreSQL test server: the same atomic files, minus the
        # disk flushes. tests/stores/test_files_*.py run the store as configured by default
        # (the conformance suite included).
        return f"file://{tmp_path}/files?fsync=false"
    raise ValueError(f"unknown store kind {kind!r}")

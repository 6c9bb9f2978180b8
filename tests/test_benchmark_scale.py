"""``benchmarks/scale.py`` runs at a tiny size (its figures are not checked: not a timed test),
and a second run reuses the store the first one built."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flightlog.stores import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(240)
def test_the_scale_benchmark_runs_small_and_reuses_its_store(
    tmp_path: Path, postgres_url: str
) -> None:
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "scale.py"),
        *("--steps", "900", "--runs", "9", "--big", "300", "--record", "20"),
        *("--cache-dir", str(tmp_path / "cache")),
    ]
    first = subprocess.run(
        [*command, "--postgres-url", postgres_url],
        capture_output=True,
        text=True,
        timeout=200,
        cwd=ROOT,
    )
    assert first.returncode == 0, first.stderr
    for expected in (
        "building 900 steps in 9 runs",
        "SQLite bytes per step",
        "counts()",
        "list_runs(params={'lr': 0.3}, limit=50)",
        "steps() of the 300-step run",
        "get_status(the big run)",
        "resume of the 300-step run",
        "files store bytes per step",
        "copy to PostgreSQL",
        "counts() on PostgreSQL",
        "gc(older_than='100d'): 4 of 9 runs",
    ):
        assert expected in first.stdout, expected
    again = subprocess.run(
        [*command, "--no-postgres", "--no-files"],
        capture_output=True,
        text=True,
        timeout=200,
        cwd=ROOT,
    )
    assert again.returncode == 0, again.stderr
    assert "the store, cached" in again.stdout and "building" not in again.stdout
    key = f"schema{SCHEMA_VERSION}-layout1-900-9-300"
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [key]

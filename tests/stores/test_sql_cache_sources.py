"""A cache lookup that finds a step whose run is gone (deleted by gc in another process
between the moments it reads) is a miss, not an error."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from flightlog.model import Status
from flightlog.stores import open_store
from flightlog.testing import make_run, make_step


def test_a_cached_step_whose_run_is_gone_is_a_miss(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    try:
        store.create_run(make_run("old", status=Status.SUCCESSFUL))
        store.finish_step(make_step("old", 0, cache=True, execution_id="e", result="1"))
        # What a lookup sees when gc's deletion commits between its reading of the step and
        # of the step's run: the step without its run.
        with closing(sqlite3.connect(tmp_path / "s.db")) as other:
            other.execute("DELETE FROM runs WHERE run_id = 'old'")
            other.commit()
        assert store.find_cached("t" * 32, "e") is None
    finally:
        store.close()

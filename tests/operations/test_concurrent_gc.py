"""gc while another process records: nothing that was kept is lost, and a store's file shrinks."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import flightlog
from flightlog.model import Origin

WRITER = textwrap.dedent(
    """
    import sys
    import flightlog

    fl = flightlog.open(sys.argv[1])

    @fl.task(cache=True)
    def embed(x: int) -> str:
        flightlog.attach("shared.txt", data=b"the same bytes in every run")
        flightlog.attach("own.txt", data=f"only {x}".encode())
        return "v" * 1000

    @fl.workflow
    def pipeline(index: int) -> int:
        embed(index % 3)  # served from cache by earlier runs, mostly
        embed(index)
        return index

    print("started", flush=True)
    for index in range(int(sys.argv[2])):
        pipeline.run(index, run_id=f"run-{index}")
    print("done", flush=True)
    """
)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind", ["sqlite", "postgres", "files"])
def test_gc_under_concurrent_recording_loses_nothing_kept(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from ..store_urls import store_url

    url = store_url(kind, request, tmp_path)
    flightlog.open(url).close()  # made before the writer starts
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    runs = 60
    writer = subprocess.Popen(
        [sys.executable, str(script), url, str(runs)],
        stdout=subprocess.PIPE,
        text=True,
    )
    deleted: set[str] = set()
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "started\n"
        with flightlog.open(url) as fl:
            while writer.poll() is None:
                report = fl.gc(keep_last=3, blob_grace=0)
                assert not deleted & set(report.runs)
                deleted.update(report.runs)
            assert writer.wait(60) == 0
            deleted.update(fl.gc(keep_last=3, blob_grace=0).runs)
            kept = [run["run_id"] for run in fl.list_runs()]
            assert set(kept) | deleted == {f"run-{index}" for index in range(runs)}
            assert not set(kept) & deleted
            assert len(kept) >= 3 and deleted
            for run_id in kept:
                steps = fl.store.list_steps(run_id)
                assert [step.name for step in steps] == ["embed", "embed_1"], run_id
                for step in steps:
                    assert step.result is not None
                    if step.origin is Origin.CACHED:
                        assert fl.store.get_run(step.source_run or "") is not None, run_id
                attached = fl.store.list_attachments(run_id)
                assert attached, run_id
                for item in attached:
                    assert fl.store.get_blob(item.sha256) is not None, (run_id, item.name)
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.wait(30)
        if writer.stdout is not None:
            writer.stdout.close()


def test_sqlite_file_shrinks_after_gc(tmp_path: Path) -> None:
    path = tmp_path / "big.db"
    with flightlog.open(f"sqlite:///{path}") as fl:

        @fl.workflow
        def big(index: int) -> str:
            flightlog.attach("blob.bin", data=bytes([index]) * 50_000)
            return "x" * 20_000

        for index in range(60):
            big.run(index, run_id=f"big-{index}")
        fl.store.compact()  # the log folded in: the size of what is there
        before = path.stat().st_size
        report = fl.gc(keep_last=5)
        assert len(report.runs) == 55 and report.blobs == 55
        assert report.compacted > 0
        after = path.stat().st_size
        assert after < before / 4, (before, after)
        assert fl.get_output("big-59") == "x" * 20_000
        # VACUUM on request (also for a store made before incremental vacuum)
        with fl.store._connection() as connection:  # type: ignore[attr-defined]
            assert connection.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
        fl.gc(keep_last=5, vacuum=True)
        assert path.stat().st_size <= after

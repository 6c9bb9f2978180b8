"""gc while another process records runs that compute and fetch resources: the writer never
fails, every resource a kept run used is there (record and files), and what only deleted runs
computed or used is gone."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import flightlog

from ..store_urls import store_url

WRITER = textwrap.dedent(
    """
    import sys
    import flightlog

    fl = flightlog.open(sys.argv[1], data_dir=sys.argv[3])

    @fl.resource("tiles")
    def tile(ident, args, ctx):
        (ctx.subdir / "tile.bin").write_bytes(ident.encode() * 100)
        return len(ident)

    @fl.task
    def render(ident: str) -> int:
        return fl.fetch("tiles", ident).result

    @fl.workflow
    def pipeline(index: int) -> int:
        shared = render(f"shared-{index % 3}")  # computed by early runs, used by later ones
        own = render(f"own-{index}")  # computed by this run alone
        return shared + own

    print("started", flush=True)
    for index in range(int(sys.argv[2])):
        pipeline.run(index, run_id=f"run-{index}")
    print("done", flush=True)
    """
)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind", ["sqlite", "postgres", "files"])
def test_gc_under_concurrent_fetches_keeps_every_resource_a_kept_run_used(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = store_url(kind, request, tmp_path)
    data = tmp_path / "data"
    flightlog.open(url, data_dir=data).close()  # made before the writer starts
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    runs = 40
    writer = subprocess.Popen(
        [sys.executable, str(script), url, str(runs), str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    gone: set[str] = set()
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "started\n"
        with flightlog.open(url, data_dir=data) as fl:
            while writer.poll() is None:
                report = fl.gc(keep_last=3, blob_grace=0)
                gone.update(report.resources)
            assert writer.wait(60) == 0, writer.stderr.read() if writer.stderr else ""
            gone.update(fl.gc(keep_last=3, blob_grace=0).resources)
            kept = [run["run_id"] for run in fl.list_runs() if run["run_id"].startswith("run-")]
            assert sorted(kept) == ["run-37", "run-38", "run-39"]
            assert any(name.startswith("tiles/own-") for name in gone)
            # Each kept run used (a recorded use) or computed (it computed again one that gc
            # had deleted, or one of its own) its two resources: all there, files and all.
            used: set[str] = set()
            for run_id in kept:
                idents = {use.ident for use in fl.store.resource_uses([run_id])}
                idents |= {record.ident for record in fl.store.resources_computed_by([run_id])}
                index = int(run_id.split("-")[1])
                assert idents == {f"shared-{index % 3}", f"own-{index}"}, run_id
                for ident in idents:
                    found = fl.fetch("tiles", ident, wait=False)
                    assert found.status == "completed", (run_id, ident)
                    tile = data / "resources" / "tiles" / ident / "storage" / "tile.bin"
                    assert tile.read_bytes() == ident.encode() * 100, (run_id, ident)
                used |= idents
            assert used == {"shared-0", "shared-1", "shared-2", "own-37", "own-38", "own-39"}
            # What only deleted runs computed or used is gone, records and folders.
            left = {record.ident for record in fl.store.list_resources("tiles")}
            assert left == used
            folders = {path.name for path in (data / "resources" / "tiles").iterdir()}
            assert folders == used
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.wait(30)
        for stream in (writer.stdout, writer.stderr):
            if stream is not None:
                stream.close()

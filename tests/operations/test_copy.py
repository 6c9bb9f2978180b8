"""``flightlog.copy``: a rich store (failed, resumed, cached, replayed, retried, crashed and
canceled runs; nested steps; logs; metrics; attachments; resources with their files; task
versions) goes losslessly through every pair of store kinds, read back through the public API.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import flightlog
from flightlog.codec_blobs import blob_references
from flightlog.model import Step
from flightlog.testing import make_run

from ..postgres_server import Schemas

KINDS = ("memory", "sqlite", "files", "postgres", "teststore")
COLLECTION = "images"


LARGE = np.arange(300_000, dtype=np.float64)  # 2.4 MB: stored out of line, in a blob


def fill(fl: flightlog.Flightlog) -> None:
    """Record one of everything into ``fl``, with real workflows."""
    calls = {"flaky": 0}
    broken = {"on": True}

    @fl.task
    def large(scale: float) -> Any:
        return LARGE * scale

    assert np.array_equal(large(1.0), LARGE)  # a lone task: a run whose output is out of line

    @fl.task
    def add(left: int, right: int) -> int:
        return left + right

    @fl.task(cache=True)
    def square(value: int) -> int:
        flightlog.track(loss=1.0 / (value + 1), step=1)
        flightlog.track(loss=math.nan, step=2, note={"text": "nan on purpose"})
        return value * value

    @fl.task(retries=2)
    def flaky(value: int) -> int:
        calls["flaky"] += 1
        if calls["flaky"] % 2:
            raise RuntimeError("flaky: every other call fails")
        print("flaky printed this")
        flightlog.attach("out.bin", data=bytes(range(256)) * 4)
        return value

    @fl.task
    def outer(value: int) -> int:
        return add(value, 1)  # a nested step

    @fl.task(metadata={"owner": "team-a"})
    def fragile(value: int) -> int:
        logging.getLogger("fragile").warning("fragile looks at %s", value)
        if broken["on"]:
            raise ValueError(f"fragile refuses {value}")
        return value + 1

    @fl.workflow
    def pipeline(n: int) -> int:
        flightlog.track(body=n)
        flightlog.attach("notes.txt", data=f"notes for {n}".encode())
        total = add(n, square(n)) + outer(n)
        total += flaky(total)
        return fragile(total)

    with pytest.raises(ValueError, match="fragile refuses"):
        pipeline.run(2, run_id="fixed", metadata={"k": "v"}, tag="exp1")
    broken["on"] = False
    assert fl.resume("fixed") == 2 + 4 + 3 + 9 + 1
    pipeline.run(2, run_id="cached", tag="exp2")  # square served from the cache
    broken["on"] = True
    with pytest.raises(ValueError):
        pipeline.run(3, run_id="failed")
    assert add(20, 22) == 42  # a lone task: a run of its own

    # A run whose process died mid-step (it reads RESUMABLE), and one canceled from outside.
    store = fl.store
    now = time.time()
    store.create_run(make_run("crashed", lease_expires=now - 30, last_seen=now - 40))
    store.start_step(
        Step("crashed", "add", 0, "add", "t" * 32, "e" * 32, start_time=now - 45, log="half\n")
    )
    store.create_run(make_run("canceled", owner=None, lease_expires=None))
    assert store.request_cancel("canceled", end_time=now)

    @fl.resource(COLLECTION)
    def make_image(ident: str, args: dict[str, Any], ctx: Any) -> dict[str, Any]:
        ctx.logger.info("rendering %s", ident)
        if args["size"] <= 0:
            raise ValueError(f"size must be positive, not {args['size']}")
        (ctx.subdir / "out.png").write_bytes(b"png" * args["size"])
        return {"size": args["size"]}

    fl.fetch(COLLECTION, "img-1", args={"size": 3})
    fl.fetch(COLLECTION, "img-1", args={"size": 4}, recompute=True)  # a history
    with pytest.raises(ValueError):
        fl.fetch(COLLECTION, "bad", args={"size": 0})
    fl.declare(COLLECTION, ["later-1", "later-2"])

    @fl.task
    def thumbnail(ident: str) -> int:
        return int(fl.fetch(COLLECTION, ident, args={"size": 2}).result["size"])

    @fl.workflow
    def thumbnails() -> int:  # computes img-2 (in its step) and uses img-1
        return thumbnail("img-2") + thumbnail("img-1")

    assert thumbnails.run(run_id="thumbs") == 2 + 4


def snapshot(fl: flightlog.Flightlog) -> dict[str, Any]:
    """Everything the public API tells about the store's records."""
    runs = fl.list_runs()
    found: dict[str, Any] = {"runs": runs, "per_run": {}, "tasks": {}}
    for run in runs:
        run_id = run["run_id"]
        steps = fl.steps(run_id)
        found["per_run"][run_id] = {
            "metadata": fl.get_metadata(run_id),
            "status": fl.get_status(run_id),
            "steps": steps,
            "each_step": [fl.get_metadata(run_id, name=step["name"]) for step in steps],
            "metrics": repr(fl.metrics(run_id)),  # repr: NaN is equal to nothing
            "attachments": fl.attachments(run_id),
            "bytes": [
                fl.read_attachment(run_id, item["name"], item["step"])
                for item in fl.attachments(run_id)
            ],
        }
        if not run_id.startswith("resource:"):  # a collection, seen as a run
            log = fl.run_log(run_id)
            del log["run_config"]  # which names the store it is in, as the catalog does:
            text = repr(log).replace(fl.store.url, "<store>").replace(fl.url, "<store>")
            found["per_run"][run_id]["run_log"] = text
        for step in fl.store.list_steps(run_id):
            found["tasks"][step.task_id] = fl.store.get_task(step.task_id)
    found["resources"] = fl.stats()
    idents = sorted(
        ident
        for status in ("completed", "pending", "error", "unavailable")
        for ident in fl.fetch_by_status(COLLECTION, status)
    )
    found["resource_records"] = [fl.store.get_resource(COLLECTION, ident) for ident in idents]
    found["uses"] = sorted(
        fl.store.resource_uses([run["run_id"] for run in runs]), key=lambda use: repr(use)
    )
    assert found["resource_records"][idents.index("img-2")].run_id == "thumbs"
    computed = ["bad", "img-1"]
    found["errors"] = [fl.fetch_error(COLLECTION, ident) for ident in computed]
    found["logs"] = [fl.fetch_log(COLLECTION, ident) for ident in computed]
    storage = fl.fetch(COLLECTION, "img-1").paths["storage"]
    found["files"] = Path(storage, "out.png").read_bytes()
    return found


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[flightlog.Flightlog, Any]]:
    """The rich source store (memory) and its snapshot."""
    data = tmp_path_factory.mktemp("source-data")
    fl = flightlog.open("memory://", data_dir=data)
    fill(fl)
    yield fl, snapshot(fl)
    fl.close()


class Stores:
    """Fresh, empty stores of each kind for one test."""

    def __init__(self, request: pytest.FixtureRequest, tmp_path: Path) -> None:
        self.request = request
        self.tmp_path = tmp_path
        self.opened: list[flightlog.Flightlog] = []

    def open(self, kind: str, label: str) -> flightlog.Flightlog:
        folder = self.tmp_path / label
        folder.mkdir()
        if kind == "memory":
            url = "memory://"
        elif kind == "teststore":
            url = "teststore://"
        elif kind == "sqlite":
            url = f"sqlite:///{folder}/store.db"
        elif kind == "files":
            url = f"file://{folder}/files?fsync=false"
        else:
            schemas: Schemas = self.request.getfixturevalue("postgres_schemas")
            url = schemas.fresh_url()
        data = None if kind in ("sqlite", "files") else folder / "data"
        fl = flightlog.open(url, data_dir=data)
        self.opened.append(fl)
        return fl

    def close(self) -> None:
        for fl in self.opened:
            fl.close()


@pytest.fixture
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    made = Stores(request, tmp_path)
    yield made
    made.close()


def _data_dir(fl: flightlog.Flightlog) -> Path:
    return fl._resources.root  # type: ignore[attr-defined,no-any-return]


def _copy(source: flightlog.Flightlog, target: flightlog.Flightlog) -> flightlog.CopyReport:
    return flightlog.copy(source, target, data_dirs=(_data_dir(source), _data_dir(target)))


@pytest.mark.parametrize("first", KINDS)
@pytest.mark.parametrize("second", KINDS)
def test_a_rich_store_goes_through_every_pair_of_stores_losslessly(
    rich: tuple[flightlog.Flightlog, Any], stores: Stores, first: str, second: str
) -> None:
    source, expected = rich
    middle = stores.open(first, "first")
    report = _copy(source, middle)
    assert report.conflicts == []
    stored_runs = len(source.store.list_runs())
    assert (report.runs, report.resources, report.tasks) == (stored_runs, 5, 8)
    target = stores.open(second, "second")
    _copy(middle, target)
    assert snapshot(target) == expected
    # The large result went out of line, as a blob of its own, and came through whole.
    (large,) = [run["run_id"] for run in target.list_runs() if run["workflow"] == "large"]
    assert np.array_equal(target.get_output(large), LARGE)
    (step,) = target.store.list_steps(large)
    (digest,) = blob_references(step.result)
    assert target.store.blob_size(digest) == LARGE.nbytes
    assert digest in target.store.referenced_blobs()
    # Copying again adds nothing.
    again = _copy(middle, target)
    assert again.to_dict() == {
        "runs": 0,
        "unchanged": stored_runs,
        "steps": 0,
        "chunks": 0,
        "attachments": 0,
        "blobs": 0,
        "tasks": 0,
        "resources": 0,
        "uses": 0,
        "conflicts": [],
    }
    assert snapshot(target) == expected

"""A run's large arguments (``flow.run(array)``) go out of line into the store's blobs, like a
step's, on every store: read back on resume and by ``fl.get_arguments``, described (not read)
by listings, collected by gc with the last run that refers to them, copied by
``flightlog.copy``."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import flightlog
from flightlog import ArgumentMismatchError, Flightlog, Undecoded, cli
from flightlog.codec_blobs import StoreBlobs, blob_references

BIG = np.arange(300_000, dtype=np.float64)  # 2.4 MB: above the threshold, out of line


def _flow(fl: Flightlog, failing: list[bool]) -> Any:
    @fl.workflow
    def flow(values: np.ndarray, scale: float = 1.0) -> float:
        if failing and failing[0]:
            raise RuntimeError("stop here")
        return float(values.sum() * scale)

    return flow


def _argument_blob(fl: Flightlog, run_id: str) -> str:
    run = fl.store.get_run(run_id)
    assert run is not None and run.arguments is not None
    assert len(run.arguments) < 400  # a reference, not 3.2 MB of base64
    (digest,) = blob_references(run.arguments)
    return digest


def test_large_run_arguments_go_out_of_line_and_resume(fl: Flightlog) -> None:
    failing = [True]
    flow = _flow(fl, failing)
    with pytest.raises(RuntimeError):
        flow.run(BIG, scale=2.0, run_id="r")
    digest = _argument_blob(fl, "r")
    assert fl.store.blob_size(digest) == BIG.nbytes
    recorded = fl.get_arguments("r")
    assert np.array_equal(recorded["args"][0], BIG) and recorded["kwargs"] == {"scale": 2.0}
    failing[0] = False
    assert fl.resume("r") == float(BIG.sum() * 2.0)  # its arguments read from the blob
    # the same id again: the same arguments give the output; others are refused, by name
    assert flow.run(BIG, scale=2.0, run_id="r") == float(BIG.sum() * 2.0)
    with pytest.raises(ArgumentMismatchError, match="'values'"):
        flow.run(BIG + 1, scale=2.0, run_id="r")


def test_a_task_called_alone_stores_its_large_arguments_out_of_line(fl: Flightlog) -> None:
    @fl.task
    def total(values: np.ndarray) -> float:
        return float(values.sum())

    assert total(BIG) == float(BIG.sum())
    (run,) = fl.store.list_runs()
    _argument_blob(fl, run.run_id)
    assert np.array_equal(fl.get_arguments(run.run_id)["args"][0], BIG)


def test_listings_describe_large_run_arguments_without_reading_them(
    fl: Flightlog, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    flow = _flow(fl, [])
    flow.run(BIG, run_id="r")
    digest = _argument_blob(fl, "r")
    reads: list[str] = []
    read = StoreBlobs.read

    def counted(self: StoreBlobs, sha256: str, size: int) -> bytearray:
        reads.append(sha256)
        return read(self, sha256, size)

    monkeypatch.setattr(StoreBlobs, "read", counted)
    (listed,) = fl.list_runs()
    described = listed["arguments"]["args"][0]
    assert isinstance(described, Undecoded) and described.kind == "ndarray"
    assert described.data["shape"] == [BIG.size] and described.data["blob"] == digest
    assert described.data["size"] == BIG.nbytes
    assert isinstance(fl.get_metadata("r")["arguments"]["args"][0], Undecoded)
    assert fl.list_runs(search="flow")[0]["run_id"] == "r"
    assert fl.browse.runs()["runs"][0]["run_id"] == "r"
    if fl.store.url != "memory://":  # the command line opens the store itself
        for command in (["runs"], ["show", "r"]):
            out = io.StringIO()
            assert cli.main(["--url", fl.store.url, *command], out=out) == 0, out.getvalue()
            assert "r" in out.getvalue()
    assert reads == []
    assert np.array_equal(fl.get_arguments("r")["args"][0], BIG)
    assert reads == [digest]


def test_gc_collects_large_run_arguments_with_the_last_run_using_them(fl: Flightlog) -> None:
    flow = _flow(fl, [])
    flow.run(BIG, run_id="first")
    flow.run(BIG, run_id="second")  # the same array: the same blob, stored once
    flow.run(BIG * 3, run_id="other")
    digest = _argument_blob(fl, "first")
    assert _argument_blob(fl, "second") == digest
    assert fl.delete_run("first", blob_grace=0).blobs == 0
    assert np.array_equal(fl.get_arguments("second")["args"][0], BIG)
    dry = fl.delete_run("second", dry_run=True, blob_grace=0)
    assert (dry.blobs, dry.bytes) == (1, BIG.nbytes)
    report = fl.delete_run("second", blob_grace=0)
    assert (report.blobs, report.bytes) == (1, BIG.nbytes)
    assert fl.store.blob_size(digest) is None
    assert np.array_equal(fl.get_arguments("other")["args"][0], BIG * 3)
    assert fl.gc(status=["FAILED"], blob_grace=0).blobs == 0  # what "other" uses stays
    assert np.array_equal(fl.get_arguments("other")["args"][0], BIG * 3)


def test_copy_takes_large_run_arguments_along(fl: Flightlog, tmp_path: Path) -> None:
    flow = _flow(fl, [])
    flow.run(BIG, run_id="r")
    digest = _argument_blob(fl, "r")
    with flightlog.open(f"sqlite:///{tmp_path}/copy.db") as target:
        report = flightlog.copy(fl, target)
        assert report.runs == 1 and report.blobs >= 1
        assert target.store.blob_size(digest) == BIG.nbytes
        assert np.array_equal(target.get_arguments("r")["args"][0], BIG)


def test_step_listings_describe_large_step_arguments(fl: Flightlog) -> None:
    @fl.task
    def total(values: np.ndarray) -> float:
        return float(values.sum())

    @fl.workflow
    def flow() -> float:
        return total(BIG)

    flow.run(run_id="r")
    (step,) = fl.steps("r")
    described = step["arguments"]["values"]
    assert isinstance(described, Undecoded) and described.data["size"] == BIG.nbytes
    assert isinstance(fl.get_metadata("r", "total")["arguments"]["values"], Undecoded)

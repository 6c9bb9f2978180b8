"""Large results and arguments go out of line into the store's blobs, on every store."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import flightlog
from flightlog.codec_blobs import blob_references

from .store_urls import STORE_KINDS, store_url


def _stored_result(fl: flightlog.Flightlog, run_id: str, name: str) -> str:
    step = fl.store.get_step(run_id, name)
    assert step is not None and step.result is not None
    return step.result


def test_a_large_array_result_is_stored_once_and_read_back(fl: flightlog.Flightlog) -> None:
    array = np.arange(600_000, dtype=np.float64).reshape(1000, 600)  # 4.8 MB

    @fl.task
    def make(seed: int) -> np.ndarray:
        return array.copy()

    @fl.workflow
    def flow() -> float:
        return float(make(1).sum() + make(2).sum())

    flow.run(run_id="big")
    first, second = _stored_result(fl, "big", "make"), _stored_result(fl, "big", "make_1")
    assert len(first) < 300 and first == second  # a reference, to one blob
    (digest,) = blob_references(first)
    assert digest == hashlib.sha256(array.tobytes()).hexdigest()
    assert fl.store.blob_size(digest) == array.nbytes
    assert digest in fl.store.referenced_blobs()
    back = fl.get_step_result("big", "make")
    assert isinstance(back, np.ndarray) and back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)
    back[0, 0] = -1.0  # the reader's own, writable copy


def test_large_bytes_text_and_pickled_values(fl: flightlog.Flightlog) -> None:
    blob = bytes(range(256)) * 20_000  # 5 MB
    words = ["word"] * 400_000  # a list whose JSON text is 3.2 MB

    @fl.task
    def raw() -> bytes:
        return blob

    @fl.task
    def text() -> list[str]:
        return words

    @fl.task(serializer="pickle")
    def pickled() -> dict[str, bytearray]:
        return {"data": bytearray(blob)}

    @fl.workflow
    def flow() -> int:
        return len(raw()) + len(text()) + len(pickled()["data"])

    assert flow.run(run_id="values") == 2 * len(blob) + len(words)
    for name in ("raw", "text", "pickled"):
        assert len(_stored_result(fl, "values", name)) < 300
    assert fl.get_step_result("values", "raw") == blob
    assert fl.get_step_result("values", "text") == words


def test_large_step_arguments_go_out_of_line_and_replay(fl: flightlog.Flightlog) -> None:
    big = np.ones((512, 1024), dtype=np.int32)  # 2 MB
    calls: list[int] = []
    failing = [True]

    @fl.task
    def double(values: np.ndarray) -> np.ndarray:
        calls.append(1)
        return values * 2

    @fl.workflow
    def flow() -> int:
        doubled = double(big)
        if failing[0]:
            raise RuntimeError("stop here")
        return int(doubled.sum())

    with pytest.raises(RuntimeError):
        flow.run(run_id="args")
    step = fl.store.get_step("args", "double")
    assert step is not None and step.arguments is not None and len(step.arguments) < 400
    assert step.result is not None and len(step.result) < 400
    failing[0] = False
    assert fl.resume("args") == 2 * big.size  # the large result replayed from its blob
    assert calls == [1]


def test_small_values_stay_inline(fl: flightlog.Flightlog) -> None:
    @fl.task
    def small() -> np.ndarray:
        return np.arange(10)

    @fl.workflow
    def flow() -> int:
        return int(small().sum())

    flow.run(run_id="small")
    stored = _stored_result(fl, "small", "small")
    assert '"b64"' in stored and not blob_references(stored)
    assert fl.store.referenced_blobs() == set()


def test_a_damaged_blob_is_never_used(tmp_path: Path) -> None:
    fl = flightlog.open(f"sqlite:///{tmp_path}/store.db")
    array = np.arange(1_000_000, dtype=np.int64)  # 8 MB: two pieces

    @fl.task
    def make() -> np.ndarray:
        return array

    @fl.workflow
    def flow() -> int:
        return int(make()[-1])

    flow.run(run_id="r")
    fl.close()
    with sqlite3.connect(tmp_path / "store.db") as connection:
        connection.execute("UPDATE blob_chunks SET data = zeroblob(length(data)) WHERE part = 1")
    fl = flightlog.open(f"sqlite:///{tmp_path}/store.db")
    with pytest.raises(flightlog.FlightlogError, match="does not match its digest"):
        fl.get_step_result("r", "make")
    fl.close()


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_resource_result_goes_out_of_line(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    fl = flightlog.open(store_url(kind, request, tmp_path), data_dir=tmp_path / "data")
    request.addfinalizer(fl.close)

    @fl.resource("arrays")
    def make(ident: str, args: dict[str, int], ctx: object) -> np.ndarray:
        return np.full(args["n"], 7, dtype=np.int64)

    first = fl.fetch("arrays", "a", args={"n": 300_000})  # 2.4 MB
    assert int(first.result.sum()) == 7 * 300_000
    record = fl.store.get_resource("arrays", "a")
    assert record is not None and record.result is not None and len(record.result) < 300
    assert blob_references(record.result) <= fl.store.referenced_blobs()
    again = fl.fetch("arrays", "a")
    np.testing.assert_array_equal(again.result, first.result)

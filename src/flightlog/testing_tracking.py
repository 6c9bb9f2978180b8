"""The store conformance suite's part on tracked values: metric chunks, attachments, blobs.

:class:`flightlog.testing.StoreContract` inherits :class:`TrackingStoreContract`, so that every
store must pass these tests too.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from array import array
from dataclasses import replace
from typing import Any

import pytest

from .errors import NotFoundError
from .model import AttachmentRecord, MetricChunk, Owner, Run, Status, Step
from .stores import Store


def _run(run_id: str) -> Run:
    start = time.time()
    return Run(
        run_id=run_id,
        workflow="pipeline",
        status=Status.RUNNING,
        start_time=start,
        created_time=start,
        owner=Owner(host="host-a", pid=4242),
    )


def _step(run_id: str, position: int, name: str) -> Step:
    start = time.time()
    return Step(
        run_id=run_id,
        name=name,
        position=position,
        task_name="train",
        task_id="t" * 32,
        status=Status.SUCCESSFUL,
        start_time=start,
        end_time=start + 1,
        result="null",
    )


def _chunk(
    name: str, values: list[Any], position: int | None = 0, step_name: str | None = "train"
) -> MetricChunk:
    count = len(values)
    return MetricChunk(
        name=name,
        position=position,
        step_name=step_name,
        steps=list(range(count)),
        values=values,
        times=[1_700_000_000.0 + index / 8 for index in range(count)],
    )


def _points(chunk: MetricChunk) -> list[tuple[Any, ...]]:
    return list(zip(chunk.steps, chunk.values, chunk.times, strict=True))


class TrackingStoreContract:
    """Storage of what runs track. Needs the ``store`` fixture of StoreContract."""

    def test_metric_chunks_round_trip_in_write_order(self, store: Store) -> None:
        store.create_run(_run("run-1"))
        floats = _chunk("loss", [0.5, 0.25, -1e300, 1 / 3])
        ints = _chunk("count", [0, -(2**63), 2**63 - 1, 7])
        mixed = _chunk("note", ["a", None, True, {"k": [1, 2.5]}, [1, "x"], 3, 2.5, 10**30])
        store.finish_step(_step("run-1", 0, "train"), metrics=[floats, ints, mixed])
        found = store.list_metrics("run-1")
        assert [chunk.name for chunk in found] == ["loss", "count", "note"]
        for written, read in zip([floats, ints, mixed], found, strict=True):
            assert (read.position, read.step_name) == (0, "train")
            assert _points(read) == _points(written)
            assert [type(value) for value in read.values] == [
                type(value) for value in written.values
            ]
        step = store.get_step("run-1", "train")
        assert step is not None and step.status is Status.SUCCESSFUL

    def test_special_floats_and_long_series_round_trip(self, store: Store) -> None:
        store.create_run(_run("run-1"))
        values = [math.sin(index) for index in range(50_000)]
        values[3] = math.nan
        values[4] = math.inf
        chunk = MetricChunk(
            "wave", 0, "train", array("q", range(50_000)), values, array("d", values)
        )
        store.finish_step(_step("run-1", 0, "train"), metrics=[chunk])
        (read,) = store.list_metrics("run-1", "wave")
        assert list(read.steps) == list(range(50_000))
        assert math.isnan(read.values[3]) and read.values[4] == math.inf
        assert read.values[:3] == values[:3] and read.values[5:] == values[5:]

    def test_several_steps_finish_together_with_what_they_tracked(self, store: Store) -> None:
        store.create_run(_run("run-1"))
        store.create_run(_run("run-2"))
        first = _step("run-1", 0, "train")
        second = replace(_step("run-1", 1, "score"), task_name="score")
        other = _step("run-2", 0, "train")
        store.start_step(replace(first, status=Status.RUNNING, end_time=None, result=None))
        store.finish_steps(
            [
                (first, [_chunk("loss", [0.5], 0, "train")], []),
                (second, [_chunk("loss", [0.25], 1, "score")], []),
                (other, [], []),
            ]
        )
        assert store.list_steps("run-1") == [first, second]
        assert store.list_steps("run-2") == [other]
        assert [list(c.values) for c in store.list_metrics("run-1", "loss")] == [[0.5], [0.25]]
        store.finish_steps([])
        with pytest.raises(NotFoundError):
            store.finish_steps([(_step("ghost", 0, "train"), [], [])])

    def test_metrics_are_appended_never_replaced(self, store: Store) -> None:
        store.create_run(_run("run-1"))
        store.finish_step(_step("run-1", 0, "train"), metrics=[_chunk("loss", [1.0])])
        store.finish_step(_step("run-1", 0, "train"), metrics=[_chunk("loss", [2.0])])
        store.finish_step(_step("run-1", 1, "train_1"))  # a step without metrics
        store.record_tracked(
            "run-1", metrics=[_chunk("score", [0.9], position=None, step_name=None)]
        )
        found = store.list_metrics("run-1")
        assert [(c.name, list(c.values), c.position) for c in found] == [
            ("loss", [1.0], 0),
            ("loss", [2.0], 0),
            ("score", [0.9], None),
        ]
        assert [list(c.values) for c in store.list_metrics("run-1", "loss")] == [[1.0], [2.0]]
        assert store.list_metrics("run-1", "nothing") == []

    def test_metrics_of_runs_stay_apart(self, store: Store) -> None:
        store.create_run(_run("a"))
        store.create_run(_run("b"))
        store.finish_step(_step("a", 0, "train"), metrics=[_chunk("loss", [1.0])])
        store.finish_step(_step("b", 0, "train"), metrics=[_chunk("loss", [2.0])])
        assert [list(c.values) for c in store.list_metrics("a")] == [[1.0]]
        assert [list(c.values) for c in store.list_metrics("b")] == [[2.0]]
        assert store.list_metrics("nope") == []
        assert store.list_attachments("nope") == []

    def test_tracked_values_of_unknown_run_are_refused(self, store: Store) -> None:
        with pytest.raises(NotFoundError):
            store.finish_step(_step("ghost", 0, "train"), metrics=[_chunk("loss", [1.0])])
        with pytest.raises(NotFoundError):
            store.record_tracked("ghost", metrics=[_chunk("loss", [1.0])])
        assert store.list_metrics("ghost") == []

    def test_blobs_are_content_addressed(self, store: Store) -> None:
        data = bytes(range(256)) * 10
        digest = store.put_blob(data)
        assert digest == hashlib.sha256(data).hexdigest()
        assert store.put_blob(bytes(bytearray(data))) == digest
        assert store.get_blob(digest) == data
        assert store.put_blob(b"") == hashlib.sha256(b"").hexdigest()
        assert store.get_blob(hashlib.sha256(b"").hexdigest()) == b""
        assert store.get_blob("0" * 64) is None

    def test_attachments_round_trip_with_their_step(self, store: Store) -> None:
        store.create_run(_run("run-1"))
        digest = store.put_blob(b"hello")
        first = AttachmentRecord("model.bin", 0, "train", 5, digest, 10.0)
        again = AttachmentRecord("model.bin", 1, "train_1", 5, digest, 11.0)
        body = AttachmentRecord("notes.txt", None, None, 5, digest, 12.0)
        store.finish_step(_step("run-1", 0, "train"), attachments=[first])
        store.finish_step(
            _step("run-1", 1, "train_1"), metrics=[_chunk("loss", [1.0])], attachments=[again]
        )
        store.record_tracked("run-1", attachments=[body])
        assert store.list_attachments("run-1") == [first, again, body]

    def test_concurrent_steps_with_metrics_lose_nothing(self, store: Store) -> None:
        store.create_run(_run("run-1"))
        errors: list[BaseException] = []

        def write(offset: int) -> None:
            try:
                for index in range(20):
                    position = offset + index
                    store.finish_step(
                        _step("run-1", position, f"s{position}"),
                        metrics=[_chunk("loss", [float(position)], position, f"s{position}")],
                    )
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=write, args=(100 * n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        values = sorted(chunk.values[0] for chunk in store.list_metrics("run-1", "loss"))
        assert values == sorted(float(100 * n + i) for n in range(4) for i in range(20))
        assert len(store.list_steps("run-1")) == 80

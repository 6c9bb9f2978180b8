"""flightlog.attach(): files stored with steps, content-addressed, listed and read back."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

import flightlog
from flightlog import Flightlog


def test_attach_files_and_bytes_and_read_them_back(fl: Flightlog, tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    report.write_bytes(b"all good\n")

    @fl.task
    def evaluate() -> str:
        return flightlog.attach(report)

    @fl.task
    def train() -> None:
        flightlog.attach("weights.bin", data=bytes(range(256)))
        flightlog.attach("notes.txt", data=b"first")
        flightlog.attach("notes.txt", data=bytearray(b"second"))  # the later one wins

    @fl.workflow
    def pipeline() -> str:
        train()
        flightlog.attach("summary.json", data=b"{}")
        return evaluate()

    digest = pipeline.run(run_id="r")
    assert digest == hashlib.sha256(b"all good\n").hexdigest()
    assert fl.attachments("r") == [
        {"step": "train", "name": "weights.bin", "size": 256,
         "sha256": hashlib.sha256(bytes(range(256))).hexdigest()},
        {"step": "train", "name": "notes.txt", "size": 6,
         "sha256": hashlib.sha256(b"second").hexdigest()},
        {"step": None, "name": "summary.json", "size": 2,
         "sha256": hashlib.sha256(b"{}").hexdigest()},
        {"step": "evaluate", "name": "report.txt", "size": 9, "sha256": digest},
    ]  # fmt: skip
    assert [a["name"] for a in fl.attachments("r", step="train")] == ["weights.bin", "notes.txt"]
    assert fl.read_attachment("r", "report.txt") == b"all good\n"
    assert fl.read_attachment("r", "notes.txt", step="train") == b"second"
    assert fl.read_attachment("r", "summary.json") == b"{}"
    with pytest.raises(flightlog.NotFoundError, match="no attachment named 'nope'"):
        fl.read_attachment("r", "nope")
    with pytest.raises(flightlog.NotFoundError, match="no run"):
        fl.attachments("missing")


def test_same_bytes_are_stored_once(sqlite_url: str) -> None:
    fl = flightlog.open(sqlite_url)

    @fl.task
    def save(index: int) -> None:
        flightlog.attach("model.bin", data=b"x" * 10_000)

    @fl.workflow
    def pipeline() -> None:
        for index in range(5):
            save(index)

    pipeline.run(run_id="r")
    pipeline.run(run_id="s")
    assert len(fl.attachments("r")) == 5 and len(fl.attachments("s")) == 5
    path = sqlite_url[len("sqlite:///") :]
    connection = sqlite3.connect(path)
    assert connection.execute("SELECT count(*) FROM blobs").fetchone()[0] == 1
    connection.close()
    fl.close()


def test_one_name_from_several_steps_needs_a_step(fl: Flightlog) -> None:
    @fl.task
    def save(text: str) -> None:
        flightlog.attach("out.txt", data=text.encode())

    @fl.workflow
    def pipeline() -> None:
        save("a")
        save("b")

    pipeline.run(run_id="r")
    with pytest.raises(flightlog.InvalidInputError, match="pass step="):
        fl.read_attachment("r", "out.txt")
    assert fl.read_attachment("r", "out.txt", step="save_1") == b"b"


def test_bad_attachments_are_clear_errors(fl: Flightlog, tmp_path: Path) -> None:
    @fl.workflow
    def pipeline(kind: str) -> None:
        if kind == "missing":
            flightlog.attach(tmp_path / "missing.txt")
        elif kind == "text":
            flightlog.attach("x.txt", data="text")  # type: ignore[arg-type]
        else:
            flightlog.attach("../escape.txt", data=b"x")

    with pytest.raises(flightlog.InvalidInputError, match="cannot read"):
        pipeline("missing")
    with pytest.raises(flightlog.InvalidInputError, match="data must be bytes, not str"):
        pipeline("text")
    with pytest.raises(flightlog.InvalidInputError, match="file name without '/'"):
        pipeline("name")


def test_a_failing_step_keeps_its_attachments(fl: Flightlog) -> None:
    @fl.task
    def crash() -> None:
        flightlog.attach("core.txt", data=b"dump")
        raise RuntimeError("crashed")

    @fl.workflow
    def pipeline() -> None:
        crash()

    with pytest.raises(RuntimeError):
        pipeline.run(run_id="r")
    assert fl.read_attachment("r", "core.txt", step="crash") == b"dump"

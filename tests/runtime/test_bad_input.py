"""Every bad input gets a clear error that names what was wrong, and loses nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import flightlog
from flightlog import Flightlog


def test_metadata_must_be_json_and_nothing_runs(fl: Flightlog) -> None:
    ran = []

    @fl.workflow
    def flow() -> None:
        ran.append(1)

    with pytest.raises(flightlog.InvalidInputError, match=r"\['bad'\]") as caught:
        flow.run(run_id="m", metadata={"ok": 1, "bad": {1, 2}})
    assert isinstance(caught.value, ValueError) and not isinstance(caught.value, TypeError)
    with pytest.raises(flightlog.InvalidInputError, match="dict"):
        flow.run(run_id="m", metadata=["not", "a", "dict"])  # type: ignore[arg-type]
    assert ran == []
    assert fl.list_runs() == []
    with pytest.raises(flightlog.InvalidInputError, match="'k'"):
        fl.task(metadata={"k": object()})(lambda: None)


def test_unencodable_result_fails_the_step_consistently(fl: Flightlog) -> None:
    import threading

    @fl.task
    def good() -> int:
        return 1

    @fl.task
    def bad() -> object:
        return threading.Lock()

    @fl.workflow
    def flow() -> None:
        good()
        bad()

    with pytest.raises(flightlog.SerializationError, match=r"step 'bad'.*lock"):
        flow.run(run_id="enc")
    assert fl.get_status("enc") == "FAILED"
    steps = fl.steps("enc")
    assert [(s["name"], s["status"]) for s in steps] == [("good", "SUCCESSFUL"), ("bad", "FAILED")]
    assert fl.get_step_result("enc", "good") == 1


def test_unencodable_workflow_output_fails_the_run(fl: Flightlog) -> None:
    @fl.workflow
    def flow() -> object:
        return object()

    with pytest.raises(flightlog.SerializationError, match="run 'out'"):
        flow.run(run_id="out")
    assert fl.get_status("out") == "FAILED"


@pytest.mark.parametrize(
    "url, words",
    [
        ("nosuch://x", "unknown store URL scheme 'nosuch'"),
        ("just-a-path", "malformed store URL"),
        ("sqlite://relative.db", "malformed SQLite URL"),
        ("sqlite:///x.db?flavour=1", "unknown SQLite URL option"),
        ("memory://extra", "malformed memory store URL"),
    ],
)
def test_bad_store_urls(url: str, words: str) -> None:
    with pytest.raises(flightlog.ConfigurationError, match=words) as caught:
        flightlog.open(url)
    if "scheme" in words:
        assert "memory" in str(caught.value) and "sqlite" in str(caught.value)


@pytest.mark.parametrize(
    "run_id, words",
    [
        ("", "empty"),
        ("x" * 129, "limit is 128"),
        ("../escape", "path separators"),
        ("a\\b", "path separators"),
        ("nul\x00", "control"),
        ("..", "not allowed"),
        (" padded", "whitespace"),
        (42, "string"),
    ],
)
def test_bad_run_ids(fl: Flightlog, run_id: object, words: str) -> None:
    @fl.workflow
    def flow() -> None:
        return None

    with pytest.raises(flightlog.InvalidInputError, match=words):
        flow.run(run_id=run_id)  # type: ignore[arg-type]
    assert fl.list_runs() == []


def test_duplicate_running_run_id_is_refused(fl: Flightlog) -> None:
    @fl.workflow
    def inner() -> None:
        return None

    @fl.task
    def start_again() -> None:
        # A second, independent run under the same id while the first still runs.
        import contextvars

        from flightlog.runtime.state import CURRENT_RUN

        context = contextvars.Context()
        context.run(CURRENT_RUN.set, None)
        context.run(inner.run, run_id="dup")

    @fl.workflow
    def outer() -> None:
        start_again()

    with pytest.raises(flightlog.ConflictError, match="dup"):
        outer.run(run_id="dup")
    assert fl.get_metadata("dup", name="start_again")["status"] == "FAILED"


def test_wrong_call_arguments_fail_before_recording(fl: Flightlog) -> None:
    @fl.workflow
    def flow(n: int) -> int:
        return n

    with pytest.raises(TypeError, match="flow"):
        flow.run(1, 2)  # type: ignore[call-arg]
    assert fl.list_runs() == []


def test_newer_schema_version_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    fl = flightlog.open(f"sqlite:///{path}")

    @fl.workflow
    def flow() -> int:
        return 1

    flow.run(run_id="old")
    fl.close()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE flightlog_meta SET value = '99' WHERE key = 'schema_version'")
    connection.close()
    fl = flightlog.open(f"sqlite:///{path}")
    assert fl.get_output("old") == 1  # reading still works

    @fl.workflow
    def again() -> int:
        return 2

    with pytest.raises(flightlog.SchemaVersionError, match="99"):
        again.run(run_id="new")
    fl.close()
    assert "new" not in [run["run_id"] for run in flightlog.open(f"sqlite:///{path}").list_runs()]


def test_bad_task_options() -> None:
    fl = flightlog.open("memory://")
    with pytest.raises(flightlog.InvalidInputError, match="retries"):
        fl.task(retries=-1)(lambda: None)
    with pytest.raises(flightlog.InvalidInputError, match="timeout"):
        fl.task(timeout=0)(lambda: None)
    with pytest.raises(flightlog.InvalidInputError, match="serializer"):
        fl.task(serializer="yaml")(lambda: None)
    with pytest.raises(flightlog.InvalidInputError, match="status"):
        fl.list_runs(status="DONE")

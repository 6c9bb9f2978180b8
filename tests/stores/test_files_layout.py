"""The JSON-files store writes bandsaw's layout, reads it back, and refuses ids that escape.

The conformance suite and the runtime tests run over this store too (the "files" kind of
``tests/store_urls.py``); these tests look at the files themselves.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog import Flightlog
from flightlog.bandsaw import anonymous_execution_id, split_session_id
from flightlog.errors import ConfigurationError, InvalidInputError, SchemaVersionError
from flightlog.model import AttachmentRecord, ResourceRecord, Status, TaskRecord
from flightlog.stores import FileStore, Store, open_store
from flightlog.testing import StoreContract, make_run, make_step
from flightlog.trackers import FileSystemTracker

# bandsaw's run JSON (id ... meta), and flightlog's run, store and environment beside it.
BANDSAW_RUN_KEYS = {"id", "start_date", "user", "command", "env", "meta"} | {
    "run",
    "configuration",
    "environment",
    "distribution_archive",
}
SESSION_KEYS = {
    "task",
    "execution",
    "run",
    "configuration",
    "distribution_archive",
    "session",
    "context",
}


def build(fl: Flightlog) -> Any:
    """A workflow with a repeated call (same arguments), an attachment, metrics, a failed
    step, and a file attached by the workflow's own body."""

    @fl.task
    def add(left: int, right: int) -> int:
        flightlog.track(total=left + right)
        return left + right

    @fl.task
    def save(text: str) -> int:
        flightlog.attach("out.txt", data=text.encode())
        return len(text)

    @fl.task
    def boom(x: int) -> None:
        raise ValueError(f"bad {x}")

    @fl.workflow
    def pipeline(n: int) -> int:
        total = add(n, 1) + add(n, 1) + add(n, 2)
        save("saved")
        try:
            boom(n)
        except ValueError:
            pass
        flightlog.attach("notes.txt", data=b"body")
        return total

    return pipeline


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def tree(root: Path, *tops: str) -> set[str]:
    """Every file and folder under ``root``'s folders ``tops``, as relative paths."""
    return {
        str(path.relative_to(root))
        for top in tops
        if (root / top).exists()
        for path in (root / top).rglob("*")
    }


class TestDurableFileStore(StoreContract):
    """The conformance suite over the files store as it is by default (fsync on); the
    shared fixtures run it without fsync, to keep the runtime tests quick."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        store = open_store(f"file://{tmp_path}/durable")
        assert isinstance(store, FileStore) and store.fsync
        yield store
        store.close()


@pytest.fixture
def files(tmp_path: Path) -> Iterator[Flightlog]:
    recorder = flightlog.open(f"file://{tmp_path}/store")
    yield recorder
    recorder.close()


def test_a_run_writes_exactly_bandsaws_layout(files: Flightlog, tmp_path: Path) -> None:
    assert build(files).run(2, run_id="my_run") == 10
    root = tmp_path / "store"
    steps = {step["name"]: step for step in files.steps("my_run")}
    assert list(steps) == ["add", "add_1", "add_2", "save", "boom"]
    assert steps["add"]["execution_id"] == steps["add_1"]["execution_id"]

    sessions = {f"{s['task_id']}_{s['execution_id']}_my_run" for s in steps.values()}
    assert len(sessions) == 4  # add and add_1 share one session
    expected = {"runs/my_run", "runs/my_run/run-info.json"} | {
        f"runs/my_run/{session}" for session in sessions
    }
    for session in sessions:
        ids = split_session_id(session)
        assert ids.run_id == "my_run"
        task, execution = f"tasks/{ids.task_id}", f"tasks/{ids.task_id}/{ids.execution_id}"
        folder = f"{execution}/my_run"
        expected |= {task, f"{task}/task-info.json", execution}
        expected |= {f"{execution}/execution-info.json", folder}
        expected |= {f"{folder}/session-info.json", f"{folder}/result-info.json"}
    save = f"tasks/{steps['save']['task_id']}/{steps['save']['execution_id']}/my_run"
    expected |= {f"{save}/attachments", f"{save}/attachments/out.txt"}
    assert tree(root, "runs", "tasks") == expected
    assert (root / save / "attachments" / "out.txt").read_bytes() == b"saved"
    assert (root / "flightlog/runs/my_run/attachments/notes.txt").read_bytes() == b"body"

    run_info = load(root / "runs/my_run/run-info.json")
    assert set(run_info) == BANDSAW_RUN_KEYS | {"flightlog"}
    assert run_info["run"]["id"] == "my_run" and run_info["run"]["status"] == "SUCCESSFUL"
    assert run_info["configuration"] == files.url
    assert set(run_info["distribution_archive"]) >= {"modules", "id"}
    assert run_info["flightlog"]["record"]["output"] == "10"

    add = steps["add"]
    task_info = load(root / f"tasks/{add['task_id']}/task-info.json")
    assert set(task_info) == {"task", "flightlog"}
    assert task_info["task"]["id"] == add["task_id"]
    assert task_info["task"]["definition"] == "add"
    assert task_info["task"]["advice_parameters"]["retries"] == 0
    execution = root / f"tasks/{add['task_id']}/{add['execution_id']}"
    execution_info = load(execution / "execution-info.json")
    assert set(execution_info) == {"task", "execution"}
    assert execution_info["execution"] == {
        "id": add["execution_id"],
        "arguments": [
            {"type": "int", "value": "2", "name": "left"},
            {"type": "int", "value": "1", "name": "right"},
        ],
    }

    # One session directory for both calls with the same arguments, kept apart inside.
    session = load(execution / "my_run/session-info.json")
    assert set(session) == SESSION_KEYS | {"flightlog"}
    assert session["session"]["id"] == f"{add['task_id']}_{add['execution_id']}_my_run"
    assert session["session"]["name"] == "add_1"  # the latest of the two
    assert session["run"]["id"] == "my_run"
    kept = session["flightlog"]["steps"]
    assert sorted(kept) == ["0", "1"]
    assert (kept["0"]["name"], kept["1"]["name"]) == ("add", "add_1")
    assert kept["1"]["result"] == "3"
    result = load(execution / "my_run/result-info.json")
    assert set(result) == SESSION_KEYS | {"result", "flightlog"}
    assert result["result"] == {"value": {"type": "int", "value": "3"}}
    assert result["flightlog"]["steps"] == {
        "0": {"name": "add", "value": {"type": "int", "value": "3"}},
        "1": {"name": "add_1", "value": {"type": "int", "value": "3"}},
    }

    boom = steps["boom"]
    failed = load(root / f"tasks/{boom['task_id']}/{boom['execution_id']}/my_run/result-info.json")
    assert failed["result"] == {"exception": "ValueError", "message": "bad 2"}
    assert failed["session"]["status"] == "FAILED"

    # Read back: the queries, the metrics and the attachments come from these files.
    assert files.get_status("my_run") == "SUCCESSFUL" and files.get_output("my_run") == 10
    assert files.get_metadata("my_run")["step_count"] == 5
    assert [p["value"] for p in files.metrics("my_run", "total")] == [3, 3, 4]
    assert files.read_attachment("my_run", "out.txt") == b"saved"
    assert files.read_attachment("my_run", "notes.txt") == b"body"
    assert files.get_metadata("my_run", name="boom")["status"] == "FAILED"


def test_no_temporary_file_is_left_and_every_json_parses(files: Flightlog, tmp_path: Path) -> None:
    build(files).run(1, run_id="r")
    root = tmp_path / "store"
    assert [p for p in root.rglob(".*")] == []
    for path in root.rglob("*.json"):
        load(path)


def test_steps_without_execution_id_have_a_place(files: Flightlog, tmp_path: Path) -> None:
    @files.task
    def use(lock: Any) -> int:
        return 2

    @files.workflow
    def flow() -> int:
        return use(threading.Lock())

    with pytest.warns(UserWarning, match="cannot be hashed"):
        assert flow.run(run_id="anon") == 2
    (step,) = files.steps("anon")
    assert step["execution_id"] is None
    anonymous = anonymous_execution_id("anon", 0)
    folder = tmp_path / f"store/tasks/{step['task_id']}/{anonymous}/anon"
    session = load(folder / "session-info.json")
    assert session["execution"]["id"] == anonymous
    assert session["flightlog"]["steps"]["0"]["execution_id"] is None
    assert (tmp_path / f"store/runs/anon/{step['task_id']}_{anonymous}_anon").exists()


def test_the_tracker_mirrors_sqlite_into_the_same_files(tmp_path: Path) -> None:
    with flightlog.open(f"file://{tmp_path}/store") as files:
        build(files).run(3, run_id="r_1", tag="exp")
    mirror = tmp_path / "mirror"
    tracker = FileSystemTracker(mirror)
    with flightlog.open(f"sqlite:///{tmp_path}/runs.db", trackers=[tracker]) as sqlite:
        build(sqlite).run(3, run_id="r_1", tag="exp")
        assert sqlite.run_log("r_1")["run_config"]["trackers"] == [
            {"type": "flightlog.tracking.files.FileSystemTracker", "directory": str(mirror)}
        ]
    store = tmp_path / "store"
    bandsaw = ("runs", "tasks", "flightlog/runs/r_1/attachments")
    assert tree(mirror, *bandsaw) == tree(store, *bandsaw)
    assert tree(mirror, "runs")  # not vacuous

    def keys(document: Any, depth: int = 2) -> Any:
        """The keys of a document, two levels down, without flightlog's own (the
        environment is free-form: with trackers it names them)."""
        if not isinstance(document, dict) or depth == 0:
            return None
        return {
            key: None if key == "environment" else keys(value, depth - 1)
            for key, value in document.items()
            if key != "flightlog"
        }

    for relative in sorted(tree(store, "runs", "tasks")):
        made, mirrored = store / relative, mirror / relative
        if made.suffix == ".json":
            assert keys(load(mirrored)) == keys(load(made)), relative
        elif made.is_file():
            assert mirrored.read_bytes() == made.read_bytes(), relative
    # The shared session keeps both calls apart in the mirror too.
    sessions = list(mirror.glob("tasks/*/*/r_1/session-info.json"))
    assert sorted(len(load(path)["flightlog"]["steps"]) for path in sessions) == [1, 1, 1, 2]
    tracked = sorted((mirror / "flightlog/runs/r_1/tracked").iterdir())
    points = [c for path in tracked for c in load(path)["metrics"] if c["name"] == "total"]
    assert [c["values"] for c in points] == [[4], [4], [5]]
    assert [c["step_name"] for c in points] == ["add", "add_1", "add_2"]


def test_the_tracker_refuses_ids_that_escape(tmp_path: Path) -> None:
    tracker = FileSystemTracker(tmp_path / "mirror")
    with pytest.raises(InvalidInputError, match=r"\.\./x"):
        tracker.track_run(flightlog.trackers.Ids("../x"), {"run": {"id": "../x"}})
    with pytest.raises(InvalidInputError, match="a/b"):
        tracker.track_task(flightlog.trackers.Ids("r", "a/b", "e"), {"task": {}})
    assert not (tmp_path / "x").exists()


HOSTILE_RUN_IDS = ["../escape", "a/b", "..", ".", "", "nul\x00", "line\nbreak", "x" * 200, 7]


@pytest.mark.parametrize("run_id", HOSTILE_RUN_IDS, ids=repr)
def test_the_store_itself_refuses_run_ids_that_escape(tmp_path: Path, run_id: Any) -> None:
    store = FileStore(f"file://{tmp_path}/store")
    calls = [
        lambda: store.create_run(make_run(run_id)),
        lambda: store.get_run(run_id),
        lambda: store.list_steps(run_id),
        lambda: store.get_step(run_id, "add"),
        lambda: store.finish_run(run_id, status=Status.FAILED, end_time=1.0),
        lambda: store.request_cancel(run_id, end_time=1.0),
        lambda: store.renew_leases([run_id], 1.0),
        lambda: store.finish_step(make_step(run_id)),
        lambda: store.start_step(make_step(run_id)),
        lambda: store.record_tracked(run_id),
        lambda: store.list_metrics(run_id),
        lambda: store.list_attachments(run_id),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError, match=r"files store refuses the run id|string"):
            call()
    assert sorted(os.listdir(tmp_path)) == ["store"]
    assert os.listdir(tmp_path / "store/runs") == []


@pytest.mark.parametrize(
    "field, value",
    [
        ("task_id", "../../etc"),
        ("task_id", "a_b"),
        ("execution_id", "../x"),
        ("execution_id", "x/y"),
        ("execution_id", "with_underscore"),
        ("execution_id", ""),
    ],
)
def test_the_store_itself_refuses_identities_that_escape(
    tmp_path: Path, field: str, value: str
) -> None:
    store = FileStore(f"file://{tmp_path}/store")
    store.create_run(make_run("r"))
    with pytest.raises(InvalidInputError, match=f"refuses the {field.replace('_', ' ')}"):
        store.finish_step(make_step("r", **{field: value}))
    with pytest.raises(InvalidInputError, match="refuses"):
        if field == "task_id":
            store.get_task(value)
        else:
            store.find_cached("t" * 32, value)
    assert store.list_steps("r") == []
    assert sorted(os.listdir(tmp_path)) == ["store"]


def test_the_store_itself_refuses_other_names_that_escape(tmp_path: Path) -> None:
    store = FileStore(f"file://{tmp_path}/store")
    store.create_run(make_run("r"))
    with pytest.raises(InvalidInputError, match=re.escape("blob digest '../../etc/passwd'")):
        store.get_blob("../../etc/passwd")
    with pytest.raises(InvalidInputError, match=re.escape("collection name '..'")):
        store.claim_resource(ResourceRecord("..", "x"), expected_attempt=0)
    with pytest.raises(InvalidInputError, match=re.escape("resource identifier 'a/b'")):
        store.get_resource("images", "a/b")
    with pytest.raises(InvalidInputError, match=re.escape("resource identifier '../up'")):
        store.declare_resources("images", ["fine", "../up"], 1.0)
    assert store.list_resources("images") == []  # nothing of a refused call is written
    with pytest.raises(InvalidInputError, match="collection name '/abs'"):
        store.count_resources("/abs")
    digest = store.put_blob(b"x")
    with pytest.raises(InvalidInputError, match=re.escape("attachment name '../x'")):
        store.finish_step(
            make_step("r"), attachments=[AttachmentRecord("../x", 0, "add", 1, digest, 1.0)]
        )
    assert sorted(os.listdir(tmp_path)) == ["store"]


def test_urls_and_options(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/a?fsync=false")
    assert isinstance(store, FileStore) and store.fsync is False
    assert store.data_directory() == str(tmp_path / "a")
    assert FileStore(f"file://{tmp_path}/b", fsync="true").fsync is True
    spaced = FileStore(f"file://{tmp_path}/with%20space")
    assert spaced.root == str(tmp_path / "with space")
    with pytest.raises(ConfigurationError, match="malformed files store URL"):
        open_store("file://")
    with pytest.raises(ConfigurationError, match="unknown files store URL option"):
        open_store(f"file://{tmp_path}/c?flavour=1")
    with pytest.raises(ConfigurationError, match="fsync must be true or false"):
        open_store(f"file://{tmp_path}/d?fsync=maybe")


def test_a_new_store_folder_is_made_with_its_missing_parents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As an SQLite file's folders are: `file:///x/new/store` and `file://new/store` (relative,
    as the configuration page shows) both work when `new` does not exist yet."""
    absolute = FileStore(f"file://{tmp_path}/new/nested/store")
    absolute.create_run(make_run("r"))
    assert (tmp_path / "new/nested/store/runs/r/run-info.json").is_file()
    monkeypatch.chdir(tmp_path)
    with flightlog.open("file://relative/dir") as fl:
        fl.task(lambda: 1, name="one")()
    assert (tmp_path / "relative/dir/flightlog/store.json").is_file()


def test_a_store_written_by_a_newer_flightlog_is_read_only(tmp_path: Path) -> None:
    store = FileStore(f"file://{tmp_path}/store")
    store.create_run(make_run("r"))
    meta = tmp_path / "store/flightlog/store.json"
    meta.write_text(json.dumps({"schema_version": 99, "layout": "bandsaw"}))
    newer = FileStore(f"file://{tmp_path}/store")
    assert newer.schema_version() == 99
    found = newer.get_run("r")
    assert found is not None and found.status is Status.RUNNING
    with pytest.raises(SchemaVersionError, match="schema version 99"):
        newer.finish_run("r", status=Status.FAILED, end_time=1.0)


def test_a_position_taken_over_on_resume_moves_to_its_new_session(
    files: Flightlog, tmp_path: Path
) -> None:
    arguments = {"offset": 0, "fail": True}

    @files.task
    def work(i: int) -> int:
        if arguments["fail"] and i == 1:
            raise RuntimeError("boom")
        return i

    @files.workflow
    def flow() -> int:
        return sum(work(i + arguments["offset"]) for i in range(2))

    with pytest.raises(RuntimeError):
        flow.run(run_id="moved")
    first = files.steps("moved")
    arguments.update(offset=1, fail=False)  # work(1) is now called where work(0) was
    assert files.resume("moved") == 1 + 2
    steps = files.steps("moved")
    assert [(s["name"], s["arguments"]) for s in steps] == [
        ("work", {"i": 1}),
        ("work_1", {"i": 2}),
    ]
    root = tmp_path / "store"
    sessions = {
        execution: load(root / f"tasks/{step['task_id']}/{execution}/moved/session-info.json")
        for step in first + steps
        for execution in [step["execution_id"]]
    }
    kept = {execution: sorted(info["flightlog"]["steps"]) for execution, info in sessions.items()}
    assert kept == {
        first[0]["execution_id"]: [],  # work(0) was replaced at position 0
        steps[0]["execution_id"]: ["0"],  # work(1), at position 0 now (it was at 1)
        steps[1]["execution_id"]: ["1"],  # work(2), new
    }
    assert len(os.listdir(root / "flightlog/runs/moved/steps")) == 2


def test_task_names_never_become_paths(tmp_path: Path) -> None:
    store = FileStore(f"file://{tmp_path}/store")
    task = TaskRecord("t" * 32, "../../evil name/\x00", options={"retries": 1})
    store.record_task(task)
    assert store.get_task("t" * 32) == task
    assert store.tasks_named("../../evil name/\x00") == [task]
    assert sorted(os.listdir(tmp_path)) == ["store"]
    assert os.listdir(tmp_path / "store/tasks") == ["t" * 32]

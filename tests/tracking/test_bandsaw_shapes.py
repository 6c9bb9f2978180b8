"""bandsaw's exact shapes: the infos trackers get and the JSON-files store writes, and the
calls a tracker gets, field for field as bandsaw makes them.

What bandsaw makes, read from its source (kant-ai/bandsaw; its newest ``TrackerExtension`` in
``bandsaw/tracking/tracker.py``, ``Run.to_json`` in ``bandsaw/run.py``, ``value_info`` in
``bandsaw/infos.py``, the ``Backend`` interface in ``bandsaw/tracking/backend.py``):

- the run info (``track_run``, ``runs/<run_id>/run-info.json``) is the run's JSON:
  ``id``, ``start_date`` (ISO 8601, UTC, milliseconds), ``user``, ``command`` (the argv),
  ``env`` and ``meta``;
- the task info: ``task{id, definition, advice_parameters}``; the execution info adds
  ``execution{id, arguments: [value info + name]}``;
- the session info is the execution info plus ``run{id}``, ``configuration`` (a string),
  ``distribution_archive{modules, id}``, ``session{id}`` and ``context`` (a value info);
- the result info is the session info plus ``result{value}`` or ``result{exception,
  message}``; the value of a dict is a list of item infos with ``key``, of a list or tuple a
  list with ``index``, of anything else one value info;
- a value info is ``{type, value, size?}`` with the type taken before a set is sorted, the
  text shortened past 100 characters, and what the value's own ``value_info()`` adds;
- calls: per session ``track_task`` (first time), ``track_execution`` (first time),
  ``track_session``, then ``track_result`` and ``track_attachments`` (always, once), after
  ``track_run``; ``track_distribution_archive(archive)`` takes one argument and the extension
  never calls it; attachments map names to objects with ``open()`` and ``size``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog.bandsaw import value_info
from flightlog.trackers import Attachments, Ids, Tracker

RUN_FIELDS = {"id", "start_date", "user", "command", "env", "meta"}
TASK_FIELDS = {"task"}
EXECUTION_FIELDS = TASK_FIELDS | {"execution"}
SESSION_FIELDS = EXECUTION_FIELDS | {
    "run",
    "configuration",
    "distribution_archive",
    "session",
    "context",
}
RESULT_FIELDS = SESSION_FIELDS | {"result"}
START_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00\Z")


class Recording(Tracker):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Ids, Any]] = []

    def track_run(self, ids: Ids, info: dict[str, Any]) -> None:
        self.calls.append(("track_run", ids, info))

    def track_distribution_archive(self, ids: Ids, info: dict[str, Any]) -> None:
        self.calls.append(("track_distribution_archive", ids, info))

    def track_task(self, ids: Ids, info: dict[str, Any]) -> None:
        self.calls.append(("track_task", ids, info))

    def track_execution(self, ids: Ids, info: dict[str, Any]) -> None:
        self.calls.append(("track_execution", ids, info))

    def track_session(self, ids: Ids, info: dict[str, Any]) -> None:
        self.calls.append(("track_session", ids, info))

    def track_result(self, ids: Ids, info: dict[str, Any]) -> None:
        self.calls.append(("track_result", ids, info))

    def track_attachments(self, ids: Ids, attachments: Attachments) -> None:
        self.calls.append(("track_attachments", ids, dict(attachments)))

    def track_metrics(self, ids: Ids, info: dict[str, Any]) -> None:
        self.calls.append(("track_metrics", ids, info))

    def infos(self, method: str) -> list[Any]:
        return [info for name, _, info in self.calls if name == method]


# -- value infos ------------------------------------------------------------------------------
def test_a_set_is_reported_as_a_set() -> None:
    assert value_info({3, 1, 2}) == {"type": "set", "value": "[1, 2, 3]", "size": "3"}
    assert value_info(frozenset({7})) == {"type": "frozenset", "value": "frozenset({7})",
                                          "size": "1"}  # fmt: skip
    assert value_info({"b", 1})["type"] == "set"  # unsortable: kept as it is


def test_a_value_info_has_bandsaw_fields() -> None:
    assert value_info(3) == {"type": "int", "value": "3"}
    assert value_info("abc") == {"type": "str", "value": "abc", "size": "3"}
    long = value_info("x" * 150)
    assert long["value"] == "x" * 85 + "..." + "x" * 12 and long["size"] == "150"


class Distance:
    def __init__(self, metres: float) -> None:
        self.metres = metres

    def __str__(self) -> str:
        return f"{self.metres} m"

    def value_info(self) -> dict[str, Any]:
        return {"unit": "m", "metres": self.metres, "odd": object()}


class Failing:
    def value_info(self) -> dict[str, Any]:
        raise RuntimeError("no info")


def test_a_value_adds_its_own_value_info() -> None:
    info = value_info(Distance(3.5))
    assert info["type"] == "Distance" and info["value"] == "3.5 m"
    assert info["unit"] == "m" and info["metres"] == 3.5
    assert isinstance(info["odd"], str)  # JSON-ready
    json.dumps(info)
    assert set(value_info(Failing())) == {"type", "value"}  # its failure is ignored


# -- what trackers get ------------------------------------------------------------------------
def tracked(url: str, tracker: Tracker) -> flightlog.Flightlog:
    fl = flightlog.open(url, trackers=[tracker])

    @fl.task
    def as_dict(n: int, scale: int = 2) -> dict[str, Any]:
        flightlog.track(loss=0.5)
        return {"a": n, "b": [1, 2]}

    @fl.task
    def as_list(n: int) -> list[int]:
        return [n, n + 1]

    @fl.task
    def as_tuple(n: int) -> tuple[str, set[int]]:
        flightlog.attach("out.txt", data=b"saved")
        return ("x", {3, 1})

    @fl.task
    def as_set() -> set[int]:
        return {2, 1}

    @fl.workflow
    def pipeline(n: int) -> int:
        as_dict(n)
        as_list(n)
        as_tuple(n)
        as_set()
        return n

    assert pipeline.run(1, run_id="r", metadata={"owner": "ana"}) == 1
    return fl


def test_result_infos_of_dicts_lists_and_tuples_are_per_item(tmp_path: Path) -> None:
    tracker = Recording()
    tracked(f"sqlite:///{tmp_path}/s.db", tracker).close()
    values = [info["result"]["value"] for info in tracker.infos("track_result")]
    assert values[0] == [
        {"type": "int", "value": "1", "key": "a"},
        {"type": "list", "value": "[1, 2]", "size": "2", "key": "b"},
    ]
    assert values[1] == [
        {"type": "int", "value": "1", "index": 0},
        {"type": "int", "value": "2", "index": 1},
    ]
    assert values[2] == [
        {"type": "str", "value": "x", "size": "1", "index": 0},
        {"type": "set", "value": "[1, 3]", "size": "2", "index": 1},
    ]
    assert values[3] == {"type": "set", "value": "[1, 2]", "size": "2"}


def test_the_run_info_is_bandsaws_run(tmp_path: Path) -> None:
    tracker = Recording()
    tracked(f"sqlite:///{tmp_path}/s.db", tracker).close()
    started, ended = tracker.infos("track_run")
    for info in (started, ended):
        assert set(info) >= RUN_FIELDS
        assert info["id"] == "r"
        assert START_DATE.match(info["start_date"]), info["start_date"]
        assert info["user"] and isinstance(info["user"], str)
        assert info["command"] == sys.argv
        assert info["env"] == {}  # environment variables hold secrets: never recorded
        assert info["meta"] == {"owner": "ana"}
        json.dumps(info)
    assert started["start_date"] == ended["start_date"]
    assert (started["run"]["status"], ended["run"]["status"]) == ("RUNNING", "SUCCESSFUL")


def test_the_session_and_result_infos_carry_bandsaws_fields(tmp_path: Path) -> None:
    tracker = Recording()
    fl = tracked(f"sqlite:///{tmp_path}/s.db", tracker)
    (task,) = tracker.infos("track_task")[:1]
    assert set(task) == TASK_FIELDS
    assert set(task["task"]) == {"id", "definition", "advice_parameters"}
    execution = tracker.infos("track_execution")[0]
    assert set(execution) == EXECUTION_FIELDS
    assert execution["execution"]["arguments"] == [
        {"type": "int", "value": "1", "name": "n"},
        {"type": "int", "value": "2", "name": "scale"},  # defaults bound, as bandsaw does
    ]
    session = tracker.infos("track_session")[0]
    assert set(session) >= SESSION_FIELDS
    step = fl.get_metadata("r", name="as_dict")
    assert session["run"]["id"] == "r"
    assert isinstance(session["configuration"], str)
    assert session["configuration"] == fl.url
    assert isinstance(session["distribution_archive"]["modules"], list)
    assert "id" in session["distribution_archive"]
    assert session["session"]["id"] == f"{step['task_id']}_{step['execution_id']}_r"
    assert set(session["context"]) >= {"type", "value"}
    # The run's metadata and environment live in the run's info, not in every session's.
    assert "ana" not in json.dumps(session)
    result = tracker.infos("track_result")[0]
    assert set(result) >= RESULT_FIELDS
    assert set(result["result"]) == {"value"}
    fl.close()


def test_calls_come_in_bandsaws_order(tmp_path: Path) -> None:
    tracker = Recording()
    tracked(f"sqlite:///{tmp_path}/s.db", tracker).close()
    per_step = ["track_task", "track_execution", "track_session", "track_result"]
    assert [name for name, _, _ in tracker.calls] == [
        "track_run",
        "track_distribution_archive",
        *per_step,
        "track_attachments",  # every session, as bandsaw: none attached here
        "track_metrics",  # flightlog's own, after bandsaw's calls
        *per_step,
        "track_attachments",
        *per_step,
        "track_attachments",
        *per_step,
        "track_attachments",
        "track_run",
    ]
    attachments = tracker.infos("track_attachments")
    assert attachments[0] == {} and attachments[2] == {"out.txt": b"saved"}


class BandsawBackend(Tracker):
    """A tracking backend written for bandsaw, moved over: ``track_distribution_archive``
    takes the archive only, and attachments are opened like bandsaw's."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.archives: list[Any] = []

    def track_run(self, ids: Ids, run_info: dict[str, Any]) -> None:
        folder = self.directory / "runs" / ids.run_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "run-info.json").write_text(json.dumps(run_info))

    def track_distribution_archive(self, distribution_archive: Any) -> None:  # type: ignore[override]
        self.archives.append(distribution_archive)

    def track_attachments(self, ids: Ids, attachments: Any) -> None:
        folder = self.directory / "attachments" / str(ids)
        folder.mkdir(parents=True)
        for name, attachment in attachments.items():
            with attachment.open() as stream:
                (folder / name).write_bytes(stream.read())
            assert attachment.size == (folder / name).stat().st_size


def test_a_tracker_written_for_bandsaw_works_unchanged(tmp_path: Path) -> None:
    backend = BandsawBackend(tmp_path / "tracking")
    tracked(f"sqlite:///{tmp_path}/s.db", backend).close()  # warnings are errors here
    assert backend.archives == []  # bandsaw's extension never calls it
    assert json.loads((tmp_path / "tracking/runs/r/run-info.json").read_text())["id"] == "r"
    (saved,) = (tmp_path / "tracking/attachments").glob("*/out.txt")
    assert saved.read_bytes() == b"saved"


# -- the JSON-files store ---------------------------------------------------------------------
def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def test_the_files_store_writes_bandsaws_info_files(tmp_path: Path) -> None:
    root = tmp_path / "files"
    fl = tracked(f"file://{root}", Recording())
    run = load(root / "runs/r/run-info.json")
    assert set(run) >= RUN_FIELDS | {"distribution_archive"}
    assert run["id"] == "r" and run["meta"] == {"owner": "ana"} and run["env"] == {}
    assert START_DATE.match(run["start_date"])
    step = fl.get_metadata("r", name="as_dict")
    task_dir = root / "tasks" / step["task_id"]
    assert set(load(task_dir / "task-info.json")) == TASK_FIELDS | {"flightlog"}
    execution_dir = task_dir / step["execution_id"]
    assert set(load(execution_dir / "execution-info.json")) == EXECUTION_FIELDS
    session = load(execution_dir / "r/session-info.json")
    assert set(session) == SESSION_FIELDS | {"flightlog"}
    assert isinstance(session["configuration"], str)
    result = load(execution_dir / "r/result-info.json")
    assert set(result) == RESULT_FIELDS | {"flightlog"}
    assert result["result"]["value"][0] == {"type": "int", "value": "1", "key": "a"}
    assert "ana" not in json.dumps({key: session[key] for key in SESSION_FIELDS})
    assert fl.get_output("r") == 1  # and the store reads its own files back
    fl.close()


@pytest.mark.parametrize("value", [{1, 2}, frozenset({"a"}), {"k": {1}}, [(1, 2)], b"xy"])
def test_every_value_info_is_json_ready(value: Any) -> None:
    json.dumps(value_info(value))

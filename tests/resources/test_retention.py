"""A deleted run's resources (records and folders) go with it when no run that stays used them;
fetches inside runs record which run computed and which runs used each resource."""

from __future__ import annotations

import dataclasses
import io
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog import cli
from flightlog.model import ResourceStatus, ResourceUse
from flightlog.resources.claims import process_owner
from flightlog.resources.retention import delete_resources, resources_going

COLLECTION = "thumbs"


def _define(fl: flightlog.Flightlog, calls: list[str]) -> Any:
    @fl.resource(COLLECTION)
    def thumb(ident: str, args: dict[str, Any], ctx: Any) -> int:
        calls.append(ident)
        (ctx.subdir / "thumb.png").write_bytes(b"png" * args.get("size", 1))
        return int(args.get("size", 1))

    @fl.task
    def fetch_in_step(ident: str) -> int:
        return int(fl.fetch(COLLECTION, ident, args={"size": 2}).result)

    @fl.workflow
    def pipeline(*idents: str) -> int:
        return sum(fetch_in_step(ident) for ident in idents)

    return pipeline


def _folder(fl: flightlog.Flightlog, ident: str) -> Path:
    return Path(fl.fetch(COLLECTION, ident, wait=False).paths["storage"]).parent


def test_a_fetch_in_a_run_names_its_run_and_step_and_records_uses_once(
    fl: flightlog.Flightlog,
) -> None:
    calls: list[str] = []
    pipeline = _define(fl, calls)
    assert pipeline.run("a", "a", run_id="first") == 4  # computed once, fetched twice
    record = fl.store.get_resource(COLLECTION, "a")
    assert record is not None
    step = fl.get_metadata("first", name="fetch_in_step")
    assert (record.run_id, record.position) == ("first", step["position"])
    assert fl.fetch(COLLECTION, "a").run_id == "first"

    @fl.workflow
    def body_fetch() -> int:  # in the run's own body: no step
        return int(fl.fetch(COLLECTION, "b", args={"size": 3}).result) + int(
            fl.fetch(COLLECTION, "a").result
        )

    assert body_fetch.run(run_id="second") == 5
    b = fl.store.get_resource(COLLECTION, "b")
    assert b is not None and (b.run_id, b.position) == ("second", None)
    assert set(fl.store.resource_uses(["second"])) == {
        ResourceUse("second", COLLECTION, "a", None),
        ResourceUse("second", COLLECTION, "b", None),
    }
    fl.fetch(COLLECTION, "outside", args={"size": 1})
    outside = fl.store.get_resource(COLLECTION, "outside")
    assert outside is not None and outside.run_id is None
    assert calls == ["a", "b", "outside"]


def test_deleting_the_run_that_computed_a_resource_deletes_its_record_and_folder(
    fl: flightlog.Flightlog,
) -> None:
    calls: list[str] = []
    pipeline = _define(fl, calls)
    pipeline.run("a", run_id="first")
    folder = _folder(fl, "a")
    assert (folder / "storage" / "thumb.png").read_bytes() == b"pngpng"
    dry = fl.delete_run("first", dry_run=True)
    assert dry.resources == [f"{COLLECTION}/a"]
    assert fl.store.get_resource(COLLECTION, "a") is not None and folder.is_dir()
    report = fl.delete_run("first")
    assert report.runs == ["first"] and report.resources == [f"{COLLECTION}/a"]
    assert fl.store.get_resource(COLLECTION, "a") is None
    assert not folder.exists()
    assert [p.name for p in folder.parent.iterdir()] == []  # nothing renamed left behind
    assert fl.status(COLLECTION, "a") == "unavailable"
    pipeline.run("a", run_id="again")  # computed again, from scratch
    assert calls == ["a", "a"]
    assert (folder / "storage" / "thumb.png").is_file()


def test_a_resource_that_a_kept_run_used_stays_and_goes_with_the_last_user(
    fl: flightlog.Flightlog,
) -> None:
    calls: list[str] = []
    pipeline = _define(fl, calls)
    pipeline.run("a", run_id="computer")
    pipeline.run("a", run_id="user")  # served from the resource's record: a use
    assert calls == ["a"]
    report = fl.delete_run("computer")
    assert report.resources == []
    assert fl.fetch(COLLECTION, "a").status == "completed"
    folder = _folder(fl, "a")
    assert folder.is_dir()
    # Its computing run is gone: it goes with the last run that used it.
    report = fl.delete_run("user")
    assert report.resources == [f"{COLLECTION}/a"]
    assert fl.store.get_resource(COLLECTION, "a") is None and not folder.exists()


def test_deleting_runs_together_takes_what_only_they_used(fl: flightlog.Flightlog) -> None:
    calls: list[str] = []
    pipeline = _define(fl, calls)
    pipeline.run("a", "b", run_id="one")
    pipeline.run("a", run_id="two")
    pipeline.run("b", run_id="keeper")
    report = fl.delete_run("one", "two")
    assert sorted(report.runs) == ["one", "two"]
    assert report.resources == [f"{COLLECTION}/a"]  # b: the kept run used it
    assert fl.store.get_resource(COLLECTION, "b") is not None


def test_resources_computed_outside_runs_or_being_computed_stay(fl: flightlog.Flightlog) -> None:
    calls: list[str] = []
    pipeline = _define(fl, calls)
    fl.fetch(COLLECTION, "outside", args={"size": 1})
    pipeline.run("outside", "a", run_id="first")
    # "a" claimed again by a live process in the name of the run: being computed.
    record = fl.store.get_resource(COLLECTION, "a")
    assert record is not None
    now = time.time()
    record.status, record.owner, record.lease_expires = (
        ResourceStatus.PENDING,
        process_owner(),
        now + 60,
    )
    assert fl.store.claim_resource(record, expected_attempt=record.attempt)
    report = fl.delete_run("first")
    assert report.runs == ["first"] and report.resources == []
    assert fl.store.get_resource(COLLECTION, "outside") is not None
    found = fl.store.get_resource(COLLECTION, "a")
    assert found is not None and found.status is ResourceStatus.PENDING


def test_a_use_recorded_after_the_judgement_keeps_the_resource_as_it_was(
    fl: flightlog.Flightlog,
) -> None:
    calls: list[str] = []
    pipeline = _define(fl, calls)
    pipeline.run("a", run_id="first")
    going = resources_going(fl.store, {"first"})
    assert [record.ident for record in going] == ["a"]
    before = fl.store.get_resource(COLLECTION, "a")
    fl.store.record_resource_uses([ResourceUse("late", COLLECTION, "a", 0)])  # a fetch now
    root = fl._resources.root  # type: ignore[attr-defined]
    assert delete_resources(fl.store, root, going, {"first"}) == []
    assert fl.store.get_resource(COLLECTION, "a") == before
    assert (_folder(fl, "a") / "storage" / "thumb.png").is_file()


def test_a_fetch_waiting_on_the_deletion_computes_the_resource_again(
    sqlite_fl: flightlog.Flightlog,
) -> None:
    fl = sqlite_fl
    calls: list[str] = []
    pipeline = _define(fl, calls)
    pipeline.run("a", run_id="first")
    record = fl.store.get_resource(COLLECTION, "a")
    assert record is not None
    # The deletion's claim holds the resource (as delete_resources does first) ...
    held = fl.store.get_resource(COLLECTION, "a")
    assert held is not None
    held.status, held.owner, held.lease_expires = (
        ResourceStatus.PENDING,
        process_owner(),
        time.time() + 60,
    )
    assert fl.store.claim_resource(held, expected_attempt=record.attempt)
    # ... a fetch in another thread finds it pending and waits for it ...
    seen_pending = threading.Event()
    original = fl.store.get_resource

    def watching(collection: str, ident: str) -> Any:
        found = original(collection, ident)
        if found is not None and found.status is ResourceStatus.PENDING:
            seen_pending.set()
        return found

    fl.store.get_resource = watching  # type: ignore[method-assign]
    outcome: list[Any] = []
    fetcher = threading.Thread(target=lambda: outcome.append(fl.fetch(COLLECTION, "a")))
    fetcher.start()
    try:
        assert seen_pending.wait(30)
        # ... the deletion ends: the record goes; the waiting fetch computes it again.
        assert fl.store.delete_resource(COLLECTION, "a", attempt=record.attempt + 1)
    finally:
        fetcher.join(30)
    assert not fetcher.is_alive()
    assert outcome and outcome[0].status == "completed"
    assert calls == ["a", "a"]


def test_gc_and_delete_say_which_resources_go(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with flightlog.open(sqlite_url) as fl:
        pipeline = _define(fl, [])
        pipeline.run("a", run_id="old")
        pipeline.run("b", run_id="other")
    out = io.StringIO()
    assert cli.main(["gc", "--url", sqlite_url, "--status", "SUCCESSFUL"], out=out) == 0
    text = out.getvalue()
    assert f"would delete resource {COLLECTION}/a\n" in text
    assert f"would delete resource {COLLECTION}/b\n" in text
    assert "would delete 2 runs, 2 steps, 2 resources" in text
    out = io.StringIO()
    assert cli.main(["delete", "--url", sqlite_url, "old"], out=out) == 0
    assert f"deleted resource {COLLECTION}/a\n" in out.getvalue()
    assert "deleted 1 runs, 1 steps, 1 resources" in out.getvalue()
    with flightlog.open(sqlite_url) as fl:
        assert fl.store.get_resource(COLLECTION, "a") is None
        assert fl.store.get_resource(COLLECTION, "b") is not None
        assert not (tmp_path / "resources" / COLLECTION / "a").exists()
        assert (tmp_path / "resources" / COLLECTION / "b" / "storage").is_dir()


KILLED_DELETER = """
import os, sys
import flightlog
from flightlog.resources import retention

fl = flightlog.open(sys.argv[1])
rename = os.rename


def rename_then_die(source, target):
    rename(source, target)
    os._exit(9)  # killed between moving the folder away and deleting the record


retention.os.rename = rename_then_die
fl.delete_run("first")
"""


@pytest.mark.timeout(120)
def test_a_deletion_killed_part_way_leaves_a_claim_the_next_fetch_takes_over(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    monkeypatch.chdir(tmp_path)
    calls: list[str] = []
    with flightlog.open(sqlite_url) as fl:
        pipeline = _define(fl, calls)
        pipeline.run("a", run_id="first")
    script = tmp_path / "deleter.py"
    script.write_text(KILLED_DELETER)
    done = subprocess.run(
        [sys.executable, str(script), sqlite_url], cwd=tmp_path, timeout=60, check=False
    )
    assert done.returncode == 9
    folder = tmp_path / "resources" / COLLECTION
    with flightlog.open(sqlite_url) as fl:
        pipeline = _define(fl, calls)
        assert fl.store.get_run("first") is None  # the run went first
        assert fl.status(COLLECTION, "a") == "error"  # its deleter died: never "completed"
        assert "died" in fl.fetch_error(COLLECTION, "a")
        (aside,) = folder.iterdir()  # the folder, moved aside whole
        assert aside.name.startswith(".deleting-a-")
        report = fl.gc(older_than="1d")  # sweeps the dead claim and what was moved aside
        assert report.resources == [f"{COLLECTION}/a"] and list(folder.iterdir()) == []
        assert fl.fetch(COLLECTION, "a", args={"size": 2}).result == 2  # computed again
        assert calls == ["a", "a"]
        assert (folder / "a" / "storage" / "thumb.png").is_file()


def test_a_run_whose_deletion_is_refused_keeps_its_resources(
    fl: flightlog.Flightlog, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = _define(fl, [])
    pipeline.run("a", run_id="first")
    monkeypatch.setattr(fl.store, "delete_run", lambda *args, **kwargs: False)  # resumed
    report = fl.delete_run("first")
    assert report.runs == [] and "first" in report.kept and report.resources == []
    assert fl.store.get_resource(COLLECTION, "a") is not None
    assert (_folder(fl, "a") / "storage" / "thumb.png").is_file()


def test_a_folder_that_cannot_be_moved_keeps_its_record_and_says_which(
    sqlite_fl: flightlog.Flightlog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flightlog import StoreError
    from flightlog.resources import retention

    fl = sqlite_fl
    pipeline = _define(fl, [])
    pipeline.run("a", run_id="first")
    before = fl.store.get_resource(COLLECTION, "a")

    def refuse(source: Any, target: Any) -> None:
        raise PermissionError(13, "Permission denied", str(source))

    monkeypatch.setattr(retention.os, "rename", refuse)
    with pytest.raises(StoreError, match="cannot delete the folder of resource 'a'"):
        fl.delete_run("first")
    assert fl.store.get_resource(COLLECTION, "a") == before
    assert (_folder(fl, "a") / "storage" / "thumb.png").is_file()


def test_files_that_cannot_be_removed_stay_aside_and_gc_sweeps_them(
    sqlite_fl: flightlog.Flightlog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flightlog.resources import retention

    fl = sqlite_fl
    pipeline = _define(fl, [])
    pipeline.run("a", run_id="first")
    folder = _folder(fl, "a")
    with monkeypatch.context() as patched:
        patched.setattr(retention.shutil, "rmtree", lambda path, ignore_errors=False: None)
        assert fl.delete_run("first").resources == [f"{COLLECTION}/a"]
    assert fl.store.get_resource(COLLECTION, "a") is None and not folder.exists()
    (aside,) = folder.parent.iterdir()
    assert aside.name.startswith(".deleting-a-")
    pipeline.run("b", run_id="second")
    fl.gc(older_than="1d")  # deletes nothing so old, sweeps what was left aside
    assert [path.name for path in folder.parent.iterdir()] == ["b"]


def test_a_resource_computed_again_by_another_run_stays_with_the_first(
    fl: flightlog.Flightlog,
) -> None:
    pipeline = _define(fl, [])
    pipeline.run("a", run_id="first")

    @fl.workflow
    def again() -> int:
        return int(fl.fetch(COLLECTION, "a", args={"size": 3}, recompute=True).result)

    assert again.run(run_id="second") == 3
    record = fl.store.get_resource(COLLECTION, "a")
    assert record is not None and record.run_id == "second"
    assert fl.delete_run("second").resources == []  # the first run used it (computed it)
    assert fl.store.get_resource(COLLECTION, "a") is not None
    assert fl.delete_run("first").resources == [f"{COLLECTION}/a"]


def test_gc_sweeps_what_a_deletion_stopped_part_way_left(fl: flightlog.Flightlog) -> None:
    pipeline = _define(fl, [])
    pipeline.run("a", run_id="first")
    pipeline.run("b", run_id="second")
    for run_id in ("first", "second"):  # the runs went, their resources not yet (a crash)
        run = fl.store.get_run(run_id)
        assert run is not None
        fl.store.delete_run(run_id, expected_status=run.status, expected_resumes=run.resumes)
    # "b" was being deleted: a claim whose process died
    record = fl.store.get_resource(COLLECTION, "b")
    assert record is not None
    dead = dataclasses.replace(process_owner(), pid=2**22 + 12345)  # no such process
    record.status, record.owner, record.lease_expires = ResourceStatus.PENDING, dead, time.time()
    assert fl.store.claim_resource(record, expected_attempt=record.attempt)
    pipeline.run("c", run_id="third")
    report = fl.gc(older_than="1d")
    assert report.runs == [] and report.resources == [f"{COLLECTION}/a", f"{COLLECTION}/b"]
    assert fl.store.get_resource(COLLECTION, "c") is not None


def test_a_store_read_as_version_3_answers_a_dry_run(tmp_path: Path) -> None:
    import shutil

    from ..stores.fixtures import __file__ as fixtures

    database = tmp_path / "old.db"
    shutil.copy(Path(fixtures).parent / "sqlite_v3.db", database)
    with flightlog.open(f"sqlite:///{database}?upgrade=false") as fl:
        report = fl.gc(older_than=0, dry_run=True)
        assert report.runs and report.resources == []
        assert fl.delete_run(report.runs[0], dry_run=True).resources == []

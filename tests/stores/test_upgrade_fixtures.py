"""Stores written by every earlier schema version (kept in ``fixtures/``, made by its script)
are upgraded when opened, up the migration ladder: SQLite after a backup of its file, by one
of many processes opening it at once; ``upgrade=False`` reads them as they are, refusing writes,
until ``flightlog upgrade URL``."""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

import flightlog
from flightlog import SchemaVersionError, cli
from flightlog.named_arguments import parameters_text
from flightlog.selection import RunSelection
from flightlog.stores import files_open, open_store, postgres_schema, sqlite_schema
from flightlog.stores.base import SCHEMA_VERSION
from flightlog.stores.postgres_schema import postgres_statements
from flightlog.testing import make_run

from ..postgres_server import Schemas
from .fixtures.make_fixtures import snapshot_of
from .test_migration import _check_old_records_read_back

FIXTURES = Path(__file__).resolve().parent / "fixtures"
VERSIONS = range(1, SCHEMA_VERSION + 1)


def test_every_store_kind_has_a_ladder_step_for_every_version_and_fixtures_for_each() -> None:
    for ladder in (sqlite_schema.LADDER, postgres_schema.LADDER, files_open.LADDER):
        assert sorted(ladder) == list(range(1, SCHEMA_VERSION))
    for version in VERSIONS:
        assert (FIXTURES / f"sqlite_v{version}.db").is_file()
        assert (FIXTURES / f"files_v{version}" / "flightlog" / "store.json").is_file()
        assert (FIXTURES / f"schema_v{version}.sql").is_file()


def _copied(tmp_path: Path, name: str) -> Path:
    source = FIXTURES / name
    target = tmp_path / name
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True)
    else:
        shutil.copy(source, target)
    return target


def _version_of(database: Path) -> str:
    with closing(sqlite3.connect(database)) as connection:
        row = connection.execute("SELECT value FROM flightlog_meta WHERE key = 'schema_version'")
        return str(row.fetchone()[0])


def _expected(version: int) -> dict[str, Any] | None:
    path = FIXTURES / f"expected_v{version}.json"
    return json.loads(path.read_text()) if path.exists() else None


@pytest.mark.parametrize("version", VERSIONS)
def test_sqlite_fixture_is_upgraded_after_a_backup(
    version: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = _copied(tmp_path, f"sqlite_v{version}.db")
    with (
        caplog.at_level(logging.WARNING, "flightlog.upgrade"),
        flightlog.open(f"sqlite:///{database}") as fl,
    ):
        assert fl.store.schema_version() == SCHEMA_VERSION
        if version == 1:
            _check_old_records_read_back(fl.store)
        else:
            assert snapshot_of(fl) == _expected(version)
        fl.store.create_run(make_run("new-run"))  # written after the upgrade
    backups = sorted(tmp_path.glob("*.bak"))
    if version == SCHEMA_VERSION:
        assert backups == [] and caplog.records == []
        return
    assert backups == [tmp_path / f"sqlite_v{version}.db.v{version}.bak"]
    assert _version_of(backups[0]) == str(version)  # the file as the old version left it
    (message,) = [record.getMessage() for record in caplog.records]
    assert f"from schema version {version} to {SCHEMA_VERSION}" in message
    assert str(backups[0]) in message


@pytest.mark.parametrize("version", VERSIONS)
def test_files_fixture_is_upgraded(version: int, tmp_path: Path) -> None:
    root = _copied(tmp_path, f"files_v{version}")
    with flightlog.open(f"file://{root}?fsync=false") as fl:
        assert fl.store.schema_version() == SCHEMA_VERSION
        expected = _expected(version)
        if expected is not None:
            del expected["resources"]  # resource folders are not kept in the fixture
            found = snapshot_of(fl)
            del found["resources"]
            assert found == expected
        else:
            assert fl.store.get_run("old-run") is not None
        fl.store.create_run(make_run("new-run"))
    meta = json.loads((root / "flightlog" / "store.json").read_text())
    assert meta["schema_version"] == SCHEMA_VERSION


@pytest.mark.parametrize("version", VERSIONS)
def test_postgres_store_of_every_version_is_upgraded(
    version: int, postgres_schemas: Schemas
) -> None:
    """A schema made from the frozen SQLite schema of that version, holding the rows of the
    SQLite fixture."""
    url = _postgres_of(version, postgres_schemas)
    with flightlog.open(url) as fl:
        assert fl.store.schema_version() == SCHEMA_VERSION
        if version == 1:
            _check_old_records_read_back(fl.store)
        else:
            assert snapshot_of(fl) == _expected(version)
        fl.store.create_run(make_run("new-run"))


def _postgres_of(version: int, postgres_schemas: Schemas) -> str:
    """A fresh schema made from the frozen SQLite schema of that version, holding the rows of
    its SQLite fixture."""
    name, url = postgres_schemas.fresh()
    schema = (FIXTURES / f"schema_v{version}.sql").read_text()
    with (
        closing(sqlite3.connect(FIXTURES / f"sqlite_v{version}.db")) as old,
        psycopg.connect(postgres_schemas.base_url, autocommit=True) as admin,
    ):
        admin.execute(f"SET search_path = {name}")
        with admin.transaction():
            for statement in postgres_statements(schema):
                admin.execute(statement)
            tables = [
                row[0] for row in old.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            for table in tables:
                rows = old.execute(f"SELECT * FROM {table}").fetchall()
                for row in rows:
                    marks = ", ".join(["%s"] * len(row))
                    admin.execute(f"INSERT INTO {table} VALUES ({marks})", row)
            admin.execute("SELECT setval(pg_get_serial_sequence('runs', 'seq'), 100)")
            for table in ("steps", "metrics", "attachments"):
                admin.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 1 << 40)")
    return url


@pytest.mark.parametrize("kind", ["sqlite", "files", "postgres"])
def test_version_5_keeps_parameters_by_name_and_last_points_and_derives_them(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Every run of a version-4 store has its parameters by name once upgraded (SQL stores
    fill ``runs.parameters``; the files store derives them as it reads), and is found by them;
    every metric chunk has its last point (``metrics.last_step``, ``last_value``)."""
    if kind == "sqlite":
        url = f"sqlite:///{_copied(tmp_path, 'sqlite_v4.db')}"
    elif kind == "files":
        url = f"file://{_copied(tmp_path, 'files_v4')}?fsync=false"
    else:
        url = _postgres_of(4, request.getfixturevalue("postgres_schemas"))
    with flightlog.open(url) as fl:
        runs = fl.store.select_runs(RunSelection())
        assert {run.run_id for run in runs} >= {"plain", "resumed", "squares"}
        for run in runs:
            if run.arguments is not None:
                assert run.parameters == parameters_text(run.arguments, run.environment)
        by_id = {run.run_id: run for run in runs}
        assert by_id["squares"].parameters == '{"n":"5"}'
        assert by_id["plain"].parameters == '{"size":"2"}'
        assert [run["run_id"] for run in fl.list_runs(params={"size": 2})] == ["plain"]
        assert [run["run_id"] for run in fl.list_runs(params={"n": 5.0})] == ["squares"]
        assert fl.list_runs(params={"n": 2}) == []
        # the metric chunks' last points: what a metric filter compares in the store
        assert {run["run_id"] for run in fl.list_runs(metric=("rows", ">", 0))} == {
            "plain",
            "resumed",
        }
        assert [run["run_id"] for run in fl.list_runs(metric=("rows", "<", 3))] == ["plain"]
        selection = RunSelection(metric_names=("rows",), metric_bounds=(("rows", ">", 3.0),))
        assert [run.run_id for run in fl.store.select_runs(selection)] == ["resumed"]
    if kind == "sqlite":  # kept in the columns, not derived as read
        database = url.removeprefix("sqlite:///")
        with closing(sqlite3.connect(database)) as connection:
            rows = dict(connection.execute("SELECT run_id, parameters FROM runs"))
            points = connection.execute(
                "SELECT count(*), count(last_step), count(last_value) FROM metrics"
            ).fetchone()
        assert rows["squares"] == '{"n":"5"}' and rows["plain"] == '{"size":"2"}'
        assert points[0] > 0 and points[0] == points[1] == points[2]


@pytest.mark.parametrize("kind", ["sqlite", "files"])
def test_an_old_store_opened_with_upgrade_false_is_read_until_flightlog_upgrade(
    kind: str, tmp_path: Path
) -> None:
    if kind == "sqlite":
        url = f"sqlite:///{_copied(tmp_path, 'sqlite_v1.db')}"
    else:
        url = f"file://{_copied(tmp_path, 'files_v1')}?fsync=false"
    with flightlog.open(url, upgrade=False) as fl:
        assert fl.store.schema_version() == 1
        assert fl.get_metadata("old-run")["run_id"] == "old-run"
        with pytest.raises(SchemaVersionError, match=r"version 1 .*flightlog upgrade URL"):
            fl.store.create_run(make_run("new-run"))
    assert list(tmp_path.glob("*.bak")) == []
    out = io.StringIO()
    assert cli.main(["upgrade", url], out=out) == 0
    backup = f"; the file as it was: {tmp_path}/sqlite_v1.db.v1.bak" if kind == "sqlite" else ""
    assert out.getvalue() == (f"upgraded {url} from schema version 1 to {SCHEMA_VERSION}{backup}\n")
    out = io.StringIO()
    assert cli.main(["upgrade", url], out=out) == 0
    assert out.getvalue() == f"{url} is at schema version {SCHEMA_VERSION} already\n"
    with flightlog.open(url, upgrade=False) as fl:
        fl.store.create_run(make_run("new-run"))


def test_upgrade_of_a_store_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    out = io.StringIO()
    assert cli.main(["upgrade", f"sqlite:///{tmp_path}/none.db"], out=out) == 3
    assert not (tmp_path / "none.db").exists()


def _open_and_tell(url: str, barrier: Any, results: Any) -> None:
    barrier.wait(60)
    store = open_store(url)
    try:
        results.put((store.schema_version(), str(getattr(store, "backup", None))))
    finally:
        store.close()


def _opened_together(url: str, count: int) -> list[tuple[int, str]]:
    """What ``count`` processes that open the store at the same moment tell (each its schema
    version afterwards, and its backup)."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(count)
    results = context.Queue()
    processes = [
        context.Process(target=_open_and_tell, args=(url, barrier, results)) for _ in range(count)
    ]
    for process in processes:
        process.start()
    try:
        return [results.get(timeout=90) for _ in processes]
    finally:
        for process in processes:
            process.join(30)
            if process.is_alive():
                process.kill()


@pytest.mark.timeout(120)
def test_many_processes_opening_an_old_sqlite_store_upgrade_it_once(tmp_path: Path) -> None:
    url = f"sqlite:///{_copied(tmp_path, 'sqlite_v1.db')}"
    found = _opened_together(url, 6)
    assert [version for version, _ in found] == [SCHEMA_VERSION] * 6
    backups = [backup for _, backup in found if backup != "None"]
    assert backups == [f"{tmp_path}/sqlite_v1.db.v1.bak"]
    assert sorted(path.name for path in tmp_path.glob("*.bak")) == ["sqlite_v1.db.v1.bak"]
    with closing(open_store(url)) as store:
        _check_old_records_read_back(store)


@pytest.mark.timeout(120)
def test_many_processes_opening_an_old_files_store_upgrade_it_together(tmp_path: Path) -> None:
    """Each climbs the files store's ladder (its steps are idempotent); all end at the current
    version, and the records read back."""
    root = _copied(tmp_path, "files_v3")
    url = f"file://{root}?fsync=false"
    found = _opened_together(url, 6)
    assert [version for version, _ in found] == [SCHEMA_VERSION] * 6
    assert json.loads((root / "flightlog" / "store.json").read_text())["schema_version"] == (
        SCHEMA_VERSION
    )
    with flightlog.open(url) as fl:
        expected = _expected(3)
        assert expected is not None
        found_now = snapshot_of(fl)
        del expected["resources"], found_now["resources"]
        assert found_now == expected


def _schema_of(database: Path) -> dict[str, list[Any]]:
    """Each table's columns and each index's definition, as SQLite describes them."""
    with closing(sqlite3.connect(database)) as connection:
        rows = connection.execute(
            "SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchall()
        found: dict[str, list[Any]] = {}
        for kind, name, table in rows:
            if kind == "table":
                found[name] = [row[1:3] for row in connection.execute(f"PRAGMA table_info({name})")]
            elif kind == "index":
                found[name] = [table, connection.execute(f"PRAGMA index_info({name})").fetchall()]
            else:
                found[name] = [kind]
        return found


def test_version_2_to_3_adds_what_deleting_and_questions_at_scale_need(tmp_path: Path) -> None:
    """The ladder's step to version 3: a new store's tables, columns and indexes; every blob
    with a put time; every finished run's step counts filled in."""
    database = _copied(tmp_path, "sqlite_v2.db")
    with closing(sqlite3.connect(database)) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        assert not {"blob_puts", "blob_chunks", "runs_created", "steps_source"} & tables
    with flightlog.open(f"sqlite:///{database}") as fl:
        fl.store.create_run(make_run("new-run"))
    with flightlog.open(f"sqlite:///{tmp_path}/new.db") as fl:
        pass
    assert _schema_of(database) == _schema_of(tmp_path / "new.db")
    with closing(sqlite3.connect(database)) as connection:
        blobs = connection.execute("SELECT sha256 FROM blobs ORDER BY 1").fetchall()
        puts = connection.execute("SELECT sha256 FROM blob_puts ORDER BY 1").fetchall()
        assert blobs and puts == blobs
        counts = connection.execute(
            "SELECT run_id, step_count, step_counts FROM runs WHERE status = 'SUCCESSFUL'"
            " ORDER BY run_id"
        ).fetchall()
        assert [(run_id, count, json.loads(text)) for run_id, count, text in counts] == [
            ("plain", 2, {"SUCCESSFUL": 2}),
            ("resumed", 2, {"SUCCESSFUL": 2}),
        ]


def test_a_store_of_a_newer_version_is_read_not_written(tmp_path: Path) -> None:
    database = _copied(tmp_path, f"sqlite_v{SCHEMA_VERSION}.db")
    with closing(sqlite3.connect(database)) as connection:
        connection.execute(
            "UPDATE flightlog_meta SET value = ? WHERE key = 'schema_version'",
            (str(SCHEMA_VERSION + 1),),
        )
        connection.commit()
    with flightlog.open(f"sqlite:///{database}") as fl:
        assert fl.store.schema_version() == SCHEMA_VERSION + 1
        assert fl.get_metadata("plain")["run_id"] == "plain"
        with pytest.raises(SchemaVersionError, match=f"version {SCHEMA_VERSION + 1}"):
            fl.store.create_run(make_run("new-run"))
    assert list(tmp_path.glob("*.bak")) == []


def test_upgrade_of_an_empty_postgresql_database_says_it_made_the_store(
    postgres_url: str,
) -> None:
    out = io.StringIO()
    assert cli.main(["upgrade", postgres_url], out=out) == 0
    assert out.getvalue() == (
        f"there was no flightlog store at {postgres_url}: made one at schema version "
        f"{SCHEMA_VERSION}\n"
    )
    out = io.StringIO()
    assert cli.main(["upgrade", postgres_url], out=out) == 0
    assert out.getvalue() == f"{postgres_url} is at schema version {SCHEMA_VERSION} already\n"


@pytest.mark.parametrize("kind", ["sqlite", "files"])
def test_version_4_links_resources_to_runs_and_older_resources_stay_unlinked(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A version-4 store knows which run computed and used each resource; one upgraded from
    version 3 reads its resources as computed outside any run, which no deletion takes."""
    monkeypatch.chdir(tmp_path)
    urls = {}
    for version in (3, 4):
        (tmp_path / str(version)).mkdir()
        if kind == "sqlite":
            urls[version] = f"sqlite:///{_copied(tmp_path / str(version), f'sqlite_v{version}.db')}"
        else:
            root = _copied(tmp_path / str(version), f"files_v{version}")
            urls[version] = f"file://{root}?fsync=false"
    with flightlog.open(urls[4]) as fl:
        computed = fl.store.get_resource("squares", "n5")
        assert computed is not None and (computed.run_id, computed.position) == ("squares", 0)
        assert {(use.collection, use.ident) for use in fl.store.resource_uses(["squares"])} == {
            ("squares", "three")
        }
        report = fl.delete_run("squares")
        assert report.resources == ["squares/n5"]
        assert fl.store.get_resource("squares", "three") is not None
    with flightlog.open(urls[3]) as fl:
        old = fl.store.get_resource("squares", "three")
        assert old is not None and old.run_id is None
        runs = [run["run_id"] for run in fl.list_runs()]
        runs = [run_id for run_id in runs if not run_id.startswith("resource:")]  # collections
        assert runs and fl.delete_run(*runs).resources == []
        assert fl.store.get_resource("squares", "three") is not None


def test_a_files_store_of_a_newer_version_is_read_not_written(tmp_path: Path) -> None:
    root = _copied(tmp_path, f"files_v{SCHEMA_VERSION}")
    meta_path = root / "flightlog" / "store.json"
    meta = json.loads(meta_path.read_text())
    meta["schema_version"] = SCHEMA_VERSION + 1
    meta_path.write_text(json.dumps(meta))
    with flightlog.open(f"file://{root}?fsync=false") as fl:
        assert fl.store.schema_version() == SCHEMA_VERSION + 1
        assert fl.get_metadata("plain")["run_id"] == "plain"
        with pytest.raises(SchemaVersionError, match=f"version {SCHEMA_VERSION + 1}"):
            fl.store.create_run(make_run("new-run"))
    assert json.loads(meta_path.read_text())["schema_version"] == SCHEMA_VERSION + 1


def test_a_postgres_store_of_a_newer_version_is_read_not_written(
    postgres_schemas: Schemas,
) -> None:
    _, url = postgres_schemas.fresh()
    with flightlog.open(url) as fl:
        fl.store.create_run(make_run("plain"))
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "UPDATE flightlog_meta SET value = %s WHERE key = 'schema_version'",
            (str(SCHEMA_VERSION + 1),),
        )
    with flightlog.open(url) as fl:
        assert fl.store.schema_version() == SCHEMA_VERSION + 1
        assert fl.get_metadata("plain")["run_id"] == "plain"
        with pytest.raises(SchemaVersionError, match=f"version {SCHEMA_VERSION + 1}"):
            fl.store.create_run(make_run("new-run"))

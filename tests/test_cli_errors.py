"""The command line's errors and output: one line and a documented exit status per error, a
traceback only with ``--debug``, a closed pipe handled quietly, terminal control characters
shown escaped, and passwords in URLs redacted wherever a URL is shown.

The exit-status, pipe and redaction cases run the installed ``flightlog`` entry point in
subprocesses (bounded by timeouts); the renderers run in-process over a hostile store.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog import cli
from flightlog.errors import (
    CanceledError,
    ConfigurationError,
    ConflictError,
    FlightlogError,
    InvalidInputError,
    MissingDependencyError,
    NotFoundError,
    SchemaVersionError,
    StoreError,
)
from flightlog.redaction import redact
from flightlog.runtime.environment import code_identity
from flightlog.stores import open_store
from flightlog.trackers import Ids, Tracker

from .cli_run import run_cli

CLI_GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guides" / "cli.md"
FLIGHTLOG = Path(sys.executable).parent / "flightlog"  # the installed entry point
TIMEOUT = 120

# Every documented exit status, as the CLI guide and ``flightlog --help`` list them.
STATUSES = {0: "success", 1: "error", 2: "usage", 3: "not found", 4: "conflict", 5: "store",
            6: "configuration", 70: "bug", 130: "interrupted", 141: "closed"}  # fmt: skip

# What a terminal must never receive raw: C0 controls but newline, DEL, C1 controls, and the
# invisible direction overrides.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
HOSTILE = "\x1b[2J\x1b]0;owned\x07\r\x9b1m\u202e"


@pytest.fixture(autouse=True)
def _in_a_folder_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands run in the test's folder (and in-process ones too), whatever they create."""
    monkeypatch.chdir(tmp_path)


def flightlog_command(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    assert FLIGHTLOG.exists(), f"the flightlog entry point is not installed at {FLIGHTLOG}"
    return subprocess.run(
        [str(FLIGHTLOG), *args],
        env={**os.environ, "FLIGHTLOG_DEBUG": "", **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def patched_command(
    patch: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The entry point's own call (``sys.exit(main())``) in a fresh interpreter after
    ``patch`` (Python source) made the query API misbehave."""
    source = "import sys\nfrom flightlog import cli, client\n" + textwrap.dedent(patch)
    source += "\nsys.argv[0] = 'flightlog'\nsys.exit(cli.main())\n"
    return subprocess.run(
        [sys.executable, "-c", source, *args],
        env={**os.environ, "FLIGHTLOG_DEBUG": "", **(env or {})},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.fixture
def recorded(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/cli.db"
    with flightlog.open(url) as fl:

        @fl.task
        def double(x: int) -> int:
            return 2 * x

        @fl.workflow
        def good(x: int) -> int:
            return double(x)

        good.run(3, run_id="good-run")
    return url


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {stderr!r}"
    assert lines[0].startswith("flightlog: error: ")
    return lines[0]


# -- one line and a documented exit status per error ---------------------------------------


def test_each_error_has_its_exit_status_and_one_line(recorded: str, tmp_path: Path) -> None:
    done = flightlog_command("show", "nope", "--url", recorded)
    assert done.returncode == 3, done.stderr
    assert one_error_line(done.stderr) == f"flightlog: error: no run with id 'nope' in {recorded}"
    done = flightlog_command("cancel", "good-run", "--url", recorded)
    assert done.returncode == 4, done.stderr
    assert "has already finished" in one_error_line(done.stderr)
    done = flightlog_command("runs", "--url", "bogus://somewhere")
    assert done.returncode == 6, done.stderr
    assert "unknown store URL scheme 'bogus'" in one_error_line(done.stderr)
    done = flightlog_command("runs", "--status", "BOGUS", "--url", recorded)
    assert done.returncode == 1, done.stderr
    assert "unknown status 'BOGUS'" in one_error_line(done.stderr)
    done = flightlog_command("nosuchcommand")
    assert done.returncode == 2 and "invalid choice" in done.stderr
    assert done.stdout == ""


def test_a_store_error_exits_5(recorded: str, tmp_path: Path) -> None:
    """A store written by a newer flightlog refuses writes: a SchemaVersionError (a StoreError)."""
    connection = sqlite3.connect(f"{tmp_path}/cli.db")
    with connection:
        connection.execute("UPDATE flightlog_meta SET value = '99' WHERE key = 'schema_version'")
    connection.close()
    done = flightlog_command("cancel", "good-run", "--url", recorded)
    assert done.returncode == 5, done.stderr
    assert "newer than version" in one_error_line(done.stderr)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFoundError("no such thing"), 3),
        (ConflictError("taken"), 4),
        (StoreError("the disk is full"), 5),
        (SchemaVersionError("too new"), 5),
        (ConfigurationError("bad URL"), 6),
        (MissingDependencyError("pip install it"), 6),
        (InvalidInputError("bad input"), 1),
        (CanceledError("canceled"), 1),
        (FlightlogError("something"), 1),
    ],
)
def test_error_classes_map_onto_exit_statuses(
    error: FlightlogError,
    status: int,
    recorded: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def failing(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(flightlog.Flightlog, "list_runs", failing)
    assert cli.main(["runs", "--url", recorded], out=io.StringIO()) == status
    assert capsys.readouterr().err == f"flightlog: error: {error}\n"


def test_a_traceback_only_with_debug(recorded: str) -> None:
    quiet = flightlog_command("show", "nope", "--url", recorded)
    assert "Traceback" not in quiet.stderr
    for args, env in (
        (["--debug", "show", "nope"], {}),
        (["show", "nope", "--debug"], {}),
        (["show", "nope"], {"FLIGHTLOG_DEBUG": "1"}),
    ):
        done = flightlog_command(*args, "--url", recorded, env=env)
        assert done.returncode == 3, (args, env, done.stderr)
        assert done.stderr.startswith("Traceback (most recent call last):"), done.stderr
        assert "NotFoundError" in done.stderr
        assert done.stderr.splitlines()[-1] == quiet.stderr.rstrip("\n")
    done = flightlog_command("show", "nope", "--url", recorded, env={"FLIGHTLOG_DEBUG": "0"})
    assert done.stderr == quiet.stderr


def test_an_unexpected_exception_is_a_bug_in_one_line(recorded: str) -> None:
    patch = """
        def broken(self, *args, **kwargs):
            raise ZeroDivisionError("division by zero somewhere")
        client.Flightlog.list_runs = broken
    """
    done = patched_command(patch, "runs", "--url", recorded)
    assert done.returncode == 70, done.stderr
    line = one_error_line(done.stderr)
    assert "ZeroDivisionError: division by zero somewhere" in line
    assert "a bug in flightlog" in line and "--debug" in line
    done = patched_command(patch, "runs", "--url", recorded, env={"FLIGHTLOG_DEBUG": "1"})
    assert done.returncode == 70
    assert "Traceback (most recent call last)" in done.stderr
    assert done.stderr.splitlines()[-1] == line


def test_an_interrupt_exits_130_quietly(recorded: str) -> None:
    patch = """
        import os, signal, time

        def interrupted(self, *args, **kwargs):
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C does, delivered at once
            time.sleep(60)
        client.Flightlog.list_runs = interrupted
    """
    done = patched_command(patch, "runs", "--url", recorded)
    assert (done.returncode, done.stderr, done.stdout) == (130, "", "")


def test_exit_statuses_are_documented_in_help_and_the_cli_guide() -> None:
    done = flightlog_command("--help")
    assert done.returncode == 0
    section = CLI_GUIDE.read_text()
    for text in (done.stdout, section):
        table = {  # "  3    not found: ..." in the help, "| 3 | not found: ... |" in the guide
            int(match[1]): match[2]
            for match in re.finditer(r"^[\s|]*(\d+)[\s|]+(.+?)[\s|]*$", text, re.MULTILINE)
        }
        for status, word in STATUSES.items():
            assert status in table, f"exit status {status} is not documented"
            assert word in table[status].lower(), (status, table[status])
        assert "--debug" in text and "FLIGHTLOG_DEBUG" in text


# -- a closed pipe -------------------------------------------------------------------------


@pytest.fixture
def large(tmp_path: Path) -> str:
    """A store whose ``runs`` table and ``show big`` each print far more than a pipe holds."""
    url = f"sqlite:///{tmp_path}/large.db"
    with flightlog.open(url) as fl:

        @fl.task
        def chatty() -> None:
            print("a long log line " * 20 + "\n" * 1, end="")
            print(("x" * 300 + "\n") * 2000, end="")

        @fl.workflow(name="w" * 200)
        def wide() -> None:
            return None

        @fl.workflow
        def big() -> None:
            chatty()

        for number in range(400):
            wide.run(run_id=f"wide-{number}")
        big.run(run_id="big")
    return url


@pytest.mark.parametrize("args", [["runs", "--limit", "1000"], ["show", "big"]])
def test_a_pipe_closed_by_the_reader_ends_quietly(large: str, args: list[str]) -> None:
    """As ``flightlog ... | head -1``: the reader takes one line and goes away."""
    process = subprocess.Popen(
        [str(FLIGHTLOG), *args, "--url", large],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "FLIGHTLOG_DEBUG": ""},
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline()
        process.stdout.close()  # more than a pipe holds is still to come: the writer meets EPIPE
        returncode = process.wait(TIMEOUT)
        stderr = process.stderr.read().decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(TIMEOUT)
        if process.stderr is not None:
            process.stderr.close()
    assert (returncode, stderr) == (141, "")


def test_a_pipe_closed_before_anything_is_written(recorded: str) -> None:
    """The reader is gone before the command starts: even the last flush at exit is quiet."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [str(FLIGHTLOG), "runs", "--url", recorded],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env={**os.environ, "FLIGHTLOG_DEBUG": ""},
            timeout=TIMEOUT,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr.decode()) == (141, "")


# -- terminal control characters -----------------------------------------------------------


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[str]:
    """A store in which names, tags, logs, errors, metrics, resources and a run id carry
    terminal control sequences."""
    url = f"sqlite:///{tmp_path}/hostile.db"
    with flightlog.open(url) as fl:

        @fl.task(name=f"step{HOSTILE}")
        def step(x: int) -> int:
            print(f"log{HOSTILE}line")
            flightlog.track(note=f"value{HOSTILE}")
            flightlog.attach(f"file{HOSTILE}.txt", data=b"x")
            raise ValueError(f"error{HOSTILE}message")

        @fl.workflow(name=f"flow{HOSTILE}")
        def flow(x: int) -> int:
            return step(x)

        with pytest.raises(ValueError):
            flow.run(1, run_id="evil", tag=f"tag{HOSTILE}", metadata={"m": HOSTILE})

        @fl.resource("things")
        def thing(ident: str, args: Any, ctx: Any) -> int:
            ctx.logger.info("logged %s", HOSTILE)
            raise RuntimeError(f"resource{HOSTILE}failed")

        with pytest.raises(RuntimeError):
            fl.fetch("things", "one")
        run = fl.store.get_run("evil")
        assert run is not None
        fl.store.create_run(dataclasses.replace(run, run_id=f"crafted{HOSTILE}"))
    yield url


def test_control_characters_are_shown_escaped(
    hostile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    collection = "things"
    commands = [
        ["runs"],
        ["show", "evil"],
        ["show", f"crafted{HOSTILE}"],
        ["plan", "evil"],
        ["explain", "evil", f"step{HOSTILE}"],
        ["metrics", "evil"],
        ["compare", "evil"],
        ["resources", "stats"],
        ["resources", "list", collection],
        ["resources", "list", collection, "--status", "error"],
        ["resources", "error", collection, "one"],
        ["resources", "log", collection, "one"],
    ]
    shown = ""
    for args in commands:
        code, text = run_cli(*args, "--url", hostile)
        assert code == 0, (args, capsys.readouterr().err)
        assert not RAW_CONTROL.findall(text), (args, text)
        shown += text
    escaped = r"\x1b[2J\x1b]0;owned\x07\r\x9b1m\u202e"
    for part in ("flow", "tag", "step", "log", "error", "value", "file", "crafted"):
        assert part + escaped in shown, f"{part} is not shown with its escapes"
    # a resource's error and log are read from its files, where "\r" reads as a newline
    assert "logged " + escaped[:20] in shown and "resource" + escaped[:20] in shown
    code, text = run_cli("show", "evil", "--url", hostile, "--json")
    assert json.loads(text)["run"]["tag"] == f"tag{HOSTILE}"  # JSON keeps the value itself


def test_error_messages_are_shown_escaped(
    recorded: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(*args: Any, **kwargs: Any) -> Any:
        raise InvalidInputError(f"bad{HOSTILE}name\nsecond line")

    monkeypatch.setattr(flightlog.Flightlog, "list_runs", failing)
    assert cli.main(["runs", "--url", recorded], out=io.StringIO()) == 1
    err = capsys.readouterr().err
    assert err == (
        r"flightlog: error: bad\x1b[2J\x1b]0;owned\x07\r\x9b1m\u202ename\nsecond line" + "\n"
    )


# -- passwords in URLs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("postgresql://me:s3cret@db.example/flightlog", "postgresql://me:***@db.example/flightlog"),
        ("postgres://u:secret@[::1:/db", "postgres://u:***@[::1:/db"),
        ("postgresql://u:p@ss@host/db", "postgresql://u:***@host/db"),
        ("postgresql://u:p/ss@host/db", "postgresql://u:***@host/db"),
        ("postgresql://u:my secret@host/db", "postgresql://u:***@host/db"),
        ("postgresql://u:pw@host/db?x=a@b", "postgresql://u:***@host/db?x=a@b"),
        ("POSTGRESQL+psycopg://U:pw@h/d", "POSTGRESQL+psycopg://U:***@h/d"),
        ("https://user:token@host/x.git", "https://user:***@host/x.git"),
        ("https://ghp_tok3n@github.com/x.git", "https://***@github.com/x.git"),
        ("postgresql://u:1234@h/db", "postgresql://u:***@h/db"),
        ("postgresql://h/db?user=u&password=secret&sslmode=require",
         "postgresql://h/db?user=u&password=***&sslmode=require"),
        ("host=h password=secret dbname=x", "host=h password=*** dbname=x"),
        ("cannot open 'postgresql://u:secret@h/db': refused; see https://a:b@c/d",
         "cannot open 'postgresql://u:***@h/db': refused; see https://a:***@c/d"),
        ('in URI: "postgres://u:secret@[::1:/db"', 'in URI: "postgres://u:***@[::1:/db"'),
        ("ssh://git@github.com/x.git", "ssh://git@github.com/x.git"),
        ("postgresql://me@host/db", "postgresql://me@host/db"),
        ("postgresql://host:5432/db", "postgresql://host:5432/db"),
        ("https://host:8443/@scope/pkg", "https://host:8443/@scope/pkg"),
        ("postgresql://host:5432/db failed; mail admin@example.com",
         "postgresql://host:5432/db failed; mail admin@example.com"),
        ("https://example.com/@user", "https://example.com/@user"),
        ("sqlite:///a/b.db", "sqlite:///a/b.db"),
        ("memory://", "memory://"),
        ("no URL here: a:b@c", "no URL here: a:b@c"),
    ],
)  # fmt: skip
def test_redaction(text: str, redacted: str) -> None:
    assert redact(text) == redacted


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("postgres://u:secret@[::1:/db", 6),
        ("bogus://u:secret@x/db", 6),
        ("sqlite://u:secret@x/db", 6),
        ("memory://u:secret@x", 6),
    ],
)
def test_urls_in_errors_are_redacted(url: str, status: int) -> None:
    for debug in ("", "1"):
        done = flightlog_command("runs", "--url", url, env={"FLIGHTLOG_DEBUG": debug})
        assert done.returncode == status, done.stderr
        assert "secret" not in done.stderr, done.stderr
        assert "u:***@" in done.stderr.splitlines()[-1], done.stderr
        assert not done.stderr.endswith("\\n\n"), done.stderr  # no escaped newline at the end
    with pytest.raises(ConfigurationError) as raised:
        flightlog.open(url)
    shown = "".join(traceback.format_exception(raised.value))
    assert "secret" not in shown and "u:***@" in shown, shown


def test_a_postgres_store_never_shows_its_password(postgres_url: str) -> None:
    """The test server trusts every connection: the passwords given are accepted, and must
    show nowhere."""
    with_password = postgres_url.replace("://postgres@", "://postgres:s3cretA@", 1)
    assert with_password != postgres_url
    with_password += "&password=s3cretB"
    store = open_store(with_password)
    try:
        for shown in (store.url, store._where, repr(flightlog.Flightlog(store))):
            assert "s3cret" not in shown, shown
        assert "postgres:***@" in store.url and "password=***" in store.url
    finally:
        store.close()
    # libpq reads these as the host "ss@localhost", and as the port "p" and database "ss@..."
    for url in ("postgresql://u:p@ss@localhost/db", "postgresql://u:p/ss@localhost/db"):
        with pytest.raises(ConfigurationError) as raised:
            open_store(url)
        shown = "".join(traceback.format_exception(raised.value))
        assert "ss@" not in shown and "p/ss" not in shown, shown
        assert "percent-encode" in str(raised.value)


def test_the_recorded_git_remote_has_no_credentials(tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    repository.mkdir()
    for command in (
        ["init", "-q"],
        ["remote", "add", "origin", "https://user:tok3nSECRET@git.example/x.git"],
        ["-c", "user.name=t", "-c", "user.email=t@example", "commit", "-q", "--allow-empty",
         "-m", "start"],
    ):  # fmt: skip
        subprocess.run(["git", *command], cwd=repository, check=True, timeout=TIMEOUT)
    script = repository / "job.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import flightlog
            fl = flightlog.open("sqlite:///{tmp_path}/git.db")

            @fl.workflow
            def job():
                return 1

            job.run(run_id="with-remote")
            fl.close()
            """
        )
    )
    subprocess.run([sys.executable, str(script)], check=True, timeout=TIMEOUT, cwd=repository)
    with flightlog.open(f"sqlite:///{tmp_path}/git.db") as fl:
        environment = fl.get_metadata("with-remote")["environment"]
    assert environment["git_remote"] == "https://user:***@git.example/x.git"
    assert b"tok3nSECRET" not in (tmp_path / "git.db").read_bytes()
    subprocess.run(
        ["git", "remote", "set-url", "origin", "https://tok3nSECRET@git.example/x.git"],
        cwd=repository,
        check=True,
        timeout=TIMEOUT,
    )
    code_identity.cache_clear()
    assert code_identity(str(repository))["git_remote"] == "https://***@git.example/x.git"


def test_a_failing_trackers_warning_redacts_urls() -> None:
    class Unreachable(Tracker):
        def track_run(self, ids: Ids, info: dict[str, Any]) -> None:
            raise ConnectionError("cannot reach https://me:s3cret@mlflow.example/api")

    fl = flightlog.open("memory://", trackers=[Unreachable()])

    @fl.workflow
    def flow() -> int:
        return 1

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        flow.run()
    fl.close()
    messages = [str(warning.message) for warning in caught]
    assert any("me:***@mlflow.example" in message for message in messages), messages
    assert not any("s3cret" in message for message in messages), messages


def test_the_import_log_lines_are_shown_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    with cli._imports_on_stderr():
        logging.getLogger("flightlog.imports").info("importing module %s", f"job{HOSTILE}")
    err = capsys.readouterr().err
    assert err == r"flightlog: importing module job\x1b[2J\x1b]0;owned\x07\r\x9b1m\u202e" + "\n"

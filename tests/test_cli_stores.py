"""The command line and the store it is pointed at: no command makes a store where there is
none (a typo in ``--url`` is an error, not an empty store), a bad store is one line that names
it (no traceback), and a store on read-only media can be read."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

import flightlog
from flightlog import cli

from .stores import mounts

COMMANDS = [
    ["runs"],
    ["show", "a-run"],
    ["show", "a-run", "--format", "run-log"],
    ["plan", "a-run"],
    ["explain", "a-run", "a-step"],
    ["resume", "a-run"],
    ["cancel", "a-run"],
    ["metrics", "a-run"],
    ["compare", "a-run", "b-run"],
    ["export", "mlflow", "a-run"],
    ["resources", "stats"],
    ["resources", "list", "images"],
    ["resources", "error", "images", "one"],
    ["resources", "log", "images", "one"],
    ["resources", "retry", "images"],
]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    out = io.StringIO()
    code = cli.main(list(args), out=out)
    return code, out.getvalue(), capsys.readouterr().err


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: " ".join(command))
@pytest.mark.parametrize("url", ["sqlite:///tpyo/x.db", "file://tpyo/store", None])
def test_no_command_makes_a_store(
    command: list[str],
    url: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLIGHTLOG_URL", raising=False)
    given = [] if url is None else ["--url", url]
    code, out, err = run_cli(capsys, *command, *given)
    assert code != 0
    shown = url or "sqlite:///.flightlog/flightlog.db"
    assert err.startswith(f"flightlog: error: there is no store at {shown}: "), err
    assert len(err.splitlines()) == 1, err
    assert out == ""
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("make", "url", "said"),
    [
        ("text", "sqlite:///{tmp}/notes.db", "{tmp}/notes.db is not an SQLite database"),
        ("truncated", "sqlite:///{tmp}/cut.db", "{tmp}/cut.db is damaged or truncated"),
        ("", "sqlite:///{tmp}", "{tmp} is a directory, not an SQLite database file"),
        ("", "sqlite:////dev/null", "/dev/null is a character device"),
        ("", "file:///", "root of the file system"),
        ("", "file:///dev/null", "names /dev/null, which is not a folder"),
        ("", "sqlite:///{tmp}/a\x00b.db", "contains a NUL character"),
    ],
)
def test_a_bad_store_is_one_line_that_names_it(
    make: str, url: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if make == "text":
        (tmp_path / "notes.db").write_text("not a database\n" * 100)
    if make == "truncated":
        with flightlog.open(f"sqlite:///{tmp_path}/cut.db") as fl:
            fl.task(lambda: 1)()
        data = (tmp_path / "cut.db").read_bytes()
        (tmp_path / "cut.db").write_bytes(data[:3000])
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.is_file()}
    for command in (["runs"], ["show", "a-run"]):
        code, _, err = run_cli(capsys, *command, "--url", url.format(tmp=tmp_path))
        assert code != 0
        assert err.startswith("flightlog: error: "), err
        assert said.format(tmp=tmp_path) in err, err
        assert len(err.splitlines()) == 1, err
    after = {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.is_file()}
    # Nothing made, nothing written (SQLite may remove the empty log files it left).
    assert set(after) <= set(before)
    assert all(after[name] == before[name] for name in after if not name.endswith(("-wal", "-shm")))


def test_runs_and_show_read_a_store_on_read_only_media(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through a read-only bind mount (fails where the machine refuses the mount: as root,
    nothing else makes media read-only)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    fl = flightlog.open(f"sqlite:///{disk}/fl.db")

    @fl.task
    def double(value: int) -> int:
        return 2 * value

    @fl.workflow
    def pipeline() -> int:
        return double(21)

    pipeline.run(run_id="on-media")
    fl.close()
    for name in ("fl.db-wal", "fl.db-shm"):  # as a clean close of the last connection leaves it
        (disk / name).unlink(missing_ok=True)
    with mounts.read_only_view(disk, tmp_path / "ro") as media:
        before = sorted(os.listdir(media))
        url = f"sqlite:///{media}/fl.db"
        code, out, err = run_cli(capsys, "runs", "--url", url)
        assert (code, err) == (0, "")
        assert "on-media" in out and "SUCCESSFUL" in out
        code, out, err = run_cli(capsys, "show", "on-media", "--url", url)
        assert (code, err) == (0, "")
        assert "- double  SUCCESSFUL" in out
        code, out, err = run_cli(capsys, "cancel", "on-media", "--url", url)
        assert code != 0 and "can be read, not written" in err, err
        assert sorted(os.listdir(media)) == before

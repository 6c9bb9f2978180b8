"""One reading of times for every ``since`` and ``until``: the API, the web filters, copy and
every command-line option."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

import flightlog
from flightlog.browse import parse_when
from flightlog.operations.copy import parse_since
from flightlog.questions import parse_time

from ..cli_run import run_cli

NOW = 1_800_000_000.0
ISO_UTC = "2026-12-01T00:00:00+00:00"
EPOCH_OF_ISO_UTC = 1796083200.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (ISO_UTC, EPOCH_OF_ISO_UTC),
        ("2026-12-01T00:00Z", EPOCH_OF_ISO_UTC),
        ("2026-12-01 01:30:00+01:30", EPOCH_OF_ISO_UTC),
        ("1796083200", EPOCH_OF_ISO_UTC),
        (" 1796083200.5 ", EPOCH_OF_ISO_UTC + 0.5),
        ("2h", NOW - 7200),
        ("2H", NOW - 7200),
        ("90s", NOW - 90),
        ("15m", NOW - 900),
        ("1.5d", NOW - 1.5 * 86400),
        ("2w", NOW - 14 * 86400),
    ],
)
def test_every_reader_reads_a_time_the_same(text: str, seconds: float) -> None:
    assert parse_time(text, "since", now=NOW) == seconds
    assert parse_since(text, now=NOW) == seconds
    assert parse_when(text, "since", now=NOW) == seconds
    assert cli_options_parse_when(text) == seconds


def cli_options_parse_when(text: str) -> float:
    from flightlog.cli_options import parse_when as read

    return read(text, now=NOW)


def test_dates_and_local_times() -> None:
    local = dt.datetime(2026, 12, 1).timestamp()  # a date or a time without a zone: local
    assert parse_time("2026-12-01") == local
    assert parse_time("2026-12-01T00:00") == local
    assert parse_time(dt.date(2026, 12, 1)) == local
    assert parse_time(dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)) == EPOCH_OF_ISO_UTC
    assert parse_time(EPOCH_OF_ISO_UTC) == EPOCH_OF_ISO_UTC
    assert parse_time(1796083200) == EPOCH_OF_ISO_UTC
    assert parse_time(dt.timedelta(hours=2), now=NOW) == NOW - 7200
    assert parse_time(None) is None


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "",
        "2h ago",
        "12x",
        "2026-13-01",
        "nan",
        "NaN",
        "inf",
        "-Infinity",
        True,
        float("nan"),
        float("inf"),
        -float("inf"),
        [1],
        "1e999",
    ],
)
def test_bad_times_are_named(value: object) -> None:
    with pytest.raises(flightlog.InvalidInputError, match="as a time for since") as raised:
        parse_time(value, "since")
    assert repr(value)[:40] in str(raised.value)
    with pytest.raises(flightlog.InvalidInputError):
        parse_since(value)


@pytest.mark.parametrize("value", ["nan", float("nan"), "inf", float("-inf")])
def test_the_api_refuses_times_that_are_not_finite(fl: flightlog.Flightlog, value: object) -> None:
    for call in (
        lambda: fl.list_runs(since=value),
        lambda: fl.list_runs(until=value),
        lambda: fl.counts(since=value),
    ):
        with pytest.raises(flightlog.InvalidInputError, match="not a finite number"):
            call()


@pytest.fixture
def url(tmp_path: Path) -> str:
    found = f"sqlite:///{tmp_path}/t.db"
    with flightlog.open(found) as fl:

        @fl.workflow
        def train(lr: float) -> float:
            return lr

        train.run(0.1, run_id="a")
    return found


def _ids(text: str) -> list[str]:
    return [run["run_id"] for run in json.loads(text)]


def test_the_command_line_reads_epochs_and_ages_everywhere(url: str, tmp_path: Path) -> None:
    created = flightlog.open(url).get_metadata("a")["stats"]["start_time"]
    before, after = str(int(created) - 60), str(int(created) + 60)
    assert _ids(run_cli("runs", "--url", url, "--json", "--since", before)[1]) == ["a"]
    assert _ids(run_cli("runs", "--url", url, "--json", "--since", after)[1]) == []
    assert _ids(run_cli("runs", "--url", url, "--json", "--until", "2H")[1]) == []
    code, text = run_cli("counts", "--url", url, "--json", "--since", before, "--until", after)
    assert code == 0 and json.loads(text)["runs"] == {"SUCCESSFUL": 1}
    code, text = run_cli("counts", "--url", url, "--json", "--since", "2H")
    assert code == 0 and json.loads(text)["runs"] == {"SUCCESSFUL": 1}
    target = f"sqlite:///{tmp_path}/copy.db"
    code, text = run_cli("copy", url, target, "--json", "--since", "2H")
    assert code == 0 and json.loads(text)["runs"] == 1
    code, text = run_cli("copy", url, f"sqlite:///{tmp_path}/none.db", "--json", "--since", after)
    assert code == 0 and json.loads(text)["runs"] == 0


@pytest.mark.parametrize(
    "command",
    [
        ["runs"],
        ["counts"],
        ["export-parquet", "out"],
        ["copy", "sqlite:///unused.db"],
    ],
)
@pytest.mark.parametrize("value", ["nan", "infinity", "last tuesday", "2026-02-30"])
def test_a_bad_time_is_one_usage_error_on_every_command(
    url: str, command: list[str], value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    name, *rest = command
    arguments = [name, url, *rest] if name == "copy" else [name, *rest, "--url", url]
    with pytest.raises(SystemExit) as leaving:
        run_cli(*arguments, "--since", value)
    assert leaving.value.code == 2
    error = capsys.readouterr().err
    assert f"argument --since: cannot read {value!r} as a time" in error
    assert "Traceback" not in error

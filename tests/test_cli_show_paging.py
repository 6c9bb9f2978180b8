"""``flightlog show`` of a large run reads, renders and writes its steps a page at a time: it
never reads the run whole, writes the first steps before it reads the last, and prints
exactly what it printed when it read the run whole."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog import cli, cli_show
from flightlog.model import Step
from flightlog.stores.sqlite import SQLiteStore

PAGE = 10


def _record(url: str, count: int) -> None:
    fl = flightlog.open(url)

    @fl.task
    def one(x: int) -> dict[str, int]:
        print(f"step {x}")
        return {"x": x}

    @fl.task
    def outer(x: int) -> int:
        return one(x)["x"] + 1  # a nested step

    @fl.workflow
    def many(n: int) -> int:
        return sum(outer(index) if index % 7 == 0 else one(index)["x"] for index in range(n))

    many.run(count, run_id="many")
    fl.close()


def _show(url: str, *options: str) -> str:
    out = io.StringIO()
    assert cli.main(["show", "many", "--url", url, *options], out=out) == 0
    return out.getvalue()


@pytest.mark.parametrize("count", [0, 9, 10, 25])
@pytest.mark.parametrize("options", [(), ("--json",), ("--full",)])
def test_show_pages_print_what_the_whole_run_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int, options: tuple[str, ...]
) -> None:
    url = f"sqlite:///{tmp_path}/show.db"
    _record(url, count)
    monkeypatch.setattr(cli_show, "PAGE", 10**9)  # the whole run in one page
    whole = _show(url, *options)
    monkeypatch.setattr(cli_show, "PAGE", PAGE)
    paged = _show(url, *options)
    assert paged == whole
    steps = count + len(range(0, count, 7))  # outer steps hold a nested one
    if options == ("--json",):
        assert len(json.loads(paged)["steps"]) == steps
    else:
        assert f"steps {steps}\n" in paged
        assert paged.count("\n  - ") + paged.count("\n    - ") == steps


def test_show_reads_pages_and_writes_before_reading_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/show.db"
    _record(url, 25)  # 29 steps: pages of 10, 10 and 9
    out = io.StringIO()
    reads: list[tuple[int | None, int]] = []  # (limit, characters written before the read)
    rows_of = SQLiteStore.step_rows  # the SQL stores' pages come as rows (StepRowStore)

    def counted(self: SQLiteStore, run_id: str, **options: Any) -> list[tuple[Any, ...]]:
        reads.append((options.get("limit"), len(out.getvalue())))
        return rows_of(self, run_id, **options)

    def whole(self: SQLiteStore, run_id: str) -> list[Step]:
        raise AssertionError("show read the whole run")

    monkeypatch.setattr(cli_show, "PAGE", PAGE)
    monkeypatch.setattr(SQLiteStore, "step_rows", counted)
    monkeypatch.setattr(SQLiteStore, "list_steps", whole)
    for options in ([], ["--json"]):
        reads.clear()
        out.seek(0)
        out.truncate()
        assert cli.main(["show", "many", "--url", url, *options], out=out) == 0
        assert [limit for limit, _ in reads] == [PAGE, PAGE, PAGE]
        first, second, last = (written for _, written in reads)
        assert first < second < last  # each page was written before the next was read
        assert "one_1" in out.getvalue()[:last]


class _Discarded(io.StringIO):
    """Output that is counted, not kept (as a pipe to ``head`` would be)."""

    written = 0

    def write(self, text: str) -> int:
        self.written += len(text)
        return len(text)


def _peak_of_show(url: str, *options: str) -> tuple[int, int]:
    out = _Discarded()
    tracemalloc.start()
    try:
        assert cli.main(["show", "many", "--url", url, *options], out=out) == 0
        return tracemalloc.get_traced_memory()[1], out.written
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("options", [(), ("--json",)])
def test_show_memory_stays_bounded_by_a_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: tuple[str, ...]
) -> None:
    url = f"sqlite:///{tmp_path}/show.db"
    _record(url, 1500)  # 1,715 steps
    monkeypatch.setattr(cli_show, "PAGE", 10**9)
    whole, written = _peak_of_show(url, *options)
    monkeypatch.setattr(cli_show, "PAGE", 50)
    paged, written_paged = _peak_of_show(url, *options)
    assert written_paged == written
    assert paged * 4 < whole, (paged, whole)

"""Many resources at once: fetch_many (in parallel), retry_errors, the progress bar."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest

import flightlog
from flightlog import Flightlog


def collection(fl: Flightlog, failing: set[str]) -> list[str]:
    calls: list[str] = []

    @fl.resource("items")
    def compute(ident: str, args: Any, ctx: Any) -> str:
        calls.append(ident)
        if ident in failing:
            raise RuntimeError(f"{ident} failed")
        return f"{ident}:{args.get('tag')}"

    return calls


def test_fetch_many_returns_in_order_and_collects_errors(fl: Flightlog) -> None:
    failing = {"i3", "i7"}
    calls = collection(fl, failing)
    idents = [f"i{n}" for n in range(10)]
    found = fl.fetch_many("items", idents, args={"tag": "t"}, workers=4)
    assert [resource.ident for resource in found] == idents
    assert [resource.status for resource in found] == [
        "error" if ident in failing else "completed" for ident in idents
    ]
    assert found[0].result == "i0:t"
    assert "RuntimeError: i3 failed" in (found[3].error or "")
    assert sorted(calls) == sorted(idents)
    assert fl.fetch_by_status("items", "error") == ["i3", "i7"]
    again = fl.fetch_many("items", idents[:3])  # cached now
    assert [resource.result for resource in again] == ["i0:t", "i1:t", "i2:t"]
    assert len(calls) == 10


def test_retry_errors_uses_recorded_args_and_keeps_history(fl: Flightlog) -> None:
    failing = {"i1", "i2"}
    calls = collection(fl, failing)
    fl.fetch_many("items", ["i0", "i1", "i2"], args={"tag": "first"})
    failing.discard("i1")  # the cause is fixed for one of them
    retried = fl.retry_errors("items")
    assert [(r.ident, r.status) for r in retried] == [("i1", "completed"), ("i2", "error")]
    assert retried[0].result == "i1:first"
    assert retried[1].history[0]["status"] == "error"
    assert "RuntimeError: i2 failed" in retried[1].history[0]["error"]
    assert fl.fetch_by_status("items", "error") == ["i2"]
    assert calls.count("i0") == 1 and calls.count("i1") == 2
    assert fl.retry_errors("items")[0].attempt == 3


def test_bad_batches_are_refused_before_any_work(fl: Flightlog) -> None:
    calls = collection(fl, set())
    with pytest.raises(flightlog.InvalidInputError, match="workers"):
        fl.fetch_many("items", ["a", "b"], workers=0)
    with pytest.raises(flightlog.InvalidInputError, match="list of identifiers"):
        fl.fetch_many("items", "ab")
    with pytest.raises(flightlog.NotFoundError, match="no function"):
        fl.fetch_many("undefined", ["a", "b"], workers=2)
    assert calls == []


def test_progress_bar_on_request(fl: Flightlog, monkeypatch: pytest.MonkeyPatch) -> None:
    collection(fl, {"b"})
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    fl.fetch_many("items", ["a", "b", "c"], progress=True)
    drawn = stream.getvalue()
    assert drawn.endswith("\n")
    assert "\ritems [" in drawn and "] 3/3 (1 error)" in drawn
    stream.truncate(0)
    fl.fetch_many("items", ["d"])  # not a terminal: no bar
    assert stream.getvalue() == ""

"""Caching across runs, and explanations of every decision."""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path

import pytest

import flightlog
from flightlog import Flightlog


def test_cache_serves_earlier_result_across_runs(fl: Flightlog) -> None:
    calls: list[int] = []

    @fl.task(cache=True)
    def slow_square(x: int) -> int:
        calls.append(x)
        return x * x

    @fl.workflow
    def flow(xs: list[int]) -> int:
        return sum(slow_square(x) for x in xs)

    assert flow.run([1, 2], run_id="first") == 5
    assert flow.run([2, 3], run_id="second") == 13
    assert calls == [1, 2, 3]
    step = fl.get_metadata("second", name="slow_square")
    assert step["origin"] == "cached" and step["source_run"] == "first"
    assert fl.get_step_result("second", "slow_square") == 4
    explained = fl.explain("second", "slow_square")
    assert explained["decision"] == "cached"
    assert explained["source_run"] == "first"
    assert "first" in explained["why"]
    miss = fl.explain("second", "slow_square_1")
    assert miss["decision"] == "executed"
    assert "parameter 'x' was" in miss["why"] and "now 3" in miss["why"]


def test_recompute_forces_work(fl: Flightlog) -> None:
    calls: list[int] = []

    @fl.task(cache=True)
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    @fl.workflow
    def flow(force: bool) -> int:
        return square.options(recompute=force)(4)

    flow.run(False, run_id="a")
    flow.run(True, run_id="b")
    flow.run(False, run_id="c")
    assert calls == [4, 4]
    assert fl.explain("b", "square")["why"] == "recompute=True was asked"
    assert fl.get_metadata("b", name="square")["step_options"]["recompute"] is True
    assert fl.explain("c", "square")["source_run"] == "b"


def test_failed_attempts_are_never_served(fl: Flightlog) -> None:
    state = {"fail": True}

    @fl.task(cache=True)
    def fragile(x: int) -> int:
        if state["fail"]:
            raise RuntimeError("broken")
        return x

    @fl.workflow
    def flow() -> int:
        return fragile(1)

    with pytest.raises(RuntimeError):
        flow.run(run_id="bad")
    state["fail"] = False
    assert flow.run(run_id="good") == 1
    assert fl.get_metadata("good", name="fragile")["origin"] == "executed"


def test_cache_needs_cache_enabled_on_both_sides(fl: Flightlog) -> None:
    calls: list[int] = []

    def body(x: int) -> int:
        calls.append(x)
        return x

    plain = fl.task(name="shared", version="1")(body)
    cached = fl.task(name="shared", version="1", cache=True)(body)

    @fl.workflow
    def flow(use_cache: bool) -> int:
        return (cached if use_cache else plain)(7)

    flow.run(False, run_id="p")
    flow.run(True, run_id="c1")
    flow.run(True, run_id="c2")
    assert calls == [7, 7]
    assert "cache=False" in fl.explain("p", "shared")["why"]


def test_unhashable_argument_with_cache_names_the_parameter(fl: Flightlog) -> None:
    import threading

    @fl.task(cache=True)
    def use(lock: object, n: int) -> int:
        return n

    @fl.workflow
    def flow() -> int:
        return use(threading.Lock(), 1)

    with pytest.raises(flightlog.SerializationError, match="'lock'"):
        flow.run(run_id="u")


def test_unhashable_argument_without_cache_warns_once(fl: Flightlog) -> None:
    import threading

    @fl.task
    def use(lock: object) -> int:
        return 1

    @fl.workflow
    def flow() -> int:
        return use(threading.Lock()) + use(threading.Lock())

    with pytest.warns(UserWarning, match="'lock'") as warned:
        assert flow.run(run_id="w") == 2
    assert len([w for w in warned if "lock" in str(w.message)]) == 1
    assert fl.get_metadata("w", name="use")["execution_id"] is None


MODULE = """
import flightlog

fl = flightlog.open({url!r})
FACTOR = {factor}


def helper(x):
    return x * FACTOR


@fl.task(cache=True)
def scaled(x):
    # a comment that may change
    return helper(x) + {offset}


@fl.workflow
def flow(x):
    return scaled(x)
"""


def _load(tmp_path: Path, name: str, **values: object) -> object:
    (tmp_path / f"{name}.py").write_text(MODULE.format(**values))
    sys.modules.pop(name, None)
    shutil.rmtree(tmp_path / "__pycache__", ignore_errors=True)
    importlib.invalidate_caches()
    return importlib.import_module(name)


def test_code_change_invalidates_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    url = f"sqlite:///{tmp_path}/cache.db"
    name = "cachedmod"
    module: object = _load(tmp_path, name, url=url, factor=2, offset=0)
    assert module.flow.run(5, run_id="v1") == 10  # type: ignore[attr-defined]
    module = _load(tmp_path, name, url=url, factor=3, offset=0)  # a constant it reads changed
    assert module.flow.run(5, run_id="v2") == 15  # type: ignore[attr-defined]
    fl = module.fl  # type: ignore[attr-defined]
    assert fl.get_metadata("v2", name="scaled")["origin"] == "executed"
    why = fl.explain("v2", "scaled")["why"]
    assert "other code" in why and "FACTOR" in why
    module = _load(tmp_path, name, url=url, factor=2, offset=0)  # restored: hit again
    assert module.flow.run(5, run_id="v3") == 10  # type: ignore[attr-defined]
    fl = module.fl  # type: ignore[attr-defined]
    assert fl.get_metadata("v3", name="scaled")["source_run"] == "v1"
    text = (tmp_path / f"{name}.py").read_text().replace("may change", "did change")
    (tmp_path / f"{name}.py").write_text(text + "\n\n")
    sys.modules.pop(name, None)
    shutil.rmtree(tmp_path / "__pycache__", ignore_errors=True)
    importlib.invalidate_caches()
    module = importlib.import_module(name)
    assert module.flow.run(5, run_id="v4") == 10  # type: ignore[attr-defined]
    assert module.fl.get_metadata("v4", name="scaled")["origin"] == "cached"  # type: ignore[attr-defined]
    sys.modules.pop(name, None)


def test_plan_resume_and_plan_run(fl: Flightlog) -> None:
    fail = {"at": 2}
    calls: list[int] = []

    @fl.task(cache=True)
    def work(i: int) -> int:
        calls.append(i)
        if i == fail["at"]:
            raise RuntimeError("boom")
        return i

    @fl.workflow
    def flow(n: int) -> int:
        return sum(work(i) for i in range(n))

    with pytest.raises(RuntimeError):
        flow.run(4, run_id="p")
    plan = fl.plan_resume("p")
    assert [(p["step"], p["decision"]) for p in plan] == [
        ("work", "replay"),
        ("work_1", "replay"),
        ("work_2", "execute"),
    ]
    assert "FAILED" in plan[2]["why"]
    assert calls == [0, 1, 2]  # planning executed nothing
    fail["at"] = -1
    assert fl.resume("p") == 6
    assert fl.explain("p", "work_2")["why"].startswith("the earlier attempt of this run left it")
    assert fl.explain("p", "work")["decision"] == "replayed"
    outline = flow.plan(4)
    assert [p["decision"] for p in outline] == ["cache"] * 4
    assert all("'p'" in p["why"] for p in outline)
    other = flow.plan(5)
    assert {p["decision"] for p in other} == {"execute"}
    assert "arguments differ" in other[0]["why"]
    with pytest.raises(flightlog.NotFoundError, match="no recorded run"):

        @fl.workflow
        def never() -> None:
            return None

        never.plan()

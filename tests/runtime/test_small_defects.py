"""Smaller defects of issue 11: partials and callable instances as tasks and workflows,
chained ``options``, ``resume_all(include_failed=True)``, metadata that is not JSON, and an
async task called from a plain workflow."""

from __future__ import annotations

import asyncio
import functools
import re
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest

import flightlog
from flightlog import Flightlog
from flightlog.identity import task_identity

# -- tasks and workflows made from partials and callable instances ------------------------------

CALLS: list[str] = []


def scale(factor: int, value: int) -> int:
    CALLS.append(f"scale {factor}*{value}")
    if value < 0:
        raise ValueError(f"negative value {value}")
    return factor * value


class Scaler:
    """Multiplies by its factor."""

    def __init__(self, factor: int) -> None:
        self.factor = factor
        self.name = "an attribute that must not hide the task's name"

    def __call__(self, value: int) -> int:
        CALLS.append(f"Scaler {self.factor}*{value}")
        if value < 0:
            raise ValueError(f"negative value {value}")
        return self.factor * value


async def fetch_scaled(factor: int, value: int) -> int:
    await asyncio.sleep(0)
    return factor * value


class AsyncScaler:
    def __init__(self, factor: int) -> None:
        self.factor = factor

    async def __call__(self, value: int) -> int:
        await asyncio.sleep(0)
        return self.factor * value


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    CALLS.clear()


def test_partial_and_instance_tasks_have_sensible_names_and_signatures(fl: Flightlog) -> None:
    double = fl.task(functools.partial(scale, 2))
    triple = fl.task(Scaler(3))
    assert (double.name, triple.name) == ("scale", "Scaler")
    assert double.__name__ == "scale"
    assert triple.__name__ == "Scaler"
    assert triple.__doc__ == "Multiplies by its factor."
    assert double.bind((5,), {}) == {"value": 5}
    assert triple.bind((), {"value": 5}) == {"value": 5}
    with pytest.raises(TypeError, match=r"scale\(\)"):
        double(1, 2)
    assert fl.task(name="custom")(Scaler(3)).name == "custom"
    assert fl.workflow(functools.partial(scale, 2)).name == "scale"
    assert fl.workflow(Scaler(2)).name == "Scaler"


def test_partial_and_instance_identities_are_stable_and_cover_what_they_bind() -> None:
    assert task_identity(functools.partial(scale, 2)).name.endswith(".scale")
    assert task_identity(Scaler(2)).name.endswith(".Scaler")
    # The same partial or instance, made again (as in another process): the same identity.
    assert (
        task_identity(functools.partial(scale, 2)).task_id
        == task_identity(functools.partial(scale, 2)).task_id
    )
    assert task_identity(Scaler(2)).task_id == task_identity(Scaler(2)).task_id
    # What they bind counts: scale by 2 is not scale by 3.
    assert (
        task_identity(functools.partial(scale, 2)).task_id
        != task_identity(functools.partial(scale, 3)).task_id
    )
    assert (
        task_identity(functools.partial(scale, factor=2)).task_id
        != task_identity(functools.partial(scale, factor=3)).task_id
    )
    assert task_identity(Scaler(2)).task_id != task_identity(Scaler(3)).task_id
    # And a partial is not its bare function, nor a partial of another function.
    assert task_identity(functools.partial(scale, 2)).task_id != task_identity(scale).task_id
    assert (
        task_identity(functools.partial(scale, 2)).task_id
        != task_identity(functools.partial(fetch_scaled, 2)).task_id
    )


def test_partial_and_instance_steps_are_recorded(fl: Flightlog) -> None:
    double = fl.task(functools.partial(scale, 2))
    triple = fl.task(Scaler(3))

    @fl.workflow
    def flow(values: list[int]) -> int:
        return sum(double(v) + triple(value=v) for v in values)

    with pytest.raises(ValueError, match="negative"):
        flow.run([1, 2, -1], run_id="r")
    steps = fl.steps("r")
    assert [(s["name"], s["status"]) for s in steps] == [
        ("scale", "SUCCESSFUL"),
        ("Scaler", "SUCCESSFUL"),
        ("scale_1", "SUCCESSFUL"),
        ("Scaler_1", "SUCCESSFUL"),
        ("scale_2", "FAILED"),
    ]
    assert fl.get_metadata("r", name="scale_1")["arguments"] == {"value": 2}
    assert fl.get_step_result("r", "Scaler_1") == 6
    assert steps[0]["task_id"] != steps[1]["task_id"]
    assert CALLS == ["scale 2*1", "Scaler 3*1", "scale 2*2", "Scaler 3*2", "scale 2*-1"]


def test_partial_and_instance_steps_replay_on_resume(fl: Flightlog) -> None:
    failing = {"on": True}

    def checked(factor: int, value: int) -> int:
        CALLS.append(f"checked {factor}*{value}")
        if failing["on"] and value == 3:
            raise RuntimeError("not yet")
        return factor * value

    double = fl.task(functools.partial(checked, 2))
    triple = fl.task(Scaler(3))

    @fl.workflow
    def flow(n: int) -> int:
        return sum(triple(double(v)) for v in range(1, n + 1))

    with pytest.raises(RuntimeError, match="not yet"):
        flow.run(3, run_id="r")
    assert fl.get_status("r") == "FAILED"
    failing["on"] = False
    CALLS.clear()
    assert fl.resume("r") == 3 * 2 * (1 + 2 + 3)
    assert CALLS == ["checked 2*3", "Scaler 3*6"]
    origins = {s["name"]: s["origin"] for s in fl.steps("r")}
    assert origins == {
        "checked": "replayed",
        "Scaler": "replayed",
        "checked_1": "replayed",
        "Scaler_1": "replayed",
        "checked_2": "executed",
        "Scaler_2": "executed",
    }


def test_partial_and_instance_tasks_use_the_cache(fl: Flightlog) -> None:
    double = fl.task(functools.partial(scale, 2), cache=True)
    twice_again = fl.task(functools.partial(scale, 2), cache=True)
    triple = fl.task(functools.partial(scale, 3), cache=True)
    by_four = fl.task(Scaler(4), cache=True)
    by_five = fl.task(Scaler(5), cache=True)

    @fl.workflow
    def flow(v: int) -> list[int]:
        return [double(v), twice_again(v), triple(v), by_four(v), by_five(v)]

    assert flow.run(7, run_id="first") == [14, 14, 21, 28, 35]
    # The second partial of scale by 2 is served from the first one's result; the others
    # bind other values, so they compute.
    assert CALLS == ["scale 2*7", "scale 3*7", "Scaler 4*7", "Scaler 5*7"]
    CALLS.clear()
    assert flow.run(7, run_id="second") == [14, 14, 21, 28, 35]
    assert CALLS == []
    assert {s["origin"] for s in fl.steps("second")} == {"cached"}
    assert double.options(recompute=True)(7) == 14  # a lone run: it computes
    assert CALLS == ["scale 2*7"]


def test_partial_and_instance_lone_runs_and_workflows_resume(fl: Flightlog) -> None:
    double = fl.task(functools.partial(scale, 2))
    assert double(21) == 42
    (run,) = fl.list_runs()
    assert run["workflow"] == "scale"
    assert fl.steps(run["run_id"])[0]["name"] == "scale"

    triple = fl.task(Scaler(3))
    with pytest.raises(ValueError, match="negative"):
        triple(-1)
    failed = fl.list_runs(status="FAILED")[0]["run_id"]
    assert fl.get_metadata(failed)["workflow"] == "Scaler"

    def pipeline(offset: int, n: int) -> int:
        return sum(double(v) for v in range(n)) + offset

    flow = fl.workflow(functools.partial(pipeline, 100))
    assert flow.run(3, run_id="w") == 106
    assert fl.get_metadata("w")["workflow"] == "pipeline"
    assert fl.resume("w") == 106

    class Pipeline:
        def __init__(self) -> None:
            self.fail = True

        def __call__(self, n: int) -> int:
            if self.fail:
                raise RuntimeError("first time")
            return sum(triple(v) for v in range(n))

    instance = Pipeline()
    callable_flow = fl.workflow(instance)
    with pytest.raises(RuntimeError, match="first time"):
        callable_flow.run(3, run_id="c")
    instance.fail = False
    assert fl.resume("c") == 9
    assert fl.get_metadata("c")["workflow"] == "Pipeline"


def test_async_partial_and_instance_tasks(fl: Flightlog) -> None:
    fetch_double = fl.task(functools.partial(fetch_scaled, 2))
    fetch_triple = fl.task(AsyncScaler(3))
    assert fetch_double.is_async and fetch_triple.is_async

    @fl.workflow
    async def flow(v: int) -> int:
        return await fetch_double(v) + await fetch_triple(v)

    assert asyncio.run(flow.run(5, run_id="a")) == 25
    assert [s["name"] for s in fl.steps("a")] == ["fetch_scaled", "AsyncScaler"]
    assert asyncio.run(fetch_triple(2)) == 6  # a lone async task: still an awaitable

    async_flow = fl.workflow(AsyncScaler(10))
    assert async_flow.is_async
    assert asyncio.run(async_flow.run(2, run_id="b")) == 20


def test_partial_task_resumes_in_a_process_that_did_not_define_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    module = tmp_path / "partial_tasks_mod.py"
    module.write_text(
        textwrap.dedent(
            f"""
            import functools
            import flightlog

            fl = flightlog.open({url!r})
            STATE = {{"fail": True}}

            def scale(factor, value):
                if STATE["fail"]:
                    raise RuntimeError("first time")
                return factor * value

            double = fl.task(functools.partial(scale, 2))
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import partial_tasks_mod  # type: ignore[import-not-found]

    try:
        with pytest.raises(RuntimeError, match="first time"):
            partial_tasks_mod.double(4)
        (run,) = partial_tasks_mod.fl.list_runs()
        assert run["environment"]["entry"] == {
            "module": "partial_tasks_mod",
            "qualname": "double",
            "parameters": ["value"],  # those left to give
        }
        partial_tasks_mod.STATE["fail"] = False
        with flightlog.open(url) as other:  # found through the run's entry, not by name
            assert other.resume(run["run_id"]) == 8
    finally:
        partial_tasks_mod.fl.close()
        sys.modules.pop("partial_tasks_mod", None)


# -- options chains -----------------------------------------------------------------------------


def test_options_chain_later_options_win_and_metadata_merges(fl: Flightlog) -> None:
    calls: list[int] = []

    @fl.task(metadata={"task": 1}, cache=True)
    def square(v: int) -> int:
        calls.append(v)
        return v * v

    first = square.options(name="one", metadata={"a": 1, "b": 1})
    chained = first.options(metadata={"b": 2, "c": 3}).options(name="two")

    @fl.workflow
    def flow() -> list[int]:
        return [
            first(2),
            chained(2),
            square.options(recompute=True).options(name="forced")(2),
            square.options(recompute=True).options(recompute=False, name="served")(2),
        ]

    assert flow.run(run_id="r") == [4, 4, 4, 4]
    assert calls == [2, 2]  # the first call, and the forced one
    assert fl.get_metadata("r", name="one")["user_metadata"] == {"task": 1, "a": 1, "b": 1}
    two = fl.get_metadata("r", name="two")
    assert two["user_metadata"] == {"task": 1, "a": 1, "b": 2, "c": 3}
    assert two["origin"] == "cached"
    assert fl.get_metadata("r", name="forced")["origin"] == "executed"
    assert fl.get_metadata("r", name="served")["origin"] == "cached"
    # The bound task made first is not changed by the chains made from it.
    assert first._call.name == "one" and first._call.metadata == {"a": 1, "b": 1}
    with pytest.raises(flightlog.InvalidInputError, match="step name"):
        first.options(name="")


# -- resume_all(include_failed=True) ------------------------------------------------------------


def test_resume_all_includes_failed_runs_when_asked(fl: Flightlog) -> None:
    failing = {"on": True}

    @fl.task
    def work(v: int) -> int:
        if failing["on"]:
            raise RuntimeError("down")
        return v

    @fl.workflow
    def flow(v: int) -> int:
        return work(v)

    for v in (1, 2):
        with pytest.raises(RuntimeError):
            flow.run(v, run_id=f"f{v}")
    failing["on"] = False
    assert fl.resume_all() == {}  # the default: RESUMABLE runs only
    assert fl.get_status("f1") == "FAILED"
    assert fl.resume_all(include_failed=True) == {"f1": 1, "f2": 2}
    assert {fl.get_status("f1"), fl.get_status("f2")} == {"SUCCESSFUL"}


# -- metadata that is not JSON ------------------------------------------------------------------


def test_metadata_that_is_not_json_is_invalid_input_naming_the_key(fl: Flightlog) -> None:
    with pytest.raises(flightlog.InvalidInputError, match="'x'") as caught:
        fl.workflow(metadata={"x": object()})(lambda: None)
    assert isinstance(caught.value, ValueError)
    assert not isinstance(caught.value, TypeError)
    with pytest.raises(flightlog.InvalidInputError, match="'k'"):
        fl.task(metadata={"k": {1, 2}})(lambda: None)
    with pytest.raises(flightlog.InvalidInputError, match="'nan'"):
        fl.task(metadata={"nan": float("nan")})(lambda: None)

    ran: list[int] = []

    @fl.task
    def work() -> int:
        ran.append(1)
        return 1

    @fl.workflow
    def flow() -> int:
        return work.options(metadata={"when": object()})()

    with pytest.raises(flightlog.InvalidInputError, match="'y'"):
        flow.run(run_id="refused", metadata={"ok": 1, "y": object()})
    with pytest.raises(flightlog.InvalidInputError, match="'y'"):
        flow.run_async(run_id="refused", metadata={"y": object()})
    assert fl.list_runs() == []
    with pytest.raises(flightlog.InvalidInputError, match="'when'"):
        flow.run(run_id="bad-step")
    assert ran == []
    assert fl.steps("bad-step") == []  # the run fails before its step is recorded
    with pytest.raises(flightlog.InvalidInputError, match="'when'"):
        work.options(metadata={"when": object()}).options(name="x")


# -- an async task called from a plain workflow -------------------------------------------------


def test_async_task_in_a_sync_workflow_says_what_to_do(fl: Flightlog) -> None:
    @fl.task
    def before() -> int:
        return 1

    @fl.task
    async def fetch(v: int) -> int:
        return v

    @fl.workflow
    def flow() -> Any:
        before()
        return fetch(1)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "coroutine was never awaited"
        with pytest.raises(flightlog.InvalidInputError) as caught:
            flow.run(run_id="s")
    message = str(caught.value)
    assert "task 'fetch' is async" in message
    assert "async workflow" in message and "await fetch(...)" in message
    assert "plain function" in message
    assert fl.get_status("s") == "FAILED"
    assert fl.get_metadata("s")["error"]["type"].endswith("InvalidInputError")
    assert [s["name"] for s in fl.steps("s")] == ["before"]  # nothing half-recorded
    with pytest.raises(flightlog.InvalidInputError, match="is async"):
        fl.resume("s")  # the same again, the same clear error

    @fl.workflow
    async def good() -> int:
        return await fetch(2) + before()

    assert asyncio.run(good.run(run_id="a")) == 3
    assert asyncio.run(fetch(5)) == 5  # a lone async task still returns an awaitable


# -- the example of getting started --------------------------------------------------------------


def test_the_docs_partial_and_options_example_runs() -> None:
    readme = Path(__file__).resolve().parents[2] / "docs" / "getting-started.md"
    section = readme.read_text().split("A `functools.partial` or a callable object is a task", 1)
    found = re.search(r"```python\n(.*?)```", section[1], re.DOTALL)
    assert found is not None, "getting-started.md has no example of partials and chained options"
    namespace: dict[str, Any] = {"__name__": "readme_partials"}
    exec(compile(found.group(1), str(readme), "exec"), namespace)
    fl = namespace["fl"]
    try:
        assert fl.get_output("prep") == [3.0, 5.0]
        assert [s["name"] for s in fl.steps("prep")] == ["scale", "shifted", "scale_1", "shifted_1"]
        assert fl.get_metadata("prep", name="shifted")["user_metadata"] == {"unit": "m", "pass": 1}
        assert fl.steps("prep")[1]["step_options"]["cache"] is True
    finally:
        fl.close()

"""Fetching resources: computed once, then served; errors recorded, raised and retried."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import flightlog
from flightlog import Flightlog


def counting(fl: Flightlog, name: str = "images") -> tuple[Any, list[str]]:
    calls: list[str] = []

    @fl.resource(name)
    def compute(ident: str, args: dict[str, Any], ctx: Any) -> dict[str, Any]:
        calls.append(ident)
        if args.get("fail"):
            raise ValueError(f"cannot make {ident}")
        return {"ident": ident, "size": args.get("size")}

    return compute, calls


def test_fetch_computes_once_then_serves_the_record(fl: Flightlog) -> None:
    _, calls = counting(fl)
    before = int(time.time() * 1000)
    first = fl.fetch("images", "img-1", args={"size": 3})
    assert first.status == "completed"
    assert first.result == {"ident": "img-1", "size": 3}
    assert first.args == {"size": 3}
    assert first.start_time is not None and first.end_time is not None
    assert before <= first.start_time <= first.end_time <= int(time.time() * 1000)
    assert isinstance(first.start_time, int)
    again = fl.fetch("images", "img-1", args={"size": 99})  # cached: args are not looked at
    assert again.result == {"ident": "img-1", "size": 3}
    assert again.start_time == first.start_time and again.args == {"size": 3}
    assert calls == ["img-1"]
    assert fl.status("images", "img-1") == "completed"
    assert fl.fetch_error("images", "img-1") == ""


def test_recompute_true_computes_again(fl: Flightlog) -> None:
    _, calls = counting(fl)
    fl.fetch("images", "a", args={"size": 1})
    redone = fl.fetch("images", "a", args={"size": 2}, recompute=True)
    assert redone.result["size"] == 2 and calls == ["a", "a"]
    assert redone.attempt == 2
    assert [past["status"] for past in redone.history] == ["completed"]


def test_error_is_recorded_raised_and_retried(fl: Flightlog) -> None:
    _, calls = counting(fl)
    with pytest.raises(ValueError, match="cannot make bad"):
        fl.fetch("images", "bad", args={"fail": True})
    assert fl.status("images", "bad") == "error"
    error = fl.fetch_error("images", "bad")
    assert error.startswith("Traceback (most recent call last):")
    assert "ValueError: cannot make bad" in error
    assert fl.fetch_by_status("images", "error") == ["bad"]
    failed = fl.get_resource("images", "bad")
    assert failed.status == "error" and failed.result is None and failed.error == error
    fixed = fl.fetch("images", "bad", args={"size": 5})  # fetching again retries it
    assert fixed.status == "completed" and calls == ["bad", "bad"]
    assert fixed.history[0]["status"] == "error"
    assert "ValueError: cannot make bad" in fixed.history[0]["error"]
    assert fl.fetch_error("images", "bad") == ""


def test_unencodable_result_is_an_error(fl: Flightlog) -> None:
    @fl.resource("odd")
    def compute(ident: str, args: Any, ctx: Any) -> Any:
        return {"lock": threading.Lock()}

    with pytest.raises(
        flightlog.SerializationError,
        match=r"'x' of collection 'odd'.*cannot be encoded.*value\['lock'\]",
    ):
        fl.fetch("odd", "x")
    assert fl.status("odd", "x") == "error"
    assert "SerializationError" in fl.fetch_error("odd", "x")


def test_unencodable_args_are_refused_before_computing(fl: Flightlog) -> None:
    _, calls = counting(fl)
    with pytest.raises(
        flightlog.SerializationError, match=r"'x'.*args cannot be recorded.*value\['handle'\]"
    ):
        fl.fetch("images", "x", args={"handle": threading.Lock()})
    assert calls == [] and fl.status("images", "x") == "unavailable"


def test_recompute_stale_follows_code_and_args(fl: Flightlog) -> None:
    calls: list[int] = []

    def version_one(ident: str, args: Any, ctx: Any) -> int:
        calls.append(1)
        return 1

    def version_two(ident: str, args: Any, ctx: Any) -> int:
        calls.append(2)
        return 2

    fl.resource("numbers")(version_one)
    for ident in ("a", "b", "c"):
        fl.fetch("numbers", ident, args={"k": 1})
    assert fl.stale("numbers") == []
    assert fl.fetch("numbers", "a", args={"k": 1}, recompute="stale").result == 1
    assert fl.fetch("numbers", "a", args={"k": 2}, recompute="stale").attempt == 2  # args differ
    fl.resource("numbers")(version_two)  # other code: a new code identity
    assert fl.stale("numbers") == ["a", "b", "c"]
    assert fl.fetch("numbers", "b", args={"k": 1}).result == 1  # plain fetch: still cached
    assert fl.fetch("numbers", "b", args={"k": 1}, recompute="stale").result == 2
    assert fl.stale("numbers") == ["a", "c"]
    assert calls == [1, 1, 1, 1, 2]


def test_version_pins_the_code_identity(fl: Flightlog) -> None:
    fl.resource("pinned", version="1")(lambda ident, args, ctx: 1)
    fl.fetch("pinned", "a")
    fl.resource("pinned", version="1")(lambda ident, args, ctx: 2)
    assert fl.stale("pinned") == []
    fl.resource("pinned", version="2")(lambda ident, args, ctx: 3)
    assert fl.stale("pinned") == ["a"]


def test_declare_stats_and_fetch_by_status(fl: Flightlog) -> None:
    counting(fl)
    assert fl.stats("images") == {
        "counts": {"total": 0, "pending": 0, "completed": 0, "error": 0, "unavailable": 0}
    }
    assert fl.declare("images", [f"img-{n}" for n in range(5)]) == 5
    assert fl.declare("images", ["img-0", "img-9"]) == 1
    fl.fetch("images", "img-1")
    fl.fetch("images", "img-2")
    with pytest.raises(ValueError):
        fl.fetch("images", "img-3", args={"fail": True})
    assert fl.stats("images") == {
        "counts": {"total": 6, "pending": 0, "completed": 2, "error": 1, "unavailable": 3}
    }
    assert fl.fetch_by_status("images", "unavailable") == ["img-0", "img-4", "img-9"]
    assert fl.fetch_by_status("images", "completed") == ["img-1", "img-2"]
    assert fl.fetch_by_status("images", "ERROR") == ["img-3"]
    assert fl.fetch_by_status("images", "pending") == []
    assert fl.status("images", "img-0") == "unavailable"
    assert fl.status("images", "never-heard-of") == "unavailable"
    with pytest.raises(flightlog.InvalidInputError, match="unknown resource status 'done'"):
        fl.fetch_by_status("images", "done")


def test_stats_of_every_collection(fl: Flightlog) -> None:
    counting(fl, "images")
    counting(fl, "tables")
    fl.declare("empty-but-declared", ["x"])
    fl.fetch("images", "a")
    everything = fl.stats()
    assert set(everything) == {"images", "tables", "empty-but-declared"}
    assert everything["images"]["counts"]["completed"] == 1
    assert everything["tables"]["counts"]["total"] == 0
    assert everything["empty-but-declared"]["counts"]["unavailable"] == 1


def test_integer_identifiers_become_text(fl: Flightlog) -> None:
    counting(fl)
    assert fl.fetch("images", 7).ident == "7"
    assert fl.status("images", "7") == "completed"


def test_bare_decorator_and_collection_methods(fl: Flightlog) -> None:
    @fl.resource
    def squares(ident: str, args: Any, ctx: Any) -> int:
        return int(ident) ** 2

    assert squares.name == "squares"
    assert squares.fetch("4").result == 16
    assert squares.status("4") == "completed"
    assert squares.stats()["counts"]["completed"] == 1
    assert squares.fetch_by_status("completed") == ["4"]
    assert squares.declare(["5"]) == 1
    assert squares.stale() == []
    assert [r.result for r in squares.fetch_many(["2", "3"])] == [4, 9]
    assert squares.get_resource("5").status == "unavailable"
    assert squares.retry_errors() == []
    assert fl.collection("squares") is squares


def test_bad_definitions_and_calls_are_clear_errors(fl: Flightlog) -> None:
    with pytest.raises(flightlog.InvalidInputError, match="needs a function"):
        fl.resource("x")(42)  # type: ignore[arg-type]

    async def later(ident: str, args: Any, ctx: Any) -> None:
        return None

    with pytest.raises(flightlog.InvalidInputError, match="async function"):
        fl.resource("x")(later)
    with pytest.raises(flightlog.InvalidInputError, match="log_backups"):
        fl.resource("x", log_backups=-1)(lambda ident, args, ctx: 1)
    with pytest.raises(flightlog.NotFoundError, match="no function in this process"):
        fl.fetch("undefined", "a")
    with pytest.raises(flightlog.NotFoundError, match="no function in this process"):
        fl.stale("undefined")
    counting(fl)
    with pytest.raises(flightlog.InvalidInputError, match="recompute must be"):
        fl.fetch("images", "a", recompute="sometimes")
    with pytest.raises(flightlog.NotFoundError, match="never computed"):
        fl.fetch_error("images", "nope")
    with pytest.raises(flightlog.InvalidInputError, match="list of identifiers"):
        fl.declare("images", "abc")


def test_served_without_the_function_once_computed(fl: Flightlog, tmp_path: Any) -> None:
    counting(fl)
    fl.fetch("images", "a")
    other = flightlog.open(fl.url) if not fl.url.startswith("memory") else fl
    try:
        if other is not fl:
            assert other.collection("images") is None
        assert other.fetch("images", "a").result == {"ident": "a", "size": None}
    finally:
        if other is not fl:
            other.close()


def test_threads_sweeping_one_new_collection_compute_each_resource_once(fl: Flightlog) -> None:
    computed: list[str] = []

    @fl.resource("swept")
    def swept(ident: str, args: Any, ctx: Any) -> str:
        computed.append(ident)  # list.append is atomic
        time.sleep(0.0005)
        return ident.upper()

    idents = [f"r{index:03d}" for index in range(150)]
    orders = [idents, idents, idents[::-1], idents[::2] + idents[1::2]]
    results: list[dict[str, Any]] = [{} for _ in orders]
    start = threading.Barrier(len(orders))

    def sweep(order: list[str], found: dict[str, Any]) -> None:
        start.wait(10)
        for ident in order:
            found[ident] = fl.fetch("swept", ident).result

    threads = [
        threading.Thread(target=sweep, args=(order, found))
        for order, found in zip(orders, results, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(computed) == idents  # each one, once
    for order, found in zip(orders, results, strict=True):
        assert found == {ident: ident.upper() for ident in order}
    assert fl.stats("swept")["counts"]["completed"] == len(idents)


def test_threads_fetching_one_resource_compute_it_once(fl: Flightlog) -> None:
    started = threading.Event()
    release = threading.Event()
    calls: list[str] = []

    @fl.resource("slow")
    def slow(ident: str, args: Any, ctx: Any) -> str:
        calls.append(ident)
        started.set()
        assert release.wait(10)
        if args.get("fail"):
            raise KeyError("no such thing")
        return ident * 2

    results: dict[str, Any] = {}

    def fetch(key: str, args: dict[str, Any]) -> None:
        try:
            results[key] = fl.fetch("slow", "x", args=args, recompute=bool(args)).result
        except BaseException as error:
            results[key] = error

    first = threading.Thread(target=fetch, args=("first", {}))
    first.start()
    assert started.wait(10)
    assert fl.status("slow", "x") == "pending"
    assert fl.fetch_by_status("slow", "pending") == ["x"]
    assert fl.stats("slow")["counts"]["pending"] == 1
    assert fl.fetch("slow", "x", wait=False).status == "pending"
    second = threading.Thread(target=fetch, args=("second", {}))
    second.start()
    time.sleep(0.05)
    release.set()
    first.join(10)
    second.join(10)
    assert results == {"first": "xx", "second": "xx"} and calls == ["x"]

    # A failure reaches the waiting thread as the same exception.
    started.clear()
    release.clear()
    first = threading.Thread(target=fetch, args=("first", {"fail": True}))
    first.start()
    assert started.wait(10)
    waiter = threading.Thread(target=lambda: fetch("second", {}))
    waiter.start()
    time.sleep(0.05)
    release.set()
    first.join(10)
    waiter.join(10)
    assert isinstance(results["first"], KeyError)
    assert results["second"] is results["first"]
    assert calls == ["x", "x"]


def test_a_function_fetching_itself_is_refused(fl: Flightlog) -> None:
    @fl.resource("loop")
    def loop(ident: str, args: Any, ctx: Any) -> Any:
        return fl.fetch("loop", ident).result

    with pytest.raises(flightlog.ConflictError, match="this very thread"):
        fl.fetch("loop", "x")
    assert fl.status("loop", "x") == "error"


def test_a_function_recomputing_itself_is_refused(fl: Flightlog) -> None:
    @fl.resource("again")
    def again(ident: str, args: Any, ctx: Any) -> Any:
        if args.get("nested"):
            return fl.fetch("again", ident, args=args, recompute=True).result
        return "plain"

    assert fl.fetch("again", "x").result == "plain"
    with pytest.raises(flightlog.ConflictError, match="this very thread"):
        fl.fetch("again", "x", args={"nested": True}, recompute=True)
    assert fl.status("again", "x") == "error"


class StoreCalls:
    """Counts the resource calls a recorder makes of its store."""

    def __init__(self, fl: Flightlog, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        for name in ("get_resource", "claim_resource"):
            real = getattr(fl.store, name)

            def spy(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
                self.calls.append(_name)
                return _real(*args, **kwargs)

            monkeypatch.setattr(fl.store, name, spy)

    def during(self, action: Any) -> list[str]:
        self.calls.clear()
        action()
        return list(self.calls)


def test_new_resources_are_claimed_without_reading_first(
    fl: Flightlog, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, calls = counting(fl)
    fl.fetch("images", "done", args={"size": 1})
    store = StoreCalls(fl, monkeypatch)
    # The first new one is read, then claimed; the next new ones are claimed at once.
    assert store.during(lambda: fl.fetch("images", "a")) == ["claim_resource"]
    assert store.during(lambda: fl.fetch("images", "b")) == ["claim_resource"]
    # A resource with a record: the claim changes nothing, the read serves it.
    found: list[Any] = []
    assert store.during(lambda: found.append(fl.fetch("images", "done", args={"size": 9}))) == [
        "claim_resource",
        "get_resource",
    ]
    assert found[0].result == {"ident": "done", "size": 1} and found[0].attempt == 1
    assert calls == ["done", "a", "b"]
    # From then on reads come first again, until a fetch finds no record.
    assert store.during(lambda: fl.fetch("images", "a")) == ["get_resource"]
    assert store.during(lambda: fl.fetch("images", "c")) == ["get_resource", "claim_resource"]
    assert store.during(lambda: fl.fetch("images", "d")) == ["claim_resource"]
    assert calls == ["done", "a", "b", "c", "d"]


def test_claiming_first_keeps_every_rule_of_fetch(fl: Flightlog) -> None:
    _, calls = counting(fl)
    fl.fetch("images", "a")
    fl.fetch("images", "b")  # claimed first from now on
    with pytest.raises(ValueError, match="cannot make bad"):
        fl.fetch("images", "bad", args={"fail": True})
    assert fl.status("images", "bad") == "error"
    again = fl.fetch("images", "bad")  # an error is computed again
    assert again.status == "completed" and again.attempt == 2
    # A stored result needs no args: ones that cannot be recorded do not matter then.
    assert fl.fetch("images", "a", args={"x": object()}).result == {"ident": "a", "size": None}
    with pytest.raises(flightlog.SerializationError, match="cannot be recorded"):
        fl.fetch("images", "new", args={"x": object()})
    fl.fetch("images", "c")
    fl.declare("images", ["declared"])
    fl.fetch("images", "d")
    made = fl.fetch("images", "declared")
    assert made.status == "completed" and made.attempt == 1
    assert made.record.created_time == fl.get_resource("images", "declared").record.created_time
    assert calls == ["a", "b", "bad", "bad", "c", "d", "declared"]


def test_two_recorders_on_one_store_share_the_computation(sqlite_fl: Flightlog) -> None:
    started, release = threading.Event(), threading.Event()

    @sqlite_fl.resource("slow")
    def slow(ident: str, args: Any, ctx: Any) -> str:
        started.set()
        assert release.wait(10)
        return "done"

    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(sqlite_fl.fetch("slow", "x").result))
    worker.start()
    try:
        assert started.wait(10)
        with flightlog.open(sqlite_fl.url) as other:  # another recorder in this process
            assert other.status("slow", "x") == "pending"
            waiting = threading.Thread(
                target=lambda: results.append(other.fetch("slow", "x").result)
            )
            waiting.start()
            time.sleep(0.05)
            release.set()
            waiting.join(10)
    finally:
        release.set()
        worker.join(10)
    assert results == ["done", "done"]


class Opaque:
    """Not encodable as JSON: needs pickle."""

    def __init__(self, value: int) -> None:
        self.value = value


def test_a_collection_may_pickle_its_results(fl: Flightlog) -> None:
    @fl.resource("pickled", serializer="pickle")
    def opaque(ident: str, args: Any, ctx: Any) -> Opaque:
        return Opaque(len(ident))

    assert fl.fetch("pickled", "abc").result.value == 3
    assert fl.fetch("pickled", "abc").result.value == 3  # served from the store, unpickled

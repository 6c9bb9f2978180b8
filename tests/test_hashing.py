"""Execution identity: canonical hashing of argument values (flightlog.hashing)."""

from __future__ import annotations

import collections
import copy
import dataclasses
import datetime as dt
import enum
import functools
import json
import math
import os
import pickle
import subprocess
import sys
import threading
import uuid
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flightlog.errors import FlightlogError, SerializationError
from flightlog.identity import UnhashableArgumentError, execution_id, value_digest

SRC = str(Path(__file__).resolve().parents[1] / "src")

# ------------------------------------------------------------------------------ strategies

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.binary(max_size=8)
)
hashable = st.recursive(
    scalars,
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=6,
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=4) | st.integers(), inner, max_size=4)
        | st.sets(hashable, max_size=4)
        | st.frozensets(hashable, max_size=4)
    ),
    max_leaves=12,
)


def canon(value: Any) -> str:
    """A type-aware normal form: two values must hash alike exactly when these are equal.

    Python literal syntax with type names, sets and dicts sorted (as multisets, since a set
    may hold several NaN objects): injective on the values drawn here.
    """
    kind = type(value).__name__
    if isinstance(value, (list, tuple)):
        return f"{kind}[{', '.join(canon(item) for item in value)}]"
    if isinstance(value, dict):
        entries = sorted(f"{canon(k)}: {canon(v)}" for k, v in value.items())
        return f"{kind}{{{', '.join(entries)}}}"
    if isinstance(value, (set, frozenset)):
        return f"{kind}{{{', '.join(sorted(canon(item) for item in value))}}}"
    return f"{kind}({value!r})"


# ------------------------------------------------------------------------------ properties


@given(values)
def test_same_value_same_digest(value: Any) -> None:
    assert value_digest(value) == value_digest(value)
    assert value_digest(copy.deepcopy(value)) == value_digest(value)
    assert execution_id({"x": copy.deepcopy(value)}) == execution_id({"x": value})


@given(values, values)
@settings(max_examples=300)
def test_different_values_different_digests(left: Any, right: Any) -> None:
    same = canon(left) == canon(right)
    assert (value_digest(left) == value_digest(right)) is same
    assert (execution_id({"a": left}) == execution_id({"a": right})) is same


@given(st.dictionaries(st.text(max_size=6), values, max_size=6))
def test_dicts_ignore_insertion_order(mapping: dict[str, Any]) -> None:
    reordered = dict(reversed(list(mapping.items())))
    assert value_digest(reordered) == value_digest(mapping)
    assert execution_id(reordered) == execution_id(mapping)


@given(st.lists(hashable, max_size=8, unique=True))
def test_sets_ignore_order(items: list[Any]) -> None:
    forward, backward = set(), set()
    for item in items:
        forward.add(item)
    for item in reversed(items):
        backward.add(item)
    assert value_digest(forward) == value_digest(backward)
    assert value_digest(frozenset(items)) == value_digest(frozenset(reversed(items)))


@given(st.lists(st.text(max_size=5), min_size=2, max_size=5))
def test_framing_is_injective(parts: list[str]) -> None:
    joined = ["".join(parts)]
    if joined != parts:
        assert value_digest(parts) != value_digest(joined)
        assert value_digest(tuple(parts)) != value_digest(tuple(joined))


# ----------------------------------------------------------------------------- distinctions


def test_types_are_distinguished() -> None:
    distinct = [
        1, 1.0, True, "1", b"1", bytearray(b"1"), 1 + 0j, Decimal(1), None, 0, False, "",
        b"", [], (), {}, set(), frozenset(), [1], (1,), {1}, frozenset({1}), {1: 1}, {"1": 1},
        {True: 1}, {1.0: 1}, [[1]], [(1,)], ..., 0.0, -0.0, float("inf"), float("-inf"),
        "N", "T", "None",
    ]  # fmt: skip
    digests = [value_digest(value) for value in distinct]
    assert len(set(digests)) == len(distinct)


def test_framing_examples() -> None:
    assert value_digest(("ab", "c")) != value_digest(("a", "bc"))
    assert value_digest([b"ab", b"c"]) != value_digest([b"a", b"bc"])
    assert value_digest([[1], 2]) != value_digest([[1, 2]])
    assert value_digest({"a": "bc"}) != value_digest({"ab": "c"})
    assert execution_id({"a": "bc"}) != execution_id({"ab": "c"})
    assert execution_id({"a": 1, "b": 2}) != execution_id({"a": 2, "b": 1})


def test_floats() -> None:
    assert value_digest(float("nan")) == value_digest(-float("nan"))
    assert value_digest(math.nan) == value_digest(float("nan"))
    assert value_digest(0.1 + 0.2) != value_digest(0.3)
    assert value_digest(1e300) != value_digest(int(1e300))


def test_huge_and_negative_ints() -> None:
    big = 10**5000  # str() of it fails under the default int_max_str_digits
    assert value_digest(big) == value_digest(10**5000)
    assert value_digest(big) != value_digest(big + 1)
    assert value_digest(-5) != value_digest(5)
    assert execution_id({"n": big}) != execution_id({"n": -big})


def test_lone_surrogates_and_unicode() -> None:
    assert value_digest("\ud800") != value_digest("\ud801")
    assert execution_id({"s": "\ud800"}) == execution_id({"s": "\ud800"})
    assert value_digest("é") != value_digest("e\u0301")  # no normalisation


def test_large_bytes() -> None:
    data = bytes(range(256)) * 100
    assert value_digest(data) == value_digest(bytes(data))
    assert value_digest(data) != value_digest(data[:-1] + b"x")
    assert value_digest(data) != value_digest(bytearray(data))


def test_execution_id_shape_and_keyword_order() -> None:
    digest = execution_id({"left": 3, "right": 4})
    assert len(digest) == 32
    int(digest, 16)
    assert execution_id({"right": 4, "left": 3}) == digest
    assert execution_id({"left": 3, "right": 4.0}) != digest
    assert execution_id({"left": 3, "rite": 4}) != digest
    assert execution_id({}) != execution_id({"x": None})
    # the scalar fast path and the general encoder agree
    assert execution_id({"a": 1, "b": [2]}) != execution_id({"a": 1, "b": (2,)})
    assert execution_id({"a": True}) != execution_id({"a": 1})


def test_known_digest_is_stable() -> None:
    # A change here means that every stored cache entry is orphaned: do it deliberately.
    assert execution_id({"left": 3, "right": 4}) == "f29440578c64f8d29542c60f47bbc3ca"
    assert value_digest(("a", 1)) == "5960ec341b8e32e7bc0183259170579c"


# --------------------------------------------------------------------------- other types


class Color(enum.Enum):
    RED = 1
    GREEN = 2


class Shade(enum.Enum):
    RED = 1


class Level(enum.IntEnum):
    LOW = 1


@dataclasses.dataclass
class Point:
    x: int
    y: list[int]


@dataclasses.dataclass(frozen=True)
class Other:
    x: int
    y: list[int]


Pair = collections.namedtuple("Pair", "a b")


class Custom:
    def __init__(self, key: str) -> None:
        self.key = key

    def __flightlog_hash__(self) -> str:
        return self.key


class CustomBytes(Custom):
    def __flightlog_hash__(self) -> bytes:  # type: ignore[override]
        return self.key.encode()


def test_standard_types() -> None:
    utc = dt.timezone.utc
    plus_one = dt.timezone(dt.timedelta(hours=1))
    distinct = [
        dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, tzinfo=utc),
        dt.datetime(2024, 1, 1, 1, tzinfo=plus_one), dt.date(2024, 1, 1), dt.time(1),
        dt.time(1, tzinfo=utc), dt.timedelta(days=1), dt.timedelta(seconds=86399),
        Decimal("1.0"), Decimal("1.00"), uuid.UUID(int=1), uuid.UUID(int=2),
        Path("/a/b"), PurePosixPath("/a/b"), Path("/a/c"), Color.RED, Color.GREEN, Shade.RED,
        Level.LOW, 1, Pair(1, 2), (1, 2), Point(1, [2]), Other(1, [2]), Point(1, [3]),
        Custom("k"), CustomBytes("k"), Custom("j"), "k",
    ]  # fmt: skip
    digests = [value_digest(value) for value in distinct]
    assert len(set(digests)) == len(distinct)
    again = [value_digest(copy.deepcopy(value)) for value in distinct]
    assert again == digests


def f_one(x: int) -> int:
    return x + 1


def f_two(x: int) -> int:
    return x + 2


def test_functions_as_arguments() -> None:
    assert value_digest(f_one) == value_digest(f_one)
    assert value_digest(f_one) != value_digest(f_two)
    assert value_digest(len) != value_digest(sorted)
    assert value_digest(functools.partial(f_one, 1)) != value_digest(functools.partial(f_one, 2))
    assert value_digest("a".upper) != value_digest("b".upper)
    assert value_digest(json.dumps) == value_digest(json.dumps)
    assert value_digest(Point) != value_digest(Other)
    assert value_digest(lambda: 1) != value_digest(lambda: 2)


# ---------------------------------------------------------------------- numpy and pandas


def test_numpy() -> None:
    np = pytest.importorskip("numpy")
    base = np.arange(12, dtype=np.int64).reshape(3, 4)
    assert value_digest(base) == value_digest(base.copy())
    assert value_digest(base[:, ::2]) == value_digest(np.ascontiguousarray(base[:, ::2]))
    assert value_digest(base.T) == value_digest(np.ascontiguousarray(base.T))
    distinct = [
        base, base.reshape(4, 3), base.astype(np.int32), base.astype(np.float64),
        base + 1, np.int64(1), np.float64(1.0), np.array(1), 1, 1.0,
        np.array(["a", None], dtype=object), np.array(["a", "b"], dtype=object),
        np.array(["2024-01-01"], dtype="datetime64[ns]"), np.array([], dtype=np.int64),
    ]  # fmt: skip
    digests = [value_digest(value) for value in distinct]
    assert len(set(digests)) == len(distinct)


def test_pandas() -> None:
    pd = pytest.importorskip("pandas")

    def frame() -> Any:
        return pd.DataFrame(
            {"a": [1, 2], "b": ["x", "y"], "c": pd.Categorical(["u", "v"]), "d": [1.5, None]}
        )

    base = frame()
    assert value_digest(base) == value_digest(frame())
    changed_value = frame()
    changed_value.loc[1, "b"] = "z"
    renamed = frame().rename(columns={"a": "A"})
    reindexed = frame().set_axis([10, 11])
    as_float = frame().astype({"a": "float64"})
    distinct = [
        base, changed_value, renamed, reindexed, as_float, base["a"], base["a"].rename("z"),
        base.index, pd.Index([0, 1], name="i"), pd.Series([1, 2], dtype="Int64"),
        pd.Series(["1", "2"], dtype=object), pd.Series([1, 2], dtype=object),
        pd.MultiIndex.from_tuples([(1, "a"), (2, "b")]), pd.Timestamp("2024-01-01"),
    ]  # fmt: skip
    digests = [value_digest(value) for value in distinct]
    assert len(set(digests)) == len(distinct)


def test_pydantic() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Model(pydantic.BaseModel):
        a: int
        b: tuple[str, ...] = ()

    class Twin(pydantic.BaseModel):
        a: int
        b: tuple[str, ...] = ()

    assert value_digest(Model(a=1)) == value_digest(Model(a=1, b=()))
    assert value_digest(Model(a=1)) != value_digest(Model(a=2))
    assert value_digest(Model(a=1)) != value_digest(Twin(a=1))


# --------------------------------------------------------------------------------- errors


def test_unhashable_value_names_parameter() -> None:
    with pytest.raises(UnhashableArgumentError) as caught:
        execution_id({"a": 1, "client": {"lock": [1, threading.Lock()]}})
    error = caught.value
    assert error.parameter == "client"
    assert isinstance(error, SerializationError)
    assert isinstance(error, FlightlogError)
    assert isinstance(error, TypeError)
    assert "'client'" in str(error)
    assert "client['lock'][1]" in str(error)
    assert "lock" in str(error)
    restored = pickle.loads(pickle.dumps(error))
    assert restored.parameter == "client"
    assert str(restored) == str(error)


@pytest.mark.parametrize("value", [object(), threading.Lock(), iter([1]), [object()]])
def test_unhashable_values(value: object) -> None:
    with pytest.raises(UnhashableArgumentError):
        value_digest(value)
    with pytest.raises(UnhashableArgumentError) as caught:
        execution_id({"x": 1, "bad": value})
    assert caught.value.parameter == "bad"


def test_cycles_are_errors_not_crashes() -> None:
    looped: list[Any] = [1]
    looped.append(looped)
    mapping: dict[str, Any] = {}
    mapping["self"] = mapping
    point = Point(1, [])
    point.y.append(point)  # type: ignore[arg-type]
    for value in (looped, mapping, point, (looped,)):
        with pytest.raises(UnhashableArgumentError, match="cycle"):
            execution_id({"v": value})
    shared = [1]
    assert value_digest([shared, shared]) == value_digest([[1], [1]])  # shared is no cycle


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    deep: list[Any] = []
    for _ in range(sys.getrecursionlimit() * 2):
        deep = [deep]
    with pytest.raises(UnhashableArgumentError, match="deep") as caught:
        execution_id({"deep": deep})
    assert caught.value.parameter == "deep"


def test_bad_custom_hash() -> None:
    class Bad:
        def __flightlog_hash__(self) -> int:
            return 1

    with pytest.raises(UnhashableArgumentError, match="__flightlog_hash__"):
        value_digest(Bad())


# ----------------------------------------------------------------------- across processes

_SCRIPT = """
import json, sys
from flightlog.identity import execution_id, value_digest
words = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"}
table = {"x": 1, "y": [1.5, None], "z": {"k": frozenset(words)}, ("t", 1): b"b"}
print(json.dumps([value_digest(words), value_digest(table), execution_id(
    {"words": words, "table": table, "n": 3, "s": "text"})]))
"""


def test_stable_across_hash_seeds() -> None:
    results = []
    for seed in ("0", "1", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=SRC)
        done = subprocess.run(
            [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, check=True
        )
        results.append(json.loads(done.stdout))
    assert results[0] == results[1] == results[2]
    words = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"}
    assert results[0][0] == value_digest(words)

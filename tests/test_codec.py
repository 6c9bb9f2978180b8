"""Tests of flightlog.codec: typed round trips, safety of pickle, error messages, fast paths."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import decimal
import enum
import io
import json
import math
import os
import pathlib
import subprocess
import sys
import threading
import uuid
from typing import Any, NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flightlog import codec
from flightlog.codec import decode, encode, encode_json
from flightlog.errors import ConfigurationError, SerializationError

try:
    import pydantic
except ImportError:  # pragma: no cover - pydantic is installed in the test environment
    pydantic = None


# ------------------------------------------------------------------ classes stored by path


class Color(enum.Enum):
    RED = 1
    PAIR = (1, 2)


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mode(str, enum.Enum):
    FAST = "fast"


class Perm(enum.Flag):
    R = 1
    W = 2


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: float = 0.0


@dataclasses.dataclass
class Shape:
    name: str
    points: list[Point]
    color: Color
    tags: tuple[str, ...] = ()
    area: float = dataclasses.field(init=False, default=-1.0)


@dataclasses.dataclass(slots=True)
class Slotted:
    a: bytes
    b: dict[int, str]


class Pair(NamedTuple):
    left: Any
    right: Any


Legacy = collections.namedtuple("Legacy", "a b")


class Opaque:
    """A class flightlog does not know: only pickle can store it."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.n == self.n

    __hash__ = None  # type: ignore[assignment]


if pydantic is not None:

    class Address(pydantic.BaseModel):
        city: str
        zip_codes: list[int]

    class Person(pydantic.BaseModel):
        name: str
        born: dt.datetime
        address: Address
        nickname: str | None = None


# ------------------------------------------------------------------ helpers


def same(a: Any, b: Any) -> bool:
    """Equal values of exactly the same types, all the way down (nan equals nan)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and str(a) == str(b))
    if isinstance(a, complex):
        return same(a.real, b.real) and same(a.imag, b.imag)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return same(list(a), list(b)) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, set | frozenset):
        return {(type(x), repr(x)) for x in a} == {(type(x), repr(x)) for x in b}
    if isinstance(a, dt.datetime | dt.time):
        return bool(a == b and a.utcoffset() == b.utcoffset() and a.fold == b.fold)
    if isinstance(a, decimal.Decimal):
        return str(a) == str(b)
    return bool(a == b)


def roundtrip(value: object) -> Any:
    text = encode(value)
    assert isinstance(text, str)
    json.loads(text)  # always valid JSON
    back = decode(text)
    assert encode(back) == text  # re-encoding is stable
    return back


# ------------------------------------------------------------------ fast paths / plain JSON


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (123, "123"),
        (-7, "-7"),
        (0, "0"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        (1.5, "1.5"),
        (-0.0, "-0.0"),
        ("hello", '"hello"'),
        ('é\n"', '"\\u00e9\\n\\""'),
        ([1, "a", None, 2.5], '[1,"a",null,2.5]'),
        ({"b": 1, "a": [True, {"c": None}]}, '{"b":1,"a":[true,{"c":null}]}'),
        ([], "[]"),
        ({}, "{}"),
    ],
)
def test_json_native_values_are_stored_as_plain_json(value: object, text: str) -> None:
    assert encode(value) == text
    assert same(decode(text), value)


def test_fast_paths_do_not_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> object:
        raise AssertionError("slow path taken")

    monkeypatch.setattr(codec, "_enc", boom)
    monkeypatch.setattr(codec, "_DECODER", None)
    for value in (123, "x", None, True, 2.5, [1, "a", [None]], {"k": {"n": [1, 2]}}):
        assert same(decode(encode(value)), value)


def test_plain_text_with_whitespace_decodes() -> None:
    assert decode(' [1, 2, {"a": "b"}] \n') == [1, 2, {"a": "b"}]


def test_bool_is_not_taken_for_int() -> None:
    assert type(decode(encode(True))) is bool
    assert same(roundtrip([True, 1, False, 0]), [True, 1, False, 0])


# ------------------------------------------------------------------ other built-in types


@pytest.mark.parametrize(
    "value",
    [
        b"\x00\xffbytes",
        b"",
        bytearray(b"abc"),
        (1, (2, (3, "x")), ()),
        [(1, 2), {"t": (None,)}],
        {3, 1, 2},
        frozenset({"a", (1, 2), b"z"}),
        set(),
        {1: "a", 2: "b"},
        {(1, 2): [3], (4,): None},
        {"__flightlog__": "not a tag", "x": 1},
        {"outer": {"__flightlog__": {"__flightlog__": 1}}},
        {1.5: 1, None: 2, True: 3, "s": 4},
        float("inf"),
        float("-inf"),
        [float("inf"), 1.0],
        10**5000,
        -(10**700),
        2**2001 + 1,
        2**64,
        3 + 4j,
        complex(float("inf"), -0.0),
        decimal.Decimal("1.10"),
        decimal.Decimal("-0"),
        decimal.Decimal("NaN"),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        pathlib.PurePosixPath("a/b.txt"),
        pathlib.Path("/tmp/x"),
        pathlib.PureWindowsPath("C:/x"),
        dt.datetime(2024, 2, 29, 13, 14, 15, 123456),
        dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
        dt.datetime(
            2024, 1, 1, 5, 6, 7, 8, tzinfo=dt.timezone(dt.timedelta(hours=-3, minutes=-30))
        ),
        dt.datetime(2024, 11, 3, 1, 30, fold=1),
        dt.datetime(2000, 1, 1, tzinfo=dt.timezone(dt.timedelta(microseconds=1))),
        dt.time(4, 5, tzinfo=dt.timezone(dt.timedelta(hours=-1, seconds=7, microseconds=9))),
        dt.date(1, 1, 1),
        dt.time(23, 59, 59, 999999),
        dt.time(1, 2, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=45))),
        dt.timedelta(days=-3, seconds=5, microseconds=7),
    ],
    ids=lambda value: type(value).__name__,
)
def test_round_trip_keeps_type_and_value(value: object) -> None:
    back = roundtrip(value)
    if isinstance(value, decimal.Decimal) and value.is_nan():
        assert isinstance(back, decimal.Decimal) and back.is_nan()
    else:
        assert same(back, value), (back, value)


def test_nan_round_trips_as_float_nan() -> None:
    back = roundtrip(float("nan"))
    assert type(back) is float and math.isnan(back)
    inner = roundtrip({"x": [float("nan")]})
    assert isinstance(inner, dict) and math.isnan(inner["x"][0])


def test_tagged_values_are_json_objects() -> None:
    assert json.loads(encode((1, 2))) == {"__flightlog__": "tuple", "items": [1, 2]}
    assert json.loads(encode(b"hi")) == {"__flightlog__": "bytes", "b64": "aGk="}


def test_user_dict_with_tag_key_is_escaped() -> None:
    value = {"__flightlog__": "pickle", "b64": "gASVAAAAAAAAAAA="}
    text = encode(value)
    assert json.loads(text)["__flightlog__"] == "dict"
    assert decode(text) == value  # no pickle is involved, no allow_pickle needed


def test_aware_datetime_keeps_offset() -> None:
    tz = dt.timezone(dt.timedelta(hours=9))
    back = roundtrip(dt.datetime(2020, 5, 6, 7, 8, 9, 10, tzinfo=tz))
    assert isinstance(back, dt.datetime)
    assert back.utcoffset() == dt.timedelta(hours=9)
    assert back.microsecond == 10


def test_sets_encode_in_a_deterministic_order() -> None:
    words = [f"w{i}" for i in range(50)]
    a, b = set(words), set(reversed(words))
    assert encode(a) == encode(b)
    assert encode(frozenset(words)) == encode(frozenset(reversed(words)))
    items = json.loads(encode({3, 1, 2}))["items"]
    assert items == [1, 2, 3]


def test_set_and_frozenset_stay_distinct() -> None:
    assert type(roundtrip({1})) is set
    assert type(roundtrip(frozenset({1}))) is frozenset


# ------------------------------------------------------------------ classes by import path


@pytest.mark.parametrize(
    "value",
    [Color.RED, Color.PAIR, Level.HIGH, Mode.FAST, Perm.R | Perm.W],
    ids=repr,
)
def test_enum_members_round_trip(value: enum.Enum) -> None:
    back = roundtrip(value)
    assert back is value


def test_enum_is_stored_by_class_path_and_value() -> None:
    data = json.loads(encode(Color.RED))
    assert data["class"].endswith(":Color")
    assert data["value"] == 1


def test_dataclasses_round_trip_nested() -> None:
    shape = Shape("tri", [Point(1, 2.0), Point(3)], Color.PAIR, tags=("a", "b"))
    shape.area = 4.5
    back = roundtrip(shape)
    assert isinstance(back, Shape)
    assert back == shape
    assert back.area == 4.5
    assert type(back.points[0]) is Point
    assert type(back.tags) is tuple


def test_slotted_dataclass_round_trips() -> None:
    value = Slotted(b"\x01", {1: "x"})
    assert roundtrip(value) == value


def test_named_tuples_round_trip() -> None:
    value = Pair(Point(1), (2, 3))
    back = roundtrip(value)
    assert type(back) is Pair and back == value
    legacy = roundtrip(Legacy(1, "b"))
    assert type(legacy) is Legacy and legacy == Legacy(1, "b")


def test_frozen_dataclass_can_be_a_dict_key_and_set_member() -> None:
    value = {Point(1): "p", Point(2): "q"}
    assert same(roundtrip(value), value)
    assert roundtrip(frozenset({Point(1), Point(2)})) == frozenset({Point(1), Point(2)})


def test_local_class_cannot_be_encoded() -> None:
    @dataclasses.dataclass
    class Local:
        a: int

    with pytest.raises(SerializationError, match="defined inside a function"):
        encode({"x": Local(1)})


# ------------------------------------------------------------------ pickle


def test_pickle_is_opt_in_on_both_sides() -> None:
    text = encode(Opaque(3), serializer="pickle")
    assert json.loads(text)["__flightlog__"] == "pickle"
    with pytest.raises(SerializationError, match=r"pickle.*allow_pickle=True"):
        decode(text)
    assert decode(text, allow_pickle=True) == Opaque(3)


def test_pickle_nested_in_json_is_refused_too() -> None:
    inner = json.loads(encode([1, 2], serializer="pickle"))
    text = json.dumps({"a": [inner]})
    with pytest.raises(SerializationError, match="allow_pickle=True"):
        decode(text)
    assert decode(text, allow_pickle=True) == {"a": [[1, 2]]}


def test_json_serializer_never_pickles() -> None:
    with pytest.raises(SerializationError, match="Opaque"):
        encode(Opaque(1))


def test_unpicklable_value_with_pickle_serializer() -> None:
    with pytest.raises(SerializationError, match="lock"):
        encode(threading.Lock(), serializer="pickle")


def test_unknown_serializer_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        encode(1, serializer="yaml")
    message = str(info.value)
    assert "'yaml'" in message and "'json'" in message and "'pickle'" in message


# ------------------------------------------------------------------ encoding errors


def test_unencodable_value_names_type_and_path() -> None:
    with pytest.raises(SerializationError) as info:
        encode({"a": [1, 2, threading.Lock()]})
    message = str(info.value)
    assert "'_thread.lock'" in message
    assert "at value['a'][2]" in message


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ((1, (2, object())), "value[1][1]"),
        ({1: [object()]}, "value[1][0]"),
        ({object(): 1}, "value.keys()[0]"),
        ([{1, 2}, {object}], "value[1]{...}"),
        (Shape("s", [Point(1), Point(object())], Color.RED), "value.points[1].x"),  # type: ignore[arg-type]
        (Pair(1, object()), "value[1]"),
        ([(x for x in range(3))], "value[0]"),
    ],
    ids=["tuple", "int-key dict", "dict key", "set", "dataclass", "namedtuple", "generator"],
)
def test_error_path_points_at_the_culprit(value: object, where: str) -> None:
    with pytest.raises(SerializationError) as info:
        encode(value)
    assert str(info.value).split(" at ")[1].split(";")[0] == where


def test_open_file_is_refused() -> None:
    with io.StringIO("x") as handle, pytest.raises(SerializationError, match="StringIO"):
        encode([handle])


def test_subclasses_of_containers_are_refused() -> None:
    with pytest.raises(SerializationError, match="OrderedDict"):
        encode(collections.OrderedDict(a=1))


def test_self_referencing_value_is_refused() -> None:
    value: list[object] = [1]
    value.append(value)
    with pytest.raises(SerializationError, match="contains itself"):
        encode(value)


# ------------------------------------------------------------------ decoding errors


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "[1,",
        "1 2",
        "nul",
        '{"__flightlog__": "no-such-kind"}',
        '{"__flightlog__": 3}',
        '{"__flightlog__": "tuple"}',
        '{"__flightlog__": "bytes", "b64": "!!!"}',
        '{"__flightlog__": "datetime", "value": "yesterday"}',
        '{"__flightlog__": "dict", "items": [[[1], 2]]}',
        '[{"__flightlog__": "int", "hex": "zz"}]',
    ],
)
def test_malformed_text_raises_serialization_error(text: str) -> None:
    with pytest.raises(SerializationError):
        decode(text)


def test_non_text_input_raises_serialization_error() -> None:
    with pytest.raises(SerializationError):
        decode(None)  # type: ignore[arg-type]
    with pytest.raises(SerializationError):
        decode(b"123")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "path",
    ["no_such_module_flightlog:Thing", "flightlog.codec:NoSuchClass", "nopath"],
)
def test_missing_class_names_the_class_path(path: str) -> None:
    text = json.dumps({"__flightlog__": "dataclass", "class": path, "fields": {}})
    with pytest.raises(SerializationError) as info:
        decode(text)
    assert repr(path) in str(info.value)


def test_class_of_the_wrong_kind_is_not_called() -> None:
    for kind, path in [
        ("enum", "os:system"),
        ("dataclass", "builtins:dict"),
        ("path", "uuid:UUID"),
    ]:
        text = json.dumps({"__flightlog__": kind, "class": path, "value": "x", "fields": {}})
        with pytest.raises(SerializationError, match="is not a"):
            decode(text)


def test_error_raised_by_the_class_is_wrapped() -> None:
    cls = f"{Point.__module__}:Point"
    text = json.dumps({"__flightlog__": "dataclass", "class": cls, "fields": {"z": 1}})
    with pytest.raises(SerializationError, match="dataclass"):
        decode(text)


# ------------------------------------------------------------------ encode_json


def test_encode_json_is_compact_and_keeps_order() -> None:
    value = {"z": 1, "a": [1.5, None, True], "__flightlog__": "plain"}
    text = encode_json(value, what="metadata")
    assert text == '{"z":1,"a":[1.5,null,true],"__flightlog__":"plain"}'
    assert json.loads(text) == value
    assert encode_json(Mode.FAST) == '"fast"'


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"k": {"x": {1, 2}}},
            "metadata['k']['x'] is of type 'set', which is not JSON-serialisable",
        ),
        ({"k": [1, (2,)]}, "metadata['k'][1] is of type 'tuple'"),
        ({"k": {1: "a"}}, "metadata['k'] has a key of type 'int'"),
        ({"k": float("nan")}, "metadata['k'] is nan"),
        ([float("inf")], "metadata[0] is inf"),
        (b"x", "metadata is of type 'bytes'"),
    ],
)
def test_encode_json_errors_name_the_key(value: object, message: str) -> None:
    with pytest.raises(SerializationError) as info:
        encode_json(value, what="metadata")
    assert message in str(info.value)


def test_encode_json_default_root_name() -> None:
    with pytest.raises(SerializationError, match=r"^value\['a'\] is of type 'object'"):
        encode_json({"a": object()})


# ------------------------------------------------------------------ numpy


def test_numpy_arrays_round_trip() -> None:
    np = pytest.importorskip("numpy")
    arrays = [
        np.arange(12, dtype=np.int32).reshape(3, 4),
        np.array([1.5, np.nan, -np.inf]),
        np.array([True, False]),
        np.array(["ab", "c"]),
        np.array(["2020-01-01", "NaT"], dtype="datetime64[ns]"),
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        np.zeros((0, 3), dtype=np.uint8),
        np.array(7, dtype=">i2"),
        np.array([(1, 2.5)], dtype=[("a", "<i4"), ("b", "<f8")]),
    ]
    for array in arrays:
        back = roundtrip(array)
        assert type(back) is np.ndarray
        assert back.dtype == array.dtype and back.shape == array.shape
        np.testing.assert_array_equal(back, array)
        assert back.flags.writeable


def test_numpy_scalars_keep_their_type() -> None:
    np = pytest.importorskip("numpy")
    for scalar in [
        np.int64(3),
        np.int8(-4),
        np.uint64(2**64 - 1),
        np.float32(1.25),
        np.float64("nan"),
        np.bool_(True),
        np.complex128(1 + 2j),
        np.datetime64("2021-03-04T05:06", "s"),
        np.str_("txt"),
        np.longdouble("1.5"),
    ]:
        back = roundtrip(scalar)
        assert type(back) is type(scalar), scalar
        assert back == scalar or (np.isnan(back) and np.isnan(scalar))


def test_numpy_object_array_is_refused() -> None:
    np = pytest.importorskip("numpy")
    with pytest.raises(SerializationError, match=r"numpy\.ndarray.* at value\['a'\].*dtype object"):
        encode({"a": np.array([1, None], dtype=object)})


# ------------------------------------------------------------------ pandas


def test_dataframe_round_trips() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {
            "i": [1, 2, 3],
            "f": [1.5, float("nan"), -2.0],
            "b": [True, False, True],
            "s": ["x", "y", "z"],
            "when": pd.to_datetime(["2020-01-01 00:00", "2021-06-30 12:00", "2022-02-02 23:59"]),
        },
        index=pd.Index(["r1", "r2", "r3"], name="row"),
    )
    back = roundtrip(frame)
    pd.testing.assert_frame_equal(back, frame)


def test_dataframe_with_other_dtypes_and_indexes() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {
            "o": pd.Series([(1,), "x", None], dtype=object),
            "n": pd.array([1, None, 3], dtype="Int64"),
            "s": ["a", None, "c"],
            "tz": pd.to_datetime(["2020-01-01", None, "2020-01-03"]).tz_localize("UTC"),
            10: [0.1, 0.2, 0.3],
        },
        index=pd.date_range("2024-01-01", periods=3, freq="D"),
    )
    pd.testing.assert_frame_equal(roundtrip(frame), frame)
    multi = pd.DataFrame(
        {"v": [1, 2]}, index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "n"])
    )
    pd.testing.assert_frame_equal(roundtrip(multi), multi)
    pd.testing.assert_frame_equal(roundtrip(pd.DataFrame()), pd.DataFrame())
    twice = pd.DataFrame([[1, 2]], columns=["a", "a"])
    pd.testing.assert_frame_equal(roundtrip(twice), twice)


def test_series_round_trip() -> None:
    pd = pytest.importorskip("pandas")
    for series in [
        pd.Series([1, 2, 3], index=[10, 20, 30], name="n"),
        pd.Series([1.5, None], name=("a", 1)),
        pd.Series(["u", "v"], index=pd.Index(["p", "q"], name="key")),
        pd.Series(pd.to_datetime(["2020-01-01", "2020-01-02"])),
        pd.Series([], dtype="int64"),
    ]:
        pd.testing.assert_series_equal(roundtrip(series), series)


def test_timestamp_round_trips() -> None:
    pd = pytest.importorskip("pandas")
    stamp = pd.Timestamp("2020-01-01 00:00:00.000000001", tz="UTC")
    back = roundtrip(stamp)
    assert type(back) is pd.Timestamp and back == stamp


def test_dataframe_with_unencodable_cell_names_the_column() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"ok": [1, 2], "bad": pd.Series([1, object()], dtype=object)})
    with pytest.raises(SerializationError, match=r"at value\['bad'\]\.iloc\[1\]"):
        encode(frame)


# ------------------------------------------------------------------ pydantic


def test_pydantic_models_round_trip() -> None:
    pytest.importorskip("pydantic")
    person = Person(
        name="Ada",
        born=dt.datetime(1815, 12, 10, tzinfo=dt.timezone.utc),
        address=Address(city="London", zip_codes=[1, 2]),
    )
    back = roundtrip({"who": person})
    assert isinstance(back, dict)
    assert type(back["who"]) is Person and back["who"] == person
    assert type(back["who"].address) is Address


def test_pydantic_validation_error_on_decode_is_wrapped() -> None:
    pytest.importorskip("pydantic")
    cls = f"{Address.__module__}:Address"
    text = json.dumps({"__flightlog__": "pydantic", "class": cls, "data": {"city": 1}})
    with pytest.raises(SerializationError, match="pydantic"):
        decode(text)


# ------------------------------------------------------------------ laziness


def test_import_does_not_load_optional_libraries() -> None:
    src = os.path.dirname(os.path.dirname(os.path.abspath(codec.__file__)))
    code = (
        "import sys, flightlog.codec as c; c.encode([1, (2,)]); c.decode('[1]');"
        "print(sorted(m for m in ('numpy', 'pandas', 'pydantic') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------ properties

_offsets = st.timedeltas(min_value=-dt.timedelta(hours=23), max_value=dt.timedelta(hours=23))
_timezones = st.none() | st.just(dt.timezone.utc) | _offsets.map(dt.timezone)
_hashable = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=8)
)
_scalars = (
    _hashable
    | st.floats()
    | st.integers(min_value=-(2**3000), max_value=2**3000)
    | st.datetimes(timezones=_timezones)
    | st.dates()
    | st.times()
    | st.timedeltas()
    | st.decimals(allow_nan=False)
    | st.complex_numbers()
)
_keys = st.text(max_size=6) | st.just("__flightlog__")


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=4).map(tuple)
        | st.dictionaries(_keys, children, max_size=4)
        | st.dictionaries(st.integers(), children, max_size=4)
        | st.sets(_hashable, max_size=4)
        | st.frozensets(_hashable, max_size=4)
    )


_values = st.recursive(_scalars, _containers, max_leaves=20)
_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text().filter(lambda key: key != "__flightlog__"), children, max_size=4
        )
    ),
    max_leaves=20,
)


@given(_values)
def test_property_round_trip_keeps_types(value: object) -> None:
    assert same(roundtrip(value), value)


@given(_json_values)
def test_property_plain_json_is_stored_as_itself(value: object) -> None:
    text = encode(value)
    assert text == json.dumps(value, separators=(",", ":"))
    assert same(json.loads(text), value)
    assert same(decode(text), value)
    assert encode_json(value) == text


@given(
    st.dictionaries(
        st.text(max_size=8),
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
        max_size=5,
    )
)
def test_encode_arguments_is_canonical_json(arguments: dict[str, object]) -> None:
    text = codec.encode_arguments(arguments)
    assert text == codec.encode(dict(sorted(arguments.items())))
    assert codec.decode(text) == arguments
    reordered = dict(reversed(list(arguments.items())))
    assert codec.encode_arguments(reordered) == text


def test_encode_arguments_falls_back_for_other_values() -> None:
    for arguments in ({"x": 1.5}, {"x": [1]}, {"x": 1 << 3000}, {"__flightlog__": 1}, {}):
        assert codec.encode_scalar_arguments(arguments) is None
        assert codec.encode_arguments(arguments) == codec.encode(arguments)
    assert codec.encode_arguments({"x": (1, 2)}, serializer="pickle").startswith("{")

"""The texts a store looks for hold every stored value that the query API counts as equal:
the store gives more runs rather than fewer (property tests over stored arguments)."""

from __future__ import annotations

import enum
import inspect
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from flightlog.questions.stored_text import argument_text, metadata_texts, same_value
from flightlog.runtime.task import encode_run_arguments, parameter_defaults
from flightlog.selection import environment_text

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-1000, max_value=1000).map(float),  # whole floats
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=4), inner, max_size=3),
    ),
    max_leaves=8,
)


def _variant(value: Any) -> Any:
    """An equal value of other types: whole floats as ints and back, tuples as lists."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, int) and abs(value) < 2**53:
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_variant(item) for item in value]
    if isinstance(value, dict):
        return {key: _variant(item) for key, item in value.items()}
    return value


def _held(wanted: Any, arguments: str, environment: str = "") -> bool:
    return argument_text("p", wanted).held_by(arguments, environment)


@settings(deadline=None)  # no timing: a busy machine must not fail it
@given(values, values)
def test_a_passed_value_is_held_by_its_text(value: Any, other: Any) -> None:
    wanted = _variant(value)
    assert same_value(value, wanted)
    placements = [
        ((other, value), {}),  # positional
        ((value,), {"q": other}),
        ((other,), {"p": value}),  # by keyword, or gathered by **kwargs
    ]
    if isinstance(value, (list, tuple)):
        placements.append(((other, *value), {}))  # gathered by *args
    for args, kwargs in placements:
        text = encode_run_arguments(tuple(args), kwargs, "json")
        assert _held(wanted, text), (text, wanted)


@settings(deadline=None)
@given(values)
def test_a_default_value_is_held_by_its_text(value: Any) -> None:
    signature = inspect.Signature(
        [inspect.Parameter("p", inspect.Parameter.KEYWORD_ONLY, default=value)]
    )
    defaults = parameter_defaults(signature)
    if "p" not in defaults:  # too long to record
        return
    environment = environment_text({"entry": {"parameters": ["*", "p"], "defaults": defaults}})
    assert _held(_variant(value), '{"args":[],"kwargs":{}}', environment)


def test_values_that_differ_are_told_apart() -> None:
    text = encode_run_arguments((0.1, 1, [7, 8]), {"flag": True}, "json")
    assert json.loads(text)  # compact JSON
    assert _held(1.0, text) and _held(1, text)
    assert not _held(0.2, text) and not _held(10, text)
    assert _held([7, 8], text) and _held((7.0, 8), text)
    assert not _held([8, 7], text) and not _held([7], text)
    assert _held(True, text) and not _held(False, text)
    zero = encode_run_arguments((-0.0,), {}, "json")
    assert _held(0, zero) and _held(0.0, zero) and _held(-0.0, zero)
    assert not same_value(True, 1) and not same_value(1, True) and same_value(1, 1.0)
    assert same_value([1, (2,)], (1.0, [2])) and not same_value({"a": 1}, {"a": 1, "b": 2})


class Colour(enum.IntEnum):
    RED = 1


def test_values_of_other_classes_are_compared_not_looked_for() -> None:
    enum_text = encode_run_arguments((Colour.RED,), {}, "json")
    assert _held(1, enum_text) and _held(Colour.RED, enum_text)
    assert argument_text("p", Colour.RED).passed == ()  # the codec tags an enum
    zero = '{"args":[],"kwargs":{}}'
    assert all('"k":0' not in text for text in metadata_texts({"k": 0}))  # 0 may be -0.0
    assert metadata_texts({"k": 2.0}) == ('"k":2',)
    assert same_value(Colour.RED, 1) and _held(None, '{"args":[null],"kwargs":{}}')
    assert not _held(None, zero)

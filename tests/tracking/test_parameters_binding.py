"""A run's arguments bound to its recorded parameter names as Python binds them."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from flightlog.named_arguments import bound_arguments as _bound
from flightlog.named_arguments import layout_of as _layout
from flightlog.named_arguments import signature_of as _signature_of
from flightlog.runtime.task import parameter_names


def f(a, b=2, /, c=3, *rest, d, e=5, **kw):  # type: ignore[no-untyped-def]
    del a, b, c, rest, d, e, kw


def g(a, *, b):  # type: ignore[no-untyped-def]
    del a, b


CALLS: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = [
    (f, (1,), {"d": 4}),
    (f, (1, 2, 3, 4, 5), {"d": 4, "x": 9}),
    (f, (1,), {"a": 7, "d": 4}),  # a is positional-only: this a goes to **kw
    (f, (), {"c": 1}),
    (f, (1, 2, 3), {"c": 1}),  # c twice: refused
    (g, (1, 2), {}),  # too many: refused
    (g, (), {"a": 1, "b": 2}),
    (g, (1,), {"z": 1}),  # unknown keyword: refused
]


@pytest.mark.parametrize(("function", "args", "kwargs"), CALLS)
def test_bound_as_python_binds(
    function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    names = tuple(parameter_names(inspect.signature(function)))
    signature = _signature_of(names)
    assert signature is not None
    try:
        expected: dict[str, Any] | None = dict(signature.bind_partial(*args, **kwargs).arguments)
    except TypeError:
        expected = None
    assert _bound(_layout(names), list(args), kwargs) == expected

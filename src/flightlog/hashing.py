"""Canonical hashing of argument values: the execution identity of a step.

A value's digest is the BLAKE2b (16 bytes, 32 hex characters) of a canonical text encoding
of the value. The encoding never uses :func:`hash`, so it is the same across processes,
machines and ``PYTHONHASHSEED`` values. Every value is tagged with its type (``1``, ``1.0``,
``True``, ``"1"`` and ``b"1"`` all differ; lists differ from tuples, sets from frozensets) and
framed so that the encoding is injective (``("ab", "c")`` differs from ``("a", "bc")``).

Supported: ``None``, ``bool``, ``int`` (any size), ``float`` (by ``repr``: every NaN is the
same, ``-0.0`` differs from ``0.0``), ``complex``, ``str``, ``bytes``, ``bytearray``, ``list``,
``tuple``, ``dict`` (order-free), ``set`` and ``frozenset`` (order-free), ``Ellipsis``,
``datetime``/``date``/``time``/``timedelta``, ``Decimal``, ``UUID``, :mod:`pathlib` paths,
enum members (class and member name), dataclass instances (class and fields), pydantic v2
models (class and ``model_dump(mode="json")``), numpy arrays and scalars, pandas ``DataFrame``,
``Series`` and ``Index``, and objects whose class defines ``__flightlog_hash__(self)`` returning
``str`` or ``bytes`` (their own canonical form, hashed with their class's path). Subclasses of
the built-in types (named tuples, ``str`` subclasses …) hash as the built-in value plus their
class's path. numpy, pandas and pydantic are never imported here: their values are recognised
by their classes.

Callables given as arguments: the user's own functions and classes hash by qualified name
and code (their task identity, see :mod:`flightlog.identity`), so passing an edited helper
changes the execution id; those of the standard library and installed packages by qualified
name only. Bound methods hash by function and object, ``functools.partial`` objects by
function and arguments.

Anything else (locks, clients, arbitrary objects) raises :class:`UnhashableArgumentError`, as
do cyclic containers and values nested too deeply.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import os
import sys
import types
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from hashlib import blake2b
from pathlib import PurePath
from typing import Any

from flightlog.codec import (
    ArgumentKeys,
    encode_arguments,
    encode_scalar_arguments,
    encode_scalar_values,
)
from flightlog.errors import FlightlogError, SerializationError

__all__ = ["UnhashableArgumentError", "class_path", "execution_id", "module_name", "value_digest"]

_INLINE_BYTES = 512  # longer bytes values enter the encoding as their own digest


class UnhashableArgumentError(SerializationError):
    """A value cannot be hashed canonically; ``parameter`` names the argument, if known."""

    def __init__(self, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0], self.parameter))


class _Unhashable(Exception):
    """Raised inside the encoder; ``path`` collects where in the value it happened."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str] = []


# ------------------------------------------------------------------------------------ naming

_main_cache: list[Any] = [None, "__main__"]


def _main_module_name() -> str:
    """The real name of the module running as ``__main__``: its ``-m`` name or script path."""
    main = sys.modules.get("__main__")
    if _main_cache[0] is main:
        return str(_main_cache[1])
    name = "__main__"
    spec = getattr(main, "__spec__", None)
    file = getattr(main, "__file__", None)
    if spec is not None and spec.name and spec.name != "__main__":
        name = spec.name
    elif isinstance(file, str) and file.endswith(".py"):
        # A script: its stem, dotted with the packages (folders holding an __init__.py) that
        # contain it, as it is named when imported from the folder above its top package.
        folder, stem = os.path.split(os.path.realpath(file))
        parts = [] if stem == "__init__.py" else [stem[:-3]]
        while os.path.isfile(os.path.join(folder, "__init__.py")):
            folder, package = os.path.split(folder)
            parts.append(package)
            if not package:
                break
        name = ".".join(reversed(parts)) or "__main__"
    _main_cache[:] = [main, name]
    return name


def module_name(name: object) -> str:
    """``name``, except that ``"__main__"`` becomes the real name of the main module (and so
    does ``"__mp_main__"``, the main script as multiprocessing's spawned workers load it)."""
    if name == "__main__" or name == "__mp_main__":
        return _main_module_name()
    return name if isinstance(name, str) else ""


def class_path(cls: type) -> str:
    """``module.QualName`` of a class, with ``__main__`` resolved as in :func:`module_name`."""
    module = module_name(getattr(cls, "__module__", None))
    qualname = getattr(cls, "__qualname__", cls.__name__)
    return f"{module}.{qualname}" if module else qualname


# ---------------------------------------------------------------------------------- encoding
# Every encoding is prefix-free: a one-letter tag, then either a fixed form ended by ";" or a
# length followed by ":" and exactly that much content. Concatenations are thus injective.

_Out = list[str]


def _text(tag: str, text: str) -> str:
    return f"{tag}{len(text)}:{text}"


def _enc_none(value: object, out: _Out, active: set[int]) -> None:
    out.append("N")


def _enc_bool(value: bool, out: _Out, active: set[int]) -> None:
    out.append("T" if value else "F")


def _enc_int(value: int, out: _Out, active: set[int]) -> None:
    out.append(f"i{hex(value)};")  # hex: no limit on digits, unlike str() of a huge int


def _enc_float(value: float, out: _Out, active: set[int]) -> None:
    out.append(f"f{value!r};")


def _enc_complex(value: complex, out: _Out, active: set[int]) -> None:
    out.append(f"c{value.real!r},{value.imag!r};")


def _enc_str(value: str, out: _Out, active: set[int]) -> None:
    out.append(f"s{len(value)}:{value}")


def _enc_bytes(value: bytes | bytearray | memoryview, out: _Out, active: set[int]) -> None:
    tag = "b" if type(value) is bytes else "y"
    if len(value) <= _INLINE_BYTES:
        out.append(f"{tag}{len(value)}:{bytes(value).hex()}")
    else:
        out.append(f"{tag.upper()}{blake2b(value, digest_size=16).hexdigest()};")


def _enc_ellipsis(value: object, out: _Out, active: set[int]) -> None:
    out.append("E")


def _enc_items(tag: str, items: Any, out: _Out, active: set[int], owner: object) -> None:
    key = id(owner)
    if key in active:
        raise _Unhashable("the value contains itself (a cycle)")
    active.add(key)
    out.append(f"{tag}{len(items)}:")
    for index, item in enumerate(items):
        try:
            _encode(item, out, active)
        except _Unhashable as error:
            error.path.append(f"[{index}]")
            raise
    active.discard(key)


def _enc_list(value: list[Any], out: _Out, active: set[int]) -> None:
    _enc_items("l", value, out, active, value)


def _enc_tuple(value: tuple[Any, ...], out: _Out, active: set[int]) -> None:
    _enc_items("t", value, out, active, value)


def _encoded(value: object, active: set[int]) -> str:
    out: _Out = []
    _encode(value, out, active)
    return "".join(out)


def _enc_dict(value: Mapping[Any, Any], out: _Out, active: set[int]) -> None:
    key = id(value)
    if key in active:
        raise _Unhashable("the value contains itself (a cycle)")
    active.add(key)
    entries = []
    for item_key, item in value.items():
        try:
            entries.append((_encoded(item_key, active), _encoded(item, active)))
        except _Unhashable as error:
            error.path.append(f"[{item_key!r}]")
            raise
    entries.sort()
    out.append(f"d{len(entries)}:")
    out.extend(k + v for k, v in entries)
    active.discard(key)


def _enc_set(value: set[Any] | frozenset[Any], out: _Out, active: set[int]) -> None:
    try:
        items = sorted(_encoded(item, active) for item in value)
    except _Unhashable as error:
        error.path.append("{…}")
        raise
    out.append(f"{'S' if isinstance(value, set) else 'Z'}{len(items)}:")
    out.extend(items)


def _enc_datetime(value: dt.datetime | dt.time, out: _Out, active: set[int]) -> None:
    tag = "W" if isinstance(value, dt.datetime) else "H"
    zone = "" if value.tzinfo is None else str(value.tzinfo)
    out.append(_text(tag, f"{value.isoformat()}|{value.fold}|{zone}"))


def _enc_date(value: dt.date, out: _Out, active: set[int]) -> None:
    out.append(f"D{value.isoformat()};")


def _enc_timedelta(value: dt.timedelta, out: _Out, active: set[int]) -> None:
    out.append(f"R{value.days},{value.seconds},{value.microseconds};")


def _enc_decimal(value: Decimal, out: _Out, active: set[int]) -> None:
    out.append(f"M{value};")


def _enc_uuid(value: uuid.UUID, out: _Out, active: set[int]) -> None:
    out.append(f"U{value.hex};")


_Encoder = Callable[[Any, _Out, set[int]], None]

_EXACT: dict[type, _Encoder] = {
    type(None): _enc_none,
    bool: _enc_bool,
    int: _enc_int,
    float: _enc_float,
    complex: _enc_complex,
    str: _enc_str,
    bytes: _enc_bytes,
    bytearray: _enc_bytes,
    list: _enc_list,
    tuple: _enc_tuple,
    dict: _enc_dict,
    set: _enc_set,
    frozenset: _enc_set,
    type(Ellipsis): _enc_ellipsis,
    dt.datetime: _enc_datetime,
    dt.date: _enc_date,
    dt.time: _enc_datetime,
    dt.timedelta: _enc_timedelta,
    Decimal: _enc_decimal,
    uuid.UUID: _enc_uuid,
}

# Checked in order for subclasses of these types (after the special cases in _enc_other).
_BASES: tuple[tuple[type, _Encoder], ...] = (
    (bool, _enc_bool),
    (int, _enc_int),
    (float, _enc_float),
    (complex, _enc_complex),
    (str, _enc_str),
    (bytes, _enc_bytes),
    (bytearray, _enc_bytes),
    (list, _enc_list),
    (tuple, _enc_tuple),
    (dict, _enc_dict),
    (set, _enc_set),
    (frozenset, _enc_set),
    (dt.datetime, _enc_datetime),
    (dt.date, _enc_date),
    (dt.time, _enc_datetime),
    (dt.timedelta, _enc_timedelta),
    (Decimal, _enc_decimal),
    (uuid.UUID, _enc_uuid),
)


def _encode(value: object, out: _Out, active: set[int]) -> None:
    encoder = _EXACT.get(type(value))
    if encoder is not None:
        encoder(value, out, active)
    else:
        _enc_other(value, out, active)


def _enc_other(value: Any, out: _Out, active: set[int]) -> None:
    cls = type(value)
    custom = getattr(cls, "__flightlog_hash__", None)
    if custom is not None and not isinstance(value, type):
        form = custom(value)
        if not isinstance(form, (str, bytes)):
            raise _Unhashable(f"{cls.__qualname__}.__flightlog_hash__ returned {type(form)}")
        out.append(_text("X", class_path(cls)))
        _encode(form, out, active)
        return
    if isinstance(value, enum.Enum):
        out.append(_text("e", class_path(cls)))
        _encode(value.name if value.name is not None else value.value, out, active)
        return
    root = cls.__module__.partition(".")[0]
    if root == "numpy":
        _enc_numpy(value, out, active)
        return
    if root == "pandas" and _enc_pandas(value, out, active):
        return
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(value, pydantic.BaseModel):
        out.append(_text("m", class_path(cls)))
        _guarded(value, active, lambda: _encode(value.model_dump(mode="json"), out, active))
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        out.append(_text("a", class_path(cls)) + f"{len(fields)}:")

        def encode_fields() -> None:
            for field in fields:
                out.append(_text("", field.name))
                try:
                    _encode(getattr(value, field.name), out, active)
                except _Unhashable as error:
                    error.path.append(f".{field.name}")
                    raise

        _guarded(value, active, encode_fields)
        return
    if isinstance(value, PurePath):
        out.append(_text("p", class_path(cls)) + _text("", str(value)))
        return
    for base, encoder in _BASES:
        if isinstance(value, base):
            out.append(_text("C", class_path(cls)))
            encoder(value, out, active)
            return
    if callable(value):
        _enc_callable(value, out, active)
        return
    raise _Unhashable(f"no canonical form for an object of type {class_path(cls)!r}")


def _guarded(value: object, active: set[int], encode: Callable[[], None]) -> None:
    key = id(value)
    if key in active:
        raise _Unhashable("the value contains itself (a cycle)")
    active.add(key)
    try:
        encode()
    except ValueError as error:  # e.g. pydantic's "Circular reference detected"
        raise _Unhashable(str(error)) from error
    active.discard(key)


def _enc_callable(value: Any, out: _Out, active: set[int]) -> None:
    if isinstance(value, functools.partial):
        out.append("P")
        _encode((value.func, value.args, value.keywords), out, active)
    elif isinstance(value, types.MethodType):
        out.append("O")
        _encode(value.__func__, out, active)
        try:
            _encode(value.__self__, out, active)
        except _Unhashable as error:
            error.path.append(".__self__")
            raise
    elif isinstance(value, (types.BuiltinFunctionType, types.MethodWrapperType)):
        module = module_name(getattr(value, "__module__", None))
        out.append(_text("K", f"{module}.{value.__qualname__}" if module else value.__qualname__))
        owner = getattr(value, "__self__", None)
        if owner is not None and not isinstance(owner, types.ModuleType):
            try:
                _encode(owner, out, active)  # a bound built-in method: its object counts
            except _Unhashable as error:
                error.path.append(".__self__")
                raise
    elif isinstance(value, (types.FunctionType, type)) or hasattr(value, "__wrapped__"):
        from flightlog.identity import callable_identity  # identity imports this module

        name, digest = callable_identity(value)
        out.append(_text("k", name) + f"{digest};")
    else:
        raise _Unhashable(f"no canonical form for an object of type {class_path(type(value))!r}")


def _enc_numpy(value: Any, out: _Out, active: set[int]) -> None:
    numpy = sys.modules["numpy"]
    if not isinstance(value, (numpy.ndarray, numpy.generic)):
        raise _Unhashable(f"no canonical form for an object of type {class_path(type(value))!r}")
    array = numpy.asarray(value)
    kind = "n" if isinstance(value, numpy.ndarray) else "g"
    out.append(_text(kind, f"{array.dtype.descr!r}|{array.shape!r}"))
    if array.dtype.hasobject:
        _encode(array.reshape(-1).tolist(), out, active)
    else:
        data = numpy.ascontiguousarray(array)
        out.append(f"{blake2b(data.view(numpy.uint8).reshape(-1), digest_size=16).hexdigest()};")


def _enc_pandas(value: Any, out: _Out, active: set[int]) -> bool:
    pandas = sys.modules["pandas"]
    if isinstance(value, pandas.DataFrame):
        out.append(f"Q{value.shape[1]}:")
        _enc_pandas_index(value.columns, out, active)
        _enc_pandas_index(value.index, out, active)
        for _, column in value.items():
            _enc_pandas_values(column, out, active)
    elif isinstance(value, pandas.Series):
        out.append("V")
        _encode(value.name, out, active)
        _enc_pandas_index(value.index, out, active)
        _enc_pandas_values(value, out, active)
    elif isinstance(value, pandas.Index):
        _enc_pandas_index(value, out, active)
    else:
        return False
    return True


def _enc_pandas_index(index: Any, out: _Out, active: set[int]) -> None:
    out.append(_text("I", class_path(type(index))))
    _encode(tuple(index.names), out, active)
    _enc_pandas_values(index, out, active)


def _enc_pandas_values(values: Any, out: _Out, active: set[int]) -> None:
    pandas = sys.modules["pandas"]
    numpy = sys.modules["numpy"]
    dtype = values.dtype
    out.append(_text("", str(dtype)))
    if isinstance(values, pandas.MultiIndex) or not isinstance(dtype, numpy.dtype):
        # Extension dtypes (categorical, nullable, tz-aware, …): pandas' own stable hash.
        hashes = pandas.util.hash_pandas_object(values, index=False, categorize=True)
        _enc_numpy(numpy.asarray(hashes, dtype=numpy.uint64), out, active)
    else:
        _enc_numpy(numpy.asarray(values), out, active)  # object columns go item by item


# ------------------------------------------------------------------------------- public API


# Copying a hash object that has been set up is cheaper than making a new one: every step pays
# for one digest, so they start from these (never updated themselves, so sharing them is safe).
_BLAKE = blake2b(digest_size=16)
_SCALAR = blake2b(b"J", digest_size=16)


def _digest(text: str) -> str:
    try:
        data = text.encode()
    except UnicodeEncodeError:  # lone surrogates
        data = text.encode("utf-8", "surrogatepass")
    hasher = _BLAKE.copy()
    hasher.update(data)
    return hasher.hexdigest()


def _failure(error: _Unhashable, parameter: str | None) -> UnhashableArgumentError:
    where = "".join(reversed(error.path))
    subject = "value" if parameter is None else f"argument {parameter!r}"
    at = f" (at {parameter or 'value'}{where})" if where else ""
    return UnhashableArgumentError(
        f"cannot hash {subject} canonically{at}: {error.reason}; pass plain data, or define "
        "__flightlog_hash__(self) -> str | bytes on its class",
        parameter,
    )


def value_digest(value: object) -> str:
    """The canonical digest (32 hex characters) of one value."""
    try:
        out: _Out = []
        _encode(value, out, set())
        return _digest(out[0] if len(out) == 1 else "".join(out))
    except _Unhashable as error:
        raise _failure(error, None) from None
    except RecursionError:
        raise UnhashableArgumentError("cannot hash a value nested this deeply") from None


_plans: dict[tuple[str, ...], tuple[tuple[str, str], ...]] = {}


def _plan(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Each parameter name with its framed prefix, sorted by name; kept per set of names."""
    if not all(type(name) is str for name in names):
        raise UnhashableArgumentError(f"argument names must be strings, not {names!r:.200}")
    if len(_plans) >= 4096:
        _plans.clear()
    plan = _plans[names] = tuple((name, f"{len(name)}:{name}") for name in sorted(names))
    return plan


def execution_id(arguments: Mapping[str, object]) -> str:
    """The execution identity (32 hex characters) of bound arguments ``name -> value``.

    The order of the parameters does not matter (they are taken sorted by name). Raises
    :class:`UnhashableArgumentError` naming the parameter whose value cannot be hashed.
    Arguments that are all str, int, bool or None hash their canonical JSON text (the text
    the step records, see :func:`fingerprint`); others the general canonical encoding.
    """
    if type(arguments) is dict:
        text = encode_scalar_arguments(arguments)
        if text is not None:
            return _digest("J" + text)
    return _execution_id(arguments)


def fingerprint(arguments: dict[str, Any], serializer: str = "json") -> tuple[str | None, str]:
    """The recorded text and the execution id of bound arguments, from one pass when they
    are plain scalars. Raises UnhashableArgumentError as :func:`execution_id` does; the text
    is None when the arguments cannot be encoded for the store."""
    if serializer == "json":
        text = encode_scalar_arguments(arguments)
        if text is not None:
            return text, _digest("J" + text)
    digest = _execution_id(arguments)
    try:
        return encode_arguments(arguments, serializer=serializer), digest
    except FlightlogError:
        return None, digest


def scalar_fingerprint(keys: ArgumentKeys, values: tuple[Any, ...]) -> tuple[str, str] | None:
    """:func:`fingerprint` of plain scalar arguments given as the values of a positional call
    and the :func:`~flightlog.codec.argument_keys` of the parameters (the common case), or
    None when they are not all plain scalars."""
    text = encode_scalar_values(keys, values)
    if text is None:
        return None
    # _digest("J" + text), inline: this runs for every step. The text is ASCII (JSON escapes
    # everything else), so it always encodes.
    hasher = _SCALAR.copy()
    hasher.update(text.encode())
    return text, hasher.hexdigest()


def _execution_id(arguments: Mapping[str, object]) -> str:
    names = tuple(arguments)
    plan = _plans.get(names)
    if plan is None:
        plan = _plan(names)
    text = ""
    for name, prefix in plan:
        value: Any = arguments[name]
        cls = type(value)
        # Fast path for plain scalars: the same text as _encode produces, built inline.
        if cls is int:
            text = f"{text}{prefix}i{hex(value)};"
        elif cls is str:
            text = f"{text}{prefix}s{len(value)}:{value}"
        elif cls is float:
            text = f"{text}{prefix}f{value!r};"
        elif value is None:
            text = f"{text}{prefix}N"
        elif cls is bool:
            text = f"{text}{prefix}{'T' if value else 'F'}"
        else:
            out = [text, prefix]
            try:
                _encode(value, out, set())
            except _Unhashable as error:
                raise _failure(error, name) from None
            except RecursionError:
                raise UnhashableArgumentError(
                    f"cannot hash argument {name!r}: it is nested too deeply", name
                ) from None
            text = "".join(out)
    return _digest(text)

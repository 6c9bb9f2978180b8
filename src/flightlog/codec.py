"""Turning Python values into the text a store keeps, and back, with the same types.

The text is JSON. ``None``, ``bool``, ``int``, finite ``float``, ``str``, ``list`` and ``dict``
with ``str`` keys are stored as themselves, so any JSON-aware tool can read a store; other types
become tagged objects ``{"__flightlog__": "<kind>", ...}`` (a user's dict that has that key is
escaped). Nothing is pickled unless the caller asks for ``serializer="pickle"``, and nothing
pickled is loaded without ``allow_pickle=True``. Classes (dataclasses, enums, named tuples,
paths, pydantic models) are stored by ``module:QualName``; decoding looks a class up only in a
module that is imported already (``sys.modules``, by its namespace: no module ``__getattr__``
runs), or that the caller allowed (``allow_imports``: True, or module names), and checks it to
be of that kind before calling it. Otherwise decoding raises SerializationError, or with
``placeholders=True`` gives an :class:`Undecoded` (kind, class name, data) instead, importing
nothing. numpy, pandas and pydantic are never imported here until one of their values shows up.
"""

from __future__ import annotations

import binascii
import dataclasses
import datetime as dt
import enum
import importlib
import json
import sys
from collections.abc import Callable, Iterable, Mapping
from json.scanner import make_scanner
from typing import Any

from flightlog import codec_blobs
from flightlog.codec_blobs import BLOBS, TEXT_PREFIX
from flightlog.errors import ConfigurationError, SerializationError

__all__ = [
    "ArgumentKeys",
    "Imports",
    "Undecoded",
    "argument_keys",
    "check_imports",
    "decode",
    "encode",
    "encode_arguments",
    "encode_json",
    "encode_scalar_arguments",
    "encode_scalar_values",
]

_SERIALIZERS = ("json", "pickle")

_TAG = "__flightlog__"
_MARK = '"__flightlog__"'
_BIG = 1 << 2000  # larger ints are stored as hex: decimal digits are limited (int_max_str_digits)
_SCALARS = frozenset({str, int, float, bool, type(None)})
_NATIVE = _SCALARS | {list, dict}
_STR = frozenset({str})
_encode_str: Callable[[str], str] = json.encoder.encode_basestring_ascii


def _make_dumps() -> Callable[[object], str]:
    # json.dumps builds an encoder on every call: build the C encoder once, where there is one.
    encoder = json.JSONEncoder(allow_nan=False, check_circular=False, separators=(",", ":"))
    try:
        c_encode = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
            None, encoder.default, _encode_str, None, ":", ",", False, False, False
        )

        def dumps(value: object) -> str:
            return "".join(c_encode(value, 0))

        if dumps([1, {"a": "\xe9"}, None]) == '[1,{"a":"\\u00e9"},null]':
            return dumps
    except Exception:  # no C accelerator: the public API does the same, more slowly
        pass
    return encoder.encode


_dumps = _make_dumps()


class _Unencodable(Exception):
    """Raised inside the walker; containers add their path segments while it unwinds."""

    def __init__(self, value: object, detail: str = "") -> None:
        super().__init__()
        self.type_name, self.detail, self.path = _type_name(type(value)), detail, list[str]()


def _type_name(kind: type) -> str:
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def _b64(data: bytes | bytearray) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _unb64(text: str) -> bytes:
    data = binascii.a2b_base64(text)
    if _b64(data) != text:  # a2b_base64 skips stray characters; stored text must be exact
        raise ValueError("malformed base64 data")
    return data


# ---------------------------------------------------------------------------- encoding


def encode(value: object, serializer: str = "json") -> str:
    """Encode ``value`` as text for a store; :func:`decode` gives it back with the same type."""
    if serializer != "json":
        if serializer == "pickle":
            return _encode_pickle(value)
        known = ", ".join(repr(name) for name in _SERIALIZERS)
        raise ConfigurationError(f"unknown serializer {serializer!r}; known: {known}")
    if value is None:
        return "null"
    v: Any = value
    kind = type(v)
    if kind is str:
        return codec_blobs.spill_text(_encode_str(v))
    if kind is int:
        if -_BIG < v < _BIG:
            return repr(v)
    elif kind is bool:
        return "true" if v else "false"
    elif kind is float and v - v == 0.0:  # a finite float
        return repr(v)
    try:
        if (kind is list or kind is dict) and _plain(v, True):
            try:
                return codec_blobs.spill_text(_dumps(v))
            except ValueError:  # nan/inf, or an int too long for decimal digits
                pass
        return codec_blobs.spill_text(_dumps(_enc(v)))
    except _Unencodable as error:
        where = "value" + "".join(reversed(error.path))
        detail = error.detail or "; convert it, or pass serializer='pickle' to pickle it"
        message = f"cannot encode value of type '{error.type_name}' at {where}{detail}"
    except RecursionError:
        message = "cannot encode value: it is nested too deeply or contains itself"
    raise SerializationError(message)


ArgumentKeys = tuple[tuple[int, str], ...]
"""For each parameter in name order: its index in the call, and the JSON text before its value."""

_argument_keys: dict[tuple[str, ...], ArgumentKeys] = {}


def argument_keys(names: tuple[str, ...]) -> ArgumentKeys | None:
    """The keys with which :func:`encode_scalar_values` encodes values given for parameters
    ``names``; None when there are none, or a name is reserved. Kept per tuple of names."""
    keys = _argument_keys.get(names)
    if keys is not None:
        return keys
    if not names or _TAG in names or not all(type(name) is str for name in names):
        return None
    if len(_argument_keys) >= 4096:
        _argument_keys.clear()
    order = sorted(range(len(names)), key=names.__getitem__)
    keys = tuple(
        (index, ("," if place else "{") + _encode_str(names[index]) + ":")
        for place, index in enumerate(order)
    )
    _argument_keys[names] = keys
    return keys


def encode_scalar_arguments(arguments: dict[str, Any]) -> str | None:
    """Bound arguments whose values are all str, int, bool or None, as a JSON object with its
    keys in name order (canonical: the same values give the same text); None otherwise.

    This is the common case of every step, so it is written directly.
    """
    keys = argument_keys(tuple(arguments))
    return None if keys is None else encode_scalar_values(keys, tuple(arguments.values()))


def encode_scalar_values(keys: ArgumentKeys, values: tuple[Any, ...]) -> str | None:
    """:func:`encode_scalar_arguments` of the ``values`` of a call, in parameter order, with
    the :func:`argument_keys` of its parameters (the task keeps them: no dict, no lookup)."""
    text = ""  # built with f-strings: the fastest way for the few values of a call
    for index, key in keys:
        value = values[index]
        kind = type(value)
        if kind is int:
            if not -_BIG < value < _BIG:
                return None
            text = f"{text}{key}{value!r}"
        elif kind is str:
            text = f"{text}{key}{_encode_str(value)}"
        elif value is None:
            text = f"{text}{key}null"
        elif kind is bool:
            text = f"{text}{key}{'true' if value else 'false'}"
        else:
            return None
    return text + "}"


def encode_arguments(arguments: dict[str, Any], *, serializer: str = "json") -> str:
    """Encode bound arguments (parameter name -> value); ``decode`` gives them back."""
    if serializer == "json":
        text = encode_scalar_arguments(arguments)
        if text is not None:
            return text
    return encode(arguments, serializer=serializer)


def _plain(value: Any, tagfree: bool) -> bool:
    """True if ``value`` (a list or dict) holds only JSON-native values and str keys."""
    if type(value) is dict:
        if (tagfree and _TAG in value) or not _STR.issuperset(map(type, value)):
            return False
        value = value.values()
    kinds = {*map(type, value)}
    if kinds <= _SCALARS:
        return True
    if not kinds <= _NATIVE:
        return False
    for x in value:  # noqa: SIM110 - a loop is faster than all() over a generator here
        if (type(x) is list or type(x) is dict) and not _plain(x, tagfree):
            return False
    return True


def _enc(v: Any) -> object:
    """Return a JSON-native structure for ``v`` (tagged objects for other types)."""
    kind = type(v)
    if kind is str or kind is bool or v is None:
        return v
    if kind is int:
        return v if -_BIG < v < _BIG else {_TAG: "int", "hex": hex(v)}
    if kind is float:
        return v if v - v == 0.0 else {_TAG: "float", "value": repr(v)}
    if kind is list:
        return _enc_items(v)
    if kind is dict:
        return _enc_dict(v)
    handler = _BY_TYPE.get(kind)
    return handler(v) if handler is not None else _find_handler(v, kind)(v)


def _at(segment: str, v: object) -> object:
    """Encode ``v``, which sits at ``segment`` in its container."""
    try:
        return _enc(v)
    except _Unencodable as error:
        error.path.append(segment)
        raise


def _locate(error: _Unencodable, pairs: Iterable[tuple[str, object]]) -> bool:
    """Add to ``error`` the path segment of the first item in ``pairs`` that fails to encode."""
    for segment, item in pairs:
        try:
            _enc(item)
        except _Unencodable:
            error.path.append(segment)
            return True
    return False


def _enc_items(items: Iterable[Any], fmt: str = "[{}]") -> list[object]:
    try:
        return [_enc(x) for x in items]
    except _Unencodable as error:
        _locate(error, ((fmt.format(i), x) for i, x in enumerate(items)))
        raise


def _enc_dict(d: dict[Any, Any]) -> object:
    try:
        if _TAG not in d and _STR.issuperset(map(type, d)):
            return {k: _enc(x) for k, x in d.items()}
        return {_TAG: "dict", "items": [[_enc(k), _enc(x)] for k, x in d.items()]}
    except _Unencodable as error:
        if not _locate(error, ((f".keys()[{i}]", k) for i, k in enumerate(d))):
            _locate(error, ((f"[{k!r}]", x) for k, x in d.items()))
        raise


def _enc_set(s: set[Any] | frozenset[Any]) -> object:
    items = _enc_items(s, "{{...}}")
    items.sort(key=_dumps)  # a deterministic order: by the encoded text of each element
    return {_TAG: type(s).__name__, "items": items}


def _class_path(v: object) -> str:
    kind = type(v)
    if "<locals>" in kind.__qualname__:
        raise _Unencodable(v, ": its class is defined inside a function, so it cannot be imported")
    return f"{kind.__module__}:{kind.__qualname__}"


def _escape(d: dict[str, object]) -> object:
    return {_TAG: "dict", "items": [[k, x] for k, x in d.items()]} if _TAG in d else d


def _enc_dataclass(v: Any) -> object:
    path, fields, extra = _class_path(v), dict[str, object](), dict[str, object]()
    for f in dataclasses.fields(v):
        if hasattr(v, f.name):  # a field with init=False may never have been set
            (fields if f.init else extra)[f.name] = _at(f".{f.name}", getattr(v, f.name))
    out = {_TAG: "dataclass", "class": path, "fields": _escape(fields)}
    return {**out, "extra": _escape(extra)} if extra else out


def _enc_pydantic(v: Any) -> object:
    path = _class_path(v)
    try:
        data = v.model_dump(mode="json")
    except Exception as exc:
        raise _Unencodable(v, f": model_dump(mode='json') failed: {exc}") from None
    return {_TAG: "pydantic", "class": path, "data": _enc(data)}


def _enc_ndarray(a: Any) -> object:
    if a.dtype.hasobject:
        raise _Unencodable(a, " (dtype object): use an array of a numeric, bool or str dtype")
    dtype = a.dtype.str if a.dtype.fields is None else _enc(a.dtype.descr)
    blobs = BLOBS.get()
    if blobs is not None and a.nbytes >= blobs.threshold:  # out of line, from its own memory
        np: Any = importlib.import_module("numpy")
        raw = memoryview(np.ascontiguousarray(a).reshape(-1).view(np.uint8))
        return codec_blobs.spill("ndarray", raw, {"dtype": dtype, "shape": list(a.shape)})
    return {_TAG: "ndarray", "dtype": dtype, "shape": list(a.shape), "b64": _b64(a.tobytes())}


def _enc_numpy_scalar(v: Any) -> object:
    dtype = v.dtype
    if dtype.kind in "biu":
        return {_TAG: "numpy", "dtype": dtype.str, "value": int(v)}
    if dtype.kind == "f" and dtype.itemsize <= 8:
        return {_TAG: "numpy", "dtype": dtype.str, "value": _enc(float(v))}
    return {_TAG: "numpy", "dtype": dtype.str, "b64": _b64(v.tobytes())}


def _pd_values(values: Any, fmt: str) -> dict[str, object]:
    """The values of a Series or Index: a numpy array, or a list and the dtype's name."""
    dtype = values.dtype
    if isinstance(dtype, sys.modules["numpy"].dtype) and not dtype.hasobject:
        return {"values": _enc_ndarray(values.to_numpy())}
    items, pd = values.tolist(), sys.modules["pandas"]
    if str(dtype) != "object":  # extension dtypes mark missing values with pd.NA / pd.NaT
        items = [None if x is pd.NA or x is pd.NaT else x for x in items]
    return {"dtype": str(dtype), "values": _enc_items(items, fmt)}


def _enc_index(index: Any) -> dict[str, object]:
    pd = sys.modules["pandas"]
    if type(index) is pd.RangeIndex:
        return {"range": [index.start, index.stop, index.step], "name": _enc(index.name)}
    if isinstance(index, pd.MultiIndex):
        return {"levels": [_enc_index(index.get_level_values(i)) for i in range(index.nlevels)]}
    out = {**_pd_values(index, ".index[{}]"), "name": _enc(index.name)}
    if getattr(index, "freq", None) is not None:  # DatetimeIndex, TimedeltaIndex
        out["freq"] = index.freqstr
    return out


def _enc_series(s: Any) -> object:
    values = _pd_values(s, ".iloc[{}]")
    return {_TAG: "series", "name": _enc(s.name), "index": _enc_index(s.index), **values}


def _enc_dataframe(df: Any) -> object:
    data = []
    for i in range(df.shape[1]):
        try:
            data.append(_pd_values(df.iloc[:, i], ".iloc[{}]"))
        except _Unencodable as error:
            error.path.append(f"[{df.columns[i]!r}]")
            raise
    columns, index = _enc_index(df.columns), _enc_index(df.index)
    return {_TAG: "dataframe", "columns": columns, "index": index, "data": data}


def _by_str(tag: str, method: str = "__str__") -> Callable[[Any], object]:
    return lambda v: {_TAG: tag, "value": getattr(v, method)()}


_BY_CLASS: dict[str, Callable[[Any], object]] = {
    "enum": lambda v: {_TAG: "enum", "class": _class_path(v), "value": _at(".value", v.value)},
    "path": lambda v: {_TAG: "path", "class": _class_path(v), "value": str(v)},
    "namedtuple": lambda v: {_TAG: "namedtuple", "class": _class_path(v), "items": _enc_items(v)},
}


def _find_handler(v: object, kind: type) -> Callable[[Any], object]:
    """Find the encoder of a type that is not in ``_BY_TYPE`` yet, and remember it."""
    mods, handler = sys.modules, None
    np, pd = mods.get("numpy"), mods.get("pandas")
    if isinstance(v, enum.Enum):
        handler = _BY_CLASS["enum"]
    elif "decimal" in mods and kind is mods["decimal"].Decimal:
        handler = _by_str("decimal")
    elif "uuid" in mods and kind is mods["uuid"].UUID:
        handler = _by_str("uuid")
    elif np is not None and kind is np.ndarray:
        handler = _enc_ndarray
    elif np is not None and isinstance(v, np.generic) and not v.dtype.hasobject:
        handler = _enc_numpy_scalar
    elif pd is not None and kind in (pd.DataFrame, pd.Series, pd.Timestamp):
        handler = {pd.DataFrame: _enc_dataframe, pd.Series: _enc_series}.get(kind)
        handler = handler or _by_str("timestamp", "isoformat")
    elif "pathlib" in mods and isinstance(v, mods["pathlib"].PurePath):
        handler = _BY_CLASS["path"]
    elif hasattr(kind, "__dataclass_fields__") and not isinstance(v, type):
        handler = _enc_dataclass
    elif isinstance(v, tuple) and hasattr(kind, "_fields"):
        handler = _BY_CLASS["namedtuple"]
    elif "pydantic" in mods and isinstance(v, mods["pydantic"].BaseModel):
        handler = _enc_pydantic
    if handler is None:
        raise _Unencodable(v)
    if len(_BY_TYPE) < 512:
        _BY_TYPE[kind] = handler
    return handler


def _enc_time(v: dt.datetime | dt.time) -> object:
    out: dict[str, object] = {_TAG: type(v).__name__, "value": v.isoformat()}
    offset = v.utcoffset()
    if offset is not None and offset.microseconds:  # fromisoformat of 3.11 drops these
        out["offset"] = [offset.days, offset.seconds, offset.microseconds]
    return {**out, "fold": 1} if v.fold else out


def _dec_time(o: dict[str, Any]) -> object:
    kind = dt.datetime if o[_TAG] == "datetime" else dt.time
    value = kind.fromisoformat(o["value"]).replace(fold=o.get("fold", 0))
    if "offset" in o:
        value = value.replace(tzinfo=dt.timezone(dt.timedelta(*o["offset"])))
    return value


_BY_TYPE: dict[type, Callable[[Any], object]] = {
    tuple: lambda v: {_TAG: "tuple", "items": _enc_items(v)},
    set: _enc_set,
    frozenset: _enc_set,
    bytes: lambda v: _enc_buffer("bytes", v),
    bytearray: lambda v: _enc_buffer("bytearray", v),
    complex: lambda v: {_TAG: "complex", "real": _enc(v.real), "imag": _enc(v.imag)},
    dt.datetime: _enc_time,
    dt.time: _enc_time,
    dt.date: lambda v: {_TAG: "date", "value": v.isoformat()},
    dt.timedelta: lambda v: {_TAG: "timedelta", "value": [v.days, v.seconds, v.microseconds]},
}


def _enc_buffer(kind: str, v: bytes | bytearray) -> object:
    return codec_blobs.spill(kind, memoryview(v), {}) or {_TAG: kind, "b64": _b64(v)}


def _encode_pickle(value: object) -> str:
    import pickle

    try:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        name = _type_name(type(value))
        raise SerializationError(
            f"cannot encode value of type '{name}' with pickle: {exc}"
        ) from exc
    if found := codec_blobs.spill("pickle", memoryview(data), {}):
        return _dumps(found)
    return f'{{"{_TAG}":"pickle","b64":"{_b64(data)}"}}'


def encode_json(value: object, *, what: str = "value") -> str:
    """Encode plain JSON (user metadata, options); anything else raises naming where it sits."""
    try:
        if type(value) is dict and _plain(value, False):
            try:
                return _dumps(value)
            except ValueError:  # nan or inf: _check_json says where
                pass
        _check_json(value, what)
        return _dumps(value)
    except RecursionError:
        raise SerializationError(f"{what} is nested too deeply or contains itself") from None
    except ValueError as exc:  # an int too long to write in decimal digits
        raise SerializationError(f"{what} is not JSON-serialisable: {exc}") from None


def _check_json(v: object, path: str) -> None:
    if isinstance(v, float) and v - v != 0.0:
        raise SerializationError(f"{path} is {v!r}, which JSON cannot represent")
    if isinstance(v, dict):
        for k, x in v.items():
            if not isinstance(k, str):
                kind = _type_name(type(k))
                raise SerializationError(f"{path} has a key of type '{kind}'; keys must be str")
            _check_json(x, f"{path}[{k!r}]")
    elif isinstance(v, list):
        for i, x in enumerate(v):
            _check_json(x, f"{path}[{i}]")
    elif not (v is None or isinstance(v, (str, int, float))):
        kind = _type_name(type(v))
        raise SerializationError(f"{path} is of type '{kind}', which is not JSON-serialisable")


# ---------------------------------------------------------------------------- decoding


Imports = bool | tuple[str, ...]
"""Which modules decoding may import: none (False), any (True), or these and their submodules."""


def check_imports(value: object, what: str = "allow_imports") -> Imports:
    """``value`` as :data:`Imports`: True or False, or module names (a list, tuple or set of
    dotted names; each allows itself and its submodules). Anything else is a
    ConfigurationError naming what is wrong."""
    if value is True or value is False:
        return value
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise ConfigurationError(
            f"{what} must be True, False or a list of module names (e.g. ['pipeline']), "
            f"not {value!r}"
        )
    for name in value:
        if not isinstance(name, str):
            raise ConfigurationError(
                f"{what}: module names must be strings, not {type(name).__name__} {name!r}"
            )
        if not all(part.isidentifier() for part in name.split(".")):
            raise ConfigurationError(f"{what}: {name!r} is not a module name")
    return tuple(sorted(set(value))) or False


def _allowed(module: str, imports: Imports) -> bool:
    if imports is True or imports is False:
        return imports
    return any(module == name or module.startswith(name + ".") for name in imports)


class Undecoded:
    """A stored value of a class that decoding did not use: its module is not imported and
    importing it was not allowed, or it is not there. ``kind`` is the stored kind
    ("dataclass", "enum", "namedtuple", "path" or "pydantic"), ``type_name`` the class as
    stored (``module:QualName``), ``data`` what the value held (fields, value or items, each
    decoded) and ``reason`` why; or a value out of line, described (``codec_blobs.unread``)."""

    __slots__ = ("data", "kind", "reason", "type_name")

    def __init__(self, kind: str, type_name: str, data: Any, reason: str) -> None:
        self.kind, self.type_name, self.data, self.reason = kind, type_name, data, reason

    def __repr__(self) -> str:
        if isinstance(self.data, dict) and "blob" in self.data:  # out of line, not read
            return codec_blobs.described_text(self.kind, self.data)
        return f"<Undecoded {self.kind} {self.type_name!r} {self.data!r}: {self.reason}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Undecoded):
            return NotImplemented
        return (self.kind, self.type_name, self.data) == (other.kind, other.type_name, other.data)

    def __hash__(self) -> int:
        return hash((self.kind, self.type_name))


def decode(
    text: str,
    *,
    allow_pickle: bool = False,
    allow_imports: Imports | list[str] | set[str] = False,
    placeholders: bool = False,
) -> object:
    """Decode text made by :func:`encode`; pickled values need ``allow_pickle=True``.

    A class named by the text is used only if its module is imported already, or
    ``allow_imports`` allows importing it (see :func:`check_imports`); otherwise this raises
    SerializationError saying how to allow it, or, with ``placeholders=True``, the value
    decodes as an :class:`Undecoded`.
    """
    try:
        if isinstance(text, str) and text.startswith(TEXT_PREFIX):  # a long value, out of line
            if codec_blobs.describing():
                return Undecoded("text", *codec_blobs.description("text", json.loads(text)))
            text = codec_blobs.read_text(text)
        if _MARK not in text:
            try:
                obj, end = _scan(text, 0)
                if end == len(text):
                    return obj
            except StopIteration:
                pass
            return json.loads(text)  # surrounding whitespace, or a proper error message
        if allow_imports is False and not placeholders:
            return (_PICKLE_DECODER if allow_pickle else _DECODER).decode(text)
        return _decoder(allow_pickle, check_imports(allow_imports), placeholders).decode(text)
    except (SerializationError, ConfigurationError):
        raise
    except (ValueError, TypeError, RecursionError) as exc:
        raise SerializationError(f"cannot decode stored value: {exc}") from None


_CLASS_CHECKS: dict[str, Callable[[type], bool]] = {
    "enum": lambda c: issubclass(c, enum.Enum),
    "dataclass": dataclasses.is_dataclass,
    "namedtuple": lambda c: issubclass(c, tuple) and hasattr(c, "_fields"),
    "path": lambda c: _subclass_of(c, "pathlib", "PurePath"),
    "pydantic": lambda c: _subclass_of(c, "pydantic", "BaseModel"),
}


def _subclass_of(cls: type, module: str, name: str) -> bool:
    """Whether ``cls`` derives from ``module.name`` (never imports ``module``: a class
    derived from it can only exist once it is imported)."""
    base = getattr(sys.modules.get(module), name, None)
    return isinstance(base, type) and issubclass(cls, base)


def _find_class(path: str, imports: Imports) -> tuple[Any, str]:
    """The class at ``module:QualName``, or None and why not. A module not imported yet is
    imported only when ``imports`` allows it; names are looked up in namespaces (``__dict__``),
    so nothing runs but the allowed import."""
    module, _, qualname = path.partition(":")
    found: Any = sys.modules.get(module)
    if found is None:
        if not _allowed(module, imports):
            return None, (
                f"module {module!r} is not imported, and reading imports nothing unless "
                f"allowed: flightlog.open(..., allow_imports=[{module!r}]) (or "
                f"--allow-import {module} on the command line) decodes it"
            )
        try:
            found = importlib.import_module(module)
        except Exception as exc:
            return None, f"the class cannot be imported ({type(exc).__name__}: {exc})"
    for part in qualname.split("."):
        namespace = getattr(found, "__dict__", None)
        found = namespace.get(part) if isinstance(namespace, Mapping) else None
        if found is None:
            return None, f"module {module!r} has no class {qualname!r}"
    return found, ""


def _cls(o: dict[str, Any], imports: Imports, placeholders: bool) -> Any:
    """The class that a tagged object names, checked to be of the tag's kind; or, when it
    cannot be had, an Undecoded (``placeholders``) or a SerializationError."""
    kind, path = o[_TAG], str(o["class"])
    found, reason = _find_class(path, imports)
    if found is not None and not (isinstance(found, type) and _CLASS_CHECKS[kind](found)):
        found, reason = None, f"{path!r} is not a {kind} class"
    if found is not None:
        return found
    if not placeholders:
        raise SerializationError(f"cannot decode a value of class {path!r}: {reason}")
    if kind == "dataclass":
        data = {**o["fields"], **o.get("extra", {})}
    else:
        data = o["items" if kind == "namedtuple" else "data" if kind == "pydantic" else "value"]
    return Undecoded(kind, path, data, reason)


def _dec_dataclass(cls: Any, o: dict[str, Any]) -> object:
    obj = cls(**o["fields"])
    for name, value in o.get("extra", {}).items():
        object.__setattr__(obj, name, value)
    return obj


def _dec_numpy(o: dict[str, Any]) -> object:
    np: Any = importlib.import_module("numpy")
    dtype = np.dtype(o["dtype"])
    if "value" in o:
        return dtype.type(o["value"])
    if "blob" in o:  # out of line: read into the array's own (writable) memory
        array = np.frombuffer(codec_blobs.read_buffer(o), dtype=dtype)
        return array.reshape(o["shape"]) if o[_TAG] == "ndarray" else array[0]
    array = np.frombuffer(_unb64(o["b64"]), dtype=dtype)
    return array.reshape(o["shape"]).copy() if o[_TAG] == "ndarray" else array[0]


def _pd_array(o: dict[str, Any]) -> Any:
    np: Any = importlib.import_module("numpy")
    values = o["values"]
    if isinstance(values, np.ndarray):
        return values
    if o["dtype"] != "object":
        return importlib.import_module("pandas").array(values, dtype=o["dtype"])
    array = np.empty(len(values), dtype=object)
    for i, x in enumerate(values):  # element by element: tuples must not become a 2-D array
        array[i] = x
    return array


def _pd_index(o: dict[str, Any]) -> Any:
    pd: Any = importlib.import_module("pandas")
    if "range" in o:
        return pd.RangeIndex(*o["range"], name=o["name"])
    if "levels" in o:
        return pd.MultiIndex.from_arrays([_pd_index(level) for level in o["levels"]])
    array = _pd_array(o)
    index = pd.Index(array, dtype=array.dtype, name=o["name"])
    return type(index)(index, freq=o["freq"]) if "freq" in o else index


def _dec_pandas(o: dict[str, Any]) -> object:
    pd: Any = importlib.import_module("pandas")
    index = _pd_index(o["index"])
    if o[_TAG] == "series":
        array = _pd_array(o)
        return pd.Series(array, index=index, dtype=array.dtype, name=o["name"])
    arrays = [_pd_array(column) for column in o["data"]]
    columns = {i: pd.Series(a, index=index, dtype=a.dtype) for i, a in enumerate(arrays)}
    frame = pd.DataFrame(columns, index=index)
    frame.columns = _pd_index(o["columns"])
    return frame


_DECODERS: dict[str, Callable[[dict[str, Any]], object]] = {
    "tuple": lambda o: tuple(o["items"]),
    "set": lambda o: set(o["items"]),
    "frozenset": lambda o: frozenset(o["items"]),
    "dict": lambda o: dict(o["items"]),
    "bytes": lambda o: bytes(codec_blobs.read_buffer(o)) if "blob" in o else _unb64(o["b64"]),
    "bytearray": lambda o: (
        codec_blobs.read_buffer(o) if "blob" in o else bytearray(_unb64(o["b64"]))
    ),
    "int": lambda o: int(o["hex"], 16),
    "float": lambda o: float(o["value"]),
    "complex": lambda o: complex(o["real"], o["imag"]),
    "decimal": lambda o: importlib.import_module("decimal").Decimal(o["value"]),
    "uuid": lambda o: importlib.import_module("uuid").UUID(o["value"]),
    "datetime": _dec_time,
    "time": _dec_time,
    "date": lambda o: dt.date.fromisoformat(o["value"]),
    "timedelta": lambda o: dt.timedelta(*o["value"]),
    "ndarray": _dec_numpy,
    "numpy": _dec_numpy,
    "series": _dec_pandas,
    "dataframe": _dec_pandas,
    "timestamp": lambda o: importlib.import_module("pandas").Timestamp(o["value"]),
    "pickle": lambda o: importlib.import_module("pickle").loads(
        codec_blobs.read_buffer(o) if "blob" in o else _unb64(o["b64"])
    ),
}

# Kinds stored with a class (``"class": "module:QualName"``): the decoder gets the class too.
_CLASS_DECODERS: dict[str, Callable[[Any, dict[str, Any]], object]] = {
    "enum": lambda cls, o: cls(o["value"]),
    "path": lambda cls, o: cls(o["value"]),
    "namedtuple": lambda cls, o: cls(*o["items"]),
    "dataclass": _dec_dataclass,
    "pydantic": lambda cls, o: cls.model_validate(o["data"]),
}


def _make_hook(
    allow_pickle: bool, imports: Imports = False, placeholders: bool = False
) -> Callable[[dict[str, Any]], object]:
    def hook(o: dict[str, Any]) -> object:
        if _TAG not in o:
            return o
        kind = o[_TAG]
        if kind == "pickle" and not allow_pickle:
            raise SerializationError(
                "this value was stored with pickle (serializer='pickle'); loading it can run "
                "arbitrary code, so it needs your explicit opt-in: decode(..., allow_pickle=True)"
            )
        known = isinstance(kind, str)
        decoder = _DECODERS.get(kind) if known else None
        with_class = _CLASS_DECODERS.get(kind) if known and decoder is None else None
        if decoder is None and with_class is None:
            raise SerializationError(f"cannot decode: unknown kind of stored value {kind!r}")
        if "blob" in o and codec_blobs.describing():  # out of line: described, not read
            return Undecoded(kind, *codec_blobs.description(kind, o))
        try:
            if with_class is None:
                return decoder(o)  # type: ignore[misc]
            cls = _cls(o, imports, placeholders)
            return cls if type(cls) is Undecoded else with_class(cls, o)
        except SerializationError:
            raise
        except Exception as exc:
            message = f"cannot decode a stored {kind!r} value: {type(exc).__name__}: {exc}"
            raise SerializationError(message) from exc

    return hook


_PLAIN_DECODER: Any = json.JSONDecoder()
_scan = make_scanner(_PLAIN_DECODER)
_DECODER = json.JSONDecoder(object_hook=_make_hook(False))
_PICKLE_DECODER = json.JSONDecoder(object_hook=_make_hook(True))
_DECODERS_BY_POLICY: dict[tuple[bool, Imports, bool], json.JSONDecoder] = {}


def _decoder(allow_pickle: bool, imports: Imports, placeholders: bool) -> json.JSONDecoder:
    """A decoder for this policy, made once."""
    key = (allow_pickle, imports, placeholders)
    decoder = _DECODERS_BY_POLICY.get(key)
    if decoder is None:
        if len(_DECODERS_BY_POLICY) >= 64:
            _DECODERS_BY_POLICY.clear()
        decoder = json.JSONDecoder(object_hook=_make_hook(*key))
        _DECODERS_BY_POLICY[key] = decoder
    return decoder

"""Identities: what a task is (its code) and what one call of it is (its arguments).

A finished step is never recomputed: its result is found again under ``(task_id,
execution_id)``. :func:`task_identity` hashes a task's code; :func:`execution_id` (from
:mod:`flightlog.hashing`, re-exported here) hashes one call's bound arguments.

What a task id covers
---------------------
The qualified name (``module.QualName``, or ``name=``) and the code of the task and of what
it depends on inside the user's own project, followed transitively: helper functions it
calls (by global name, through ``module.attribute`` chains such as ``helpers.scale(x)``, and
through imports inside the function, importing the user's module if it is not yet), values
and functions in its closure cells, module-level names it reads (see below), default
argument values, and the user's classes it uses (their methods' code and immutable class attributes;
a method task covers its class). Code in the standard library, in installed packages
(site-packages) and in flightlog is not followed: only its name counts. The exception: a
task that itself lives in an installed package (the user's project installed without
``-e``) counts that package as the user's own code. Wrapped functions are followed to
``__wrapped__``, so decorated helpers and flightlog tasks called from a task are covered.

Functions count by their bytecode, never by source text: ``co_code`` (no line numbers in
it; comments and formatting do not change it), names, argument and local names, the flags
that change behaviour (generator, coroutine, ``*args``), the exception table, and the
constants that the code loads, by value (nested code objects of lambdas, comprehensions and
inner functions recursively). A docstring is never loaded, so it does not count.

Values count by value only when they are immutable data: ``None``, ``bool``, ``int``,
``float``, ``complex``, ``str``, ``bytes``, ``Decimal``, ``datetime`` values, ``UUID``, paths,
enum members, and tuples and frozensets of those. Other objects (a list the task appends to,
a dict, a client) never count by content: only by their class (the code of the class, when
it is the user's own), and a module-level one also by the source of its assignment (below),
so editing ``CONFIG = {"k": 1}`` makes a new version and appending to it at run time does not.

Module-level names
------------------
A module-level name that holds such data counts by its value only when the module's source
binds it to literal constants (every assignment's value is accepted by
:func:`ast.literal_eval`: ``SCALE = 3``, ``NAMES = ("a", "b")``, ``SCALE += 1``). Any other
assignment counts by its source, normalised (``ast.dump``: comments, formatting and
annotations do not count), and by what that source reads, followed like the names a function
reads (``FACTOR = SCALE * 2`` covers ``SCALE``; ``OUT = make_dir()`` covers ``make_dir``'s
code). So ``PID = os.getpid()``, ``OUT = tempfile.mkdtemp()``, ``FD = os.open(...)`` or
``TODAY = date.today()`` give the same task id in every process, and editing that source
makes a new version. Assignments are found at module level, also inside top-level blocks
(``if``, ``try``, ``with``), and through ``from other import NAME`` (or ``*``) into the
user's own modules (see :mod:`flightlog.module_source`). The name counts by its value, as a
literal does, when there is no source to read (code made by ``exec``, an interactive
session, a module without a file, a file that no longer parses) or when the source binds it
otherwise (a ``for`` target, ``with … as``, ``global`` in a function). A module's source is
read once per process, when a task first reads such a name; a file edited after its module
loaded is read as it is then. To make a computed value count, pass it as an argument, or
set ``version=``.

Bytecode differs between Python minor versions, so the task id also covers
``sys.version_info[:2]``: upgrading Python from 3.11 to 3.12 starts new cache entries
(correctness first). ``version=`` replaces the whole code part: the id is then made of the
name and the version only (no Python version either), and ``components`` is empty.

``components`` maps each followed function, class and module-level name (by qualified name,
e.g. ``"pipeline.helper"``, ``"pipeline.SCALE"``) to a digest of that item alone, so that
diffing two maps names what changed. ``constants`` holds, for each module-level name among
them, a short text of what counts (the value's ``repr``, a frozenset's items sorted, or
``"= "`` and the source of the assignment; at most 200 characters) to explain a change; it
is no part of the identity (never compared or hashed). An identity is computed once per
function and process (the digests of code objects are cached too).

A script run as ``python pipeline.py`` and the same file imported as ``pipeline`` give the
same names and ids: ``__main__`` is replaced by the module's real name (its ``-m`` name, or
the script's stem dotted with the packages, folders holding an ``__init__.py``, around it).
"""

from __future__ import annotations

import builtins
import dis
import enum
import functools
import importlib
import importlib.util
import inspect
import os
import site
import sys
import sysconfig
import types
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import PurePath
from typing import Any

from flightlog import module_source
from flightlog.errors import InvalidInputError
from flightlog.hashing import (
    UnhashableArgumentError,
    class_path,
    execution_id,
    module_name,
    value_digest,
)

__all__ = [
    "NotATaskError",
    "TaskIdentity",
    "UnhashableArgumentError",
    "execution_id",
    "qualified_name",
    "task_identity",
    "value_digest",
]

_SCHEME = "flightlog-task-1"
_PYTHON = "{}.{}".format(*sys.version_info[:2])


class NotATaskError(InvalidInputError, TypeError):
    """Something that is not a callable was given where a task (a function) is needed."""


@dataclass(frozen=True, slots=True)
class TaskIdentity:
    """A task's name, its code identity, and the parts that identity covers."""

    name: str
    task_id: str
    components: dict[str, str] = field(hash=False)
    version: str | None
    # For each module-level name in ``components``: a short text of what counts, to explain a
    # change ("3", "= os.getpid()"). Not part of the identity: never compared or hashed.
    constants: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


# ------------------------------------------------------------------------------ naming


def _check_callable(func: object, what: str) -> None:
    if not callable(func):
        raise NotATaskError(
            f"{what}() needs a function (or another callable), not {type(func).__name__}: "
            f"{func!r:.80}"
        )


def _plain_name(obj: Any) -> str | None:
    qualname = getattr(obj, "__qualname__", None)
    if not isinstance(qualname, str):
        return None
    module = module_name(getattr(obj, "__module__", None))
    return f"{module}.{qualname}" if module else qualname


def qualified_name(func: Callable[..., object]) -> str:
    """``module.QualName`` of a callable, the same whether its module runs as ``__main__``."""
    _check_callable(func, "qualified_name")
    obj: Any = func.__func__ if isinstance(func, types.MethodType) else func
    name = _plain_name(obj) or _plain_name(_unwrap(obj))
    return name or class_path(type(obj))


# ---------------------------------------------------------------------- user's own code

_user_modules: dict[tuple[str, str | None], bool] = {}
_library_roots: list[tuple[str, ...]] = []


def _library_paths() -> tuple[str, ...]:
    if not _library_roots:
        paths = set()
        scheme = sysconfig.get_paths()
        for key in ("stdlib", "platstdlib", "purelib", "platlib"):
            if scheme.get(key):
                paths.add(scheme[key])
        for getter in ("getsitepackages", "getusersitepackages"):
            try:
                found = getattr(site, getter)()
            except (AttributeError, OSError):
                continue
            paths.update([found] if isinstance(found, str) else found)
        libraries = ("site-packages", "dist-packages")
        paths.update(p for p in sys.path if os.path.basename(p) in libraries)
        _library_roots.append(tuple(os.path.join(os.path.realpath(p), "") for p in paths))
    return _library_roots[0]


def _is_library_file(path: str) -> bool:
    return os.path.realpath(path).startswith(_library_paths())


def _is_user_module(name: object, own: str | None = None) -> bool:
    """True for the user's own modules: not stdlib, installed packages, builtins or flightlog.

    ``own`` names one more top-level package to count as the user's (see task_identity).
    """
    if not isinstance(name, str) or not name:
        return name is None or name == ""  # code made by exec() without a module: the user's
    if own is not None and name.partition(".")[0] == own:
        return True
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None)
    if file is None and module is not None:
        file = next(iter(getattr(module, "__path__", None) or ()), None)
    key = (name, file if isinstance(file, str) else None)
    known = _user_modules.get(key)
    if known is None:
        root = name.partition(".")[0]
        if root == "flightlog" or name in sys.builtin_module_names:
            known = False
        elif key[1] is None:
            known = module is None or root not in _STDLIB_NAMES
        else:
            known = not _is_library_file(key[1])
        _user_modules[key] = known
    return known


_STDLIB_NAMES: frozenset[str] = frozenset(getattr(sys, "stdlib_module_names", ())) - {"__main__"}


def _code_module(func: types.FunctionType) -> str | None:
    """The module a function's code was written in (``functools.wraps`` copies ``__module__``)."""
    name = func.__globals__.get("__name__")
    return name if isinstance(name, str) else None


def _is_user_function(obj: object, own: str | None = None) -> bool:
    return isinstance(obj, types.FunctionType) and _is_user_module(_code_module(obj), own)


def _unwrap(obj: Any, own: str | None = None) -> Any:
    """Follow ``__wrapped__`` from wrappers that are not the user's own functions."""
    for _ in range(100):
        if not callable(obj) or isinstance(obj, type) or _is_user_function(obj, own):
            break
        try:
            inner = obj.__wrapped__
        except Exception:
            break
        if inner is obj:
            break
        obj = inner
    return obj


# ----------------------------------------------------------------------------- values

_MISSING: Any = object()
_DATA_TYPES = (
    type(None), bool, int, float, complex, str, bytes, type(Ellipsis), Decimal,
    datetime, date, time, timedelta, uuid.UUID,
)  # fmt: skip


def _is_data(value: object, depth: int = 0) -> bool:
    """True for immutable plain data, which counts by value."""
    if type(value) in _DATA_TYPES or isinstance(value, (PurePath, enum.Enum)):
        return not isinstance(value, enum.Enum) or _is_data(value.value, depth + 1)
    if isinstance(value, (tuple, frozenset)) and depth < 50:
        return all(_is_data(item, depth + 1) for item in value)
    return False


def _data_text(value: object) -> str:
    """``repr`` of plain data, the same in every process (a frozenset's items sorted)."""
    if type(value) is frozenset:
        return (
            "frozenset({" + ", ".join(sorted(map(_data_text, value))) + "})"
            if value
            else "frozenset()"
        )
    if type(value) is tuple:
        items = [_data_text(item) for item in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    return repr(value)


def _data_digest(value: object) -> str:
    if isinstance(value, enum.Enum):  # the member's value counts as well as its name
        return value_digest((value, value.value))
    if isinstance(value, tuple) and any(isinstance(item, enum.Enum) for item in value):
        return value_digest(tuple(_data_digest(item) for item in value))
    return value_digest(value)


# ---------------------------------------------------------------------------- bytecode

_HASCONST = frozenset(dis.hasconst)
_FLAGS = (
    inspect.CO_VARARGS | inspect.CO_VARKEYWORDS | inspect.CO_GENERATOR | inspect.CO_COROUTINE
    | inspect.CO_ITERABLE_COROUTINE | inspect.CO_ASYNC_GENERATOR
)  # fmt: skip
_ATTRS = frozenset({"LOAD_ATTR", "LOAD_METHOD"})
_GLOBAL_LOADS = frozenset({"LOAD_GLOBAL", "LOAD_NAME", "LOAD_FROM_DICT_OR_GLOBALS"})
_LOCAL_LOADS = frozenset({"LOAD_FAST", "LOAD_DEREF", "LOAD_CLASSDEREF", "LOAD_FAST_CHECK"})
_LOCAL_STORES = frozenset({"STORE_FAST", "STORE_DEREF"})


_Use = tuple[str, str, tuple[str, ...]]  # ("global" | "import", start, attribute chain)
_CACHE_OP = dis.opmap.get("CACHE", -1)  # inline cache entries (3.11+), zeroed in co_code
_code_digests: weakref.WeakKeyDictionary[types.CodeType, str] = weakref.WeakKeyDictionary()
_code_uses: weakref.WeakKeyDictionary[types.CodeType, list[_Use]] = weakref.WeakKeyDictionary()


def _loaded_constants(code: types.CodeType) -> list[int]:
    """Indices of the constants that instructions load (so never a docstring)."""
    raw, extended, found = code.co_code, 0, set()
    for offset in range(0, len(raw), 2):
        op = raw[offset]
        if op == _CACHE_OP:
            continue
        arg = raw[offset + 1] | extended
        extended = arg << 8 if op == dis.EXTENDED_ARG else 0
        if op in _HASCONST:
            found.add(arg)
    return sorted(found)


def _code_digest(code: types.CodeType) -> str:
    """Digest of a code object: bytecode, names, loaded constants by value; no line numbers.

    ``co_code`` holds no line numbers, and comments and formatting do not change it.
    """
    digest = _code_digests.get(code)
    if digest is None:
        constants: list[object] = []
        for index in _loaded_constants(code):
            const = code.co_consts[index]
            if isinstance(const, types.CodeType):
                constants.append((index, "code", _code_digest(const)))
            else:  # literals only: their repr is as good as their value when not plain data
                constants.append((index, const if _is_data(const) else repr(const)))
        parts = (
            code.co_code, code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars,
            code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount,
            code.co_flags & _FLAGS, getattr(code, "co_exceptiontable", b""), tuple(constants),
        )  # fmt: skip
        digest = _code_digests[code] = value_digest(parts)
    return digest


def _uses(code: types.CodeType) -> list[_Use]:
    """What a code object loads by name (see :func:`_scan`), computed once per code object."""
    found = _code_uses.get(code)
    if found is None:
        found = _code_uses[code] = list(_scan(code))
    return found


def _scan(code: types.CodeType) -> Iterator[_Use]:
    """What a code object (and the code nested in it) loads by name.

    Yields ``("global", name, attributes)`` for ``name.attr.attr`` chains that start at a
    global, and ``("import", module, attributes)`` for modules imported inside the function
    (``import helpers`` then ``helpers.f(…)``, or ``from helpers import f``).
    """
    local_modules: dict[str, str] = {}
    chain: list[str] | None = None
    kind = "global"
    recent: deque[object] = deque([0, None], maxlen=2)  # level and fromlist of an import
    importing: list[str] | None = None  # the module path an import statement is at
    plain = False  # "import a.b [as c]": binds a module; "from a import b": binds attributes
    for ins in dis.get_instructions(code):
        op = ins.opname
        if chain is not None and op in _ATTRS:
            chain.append(str(ins.argval))
            continue
        if chain is not None:
            yield kind, chain[0], tuple(chain[1:])
            chain = None
        if op in _GLOBAL_LOADS:
            chain, kind = [str(ins.argval)], "global"
        elif op in _LOCAL_LOADS and ins.argval in local_modules:
            chain, kind = [local_modules[str(ins.argval)]], "import"
        elif op == "IMPORT_NAME":
            level, fromlist = recent
            plain = fromlist is None
            name = str(ins.argval)
            level_dots = "." * level if isinstance(level, int) else ""
            importing = [name.partition(".")[0]] if plain else [level_dots + name]
        elif op == "IMPORT_FROM" and importing is not None:
            if plain:
                importing.append(str(ins.argval))
            else:
                yield "import", importing[0], (str(ins.argval),)
        elif op in _LOCAL_STORES and importing is not None:
            if plain:
                local_modules[str(ins.argval)] = ".".join(importing)
                importing = None
        elif op not in ("SWAP", "POP_TOP"):
            importing = None
        recent.append(ins.argval)
        if isinstance(ins.argval, types.CodeType):
            yield from _scan(ins.argval)
    if chain is not None:
        yield kind, chain[0], tuple(chain[1:])


# ----------------------------------------------------------------------------- walking

_CLASS_SKIP = frozenset(
    {"__dict__", "__weakref__", "__doc__", "__module__", "__qualname__", "__firstlineno__",
     "__static_attributes__", "__annotate__", "__annotate_func__", "__slotnames__",
     "__pydantic_complete__"}
)  # fmt: skip


def _external_name(obj: Any) -> str:
    name = _plain_name(obj)
    return name if name is not None else class_path(type(obj))


class _Walker:
    """Collects the components a task depends on, breadth first from the task."""

    def __init__(self, own: str | None) -> None:
        self.own = own  # the task's own top-level package, when it is an installed one
        self.keys: dict[int, str] = {}  # id(followed object) -> its component key
        self.alive: list[object] = []  # keeps followed objects alive so their ids stay unique
        self.queue: deque[Any] = deque()
        self.components: dict[str, str] = {}
        self.constants: dict[str, str] = {}  # module-level name's key -> what counts, shortly
        self.assigned: dict[tuple[int, str], str] = {}  # (id(module globals), name) -> key
        self.sources: dict[int, module_source.ModuleNames | None] = {}  # id(globals) -> names

    def _key(self, base: str) -> str:
        key, number = base, 1
        while key in self.components:
            number += 1
            key = f"{base}#{number}"
        self.components[key] = ""  # reserved; filled in by run()
        return key

    def follow(self, obj: Any) -> str:
        """The component key of a function or class to hash, queued on first sight."""
        key = self.keys.get(id(obj))
        if key is None:
            key = self.keys[id(obj)] = self._key(_external_name(obj))
            self.alive.append(obj)
            self.queue.append(obj)
        return key

    def constant(self, base: str, value: object, namespace: dict[str, Any] | None) -> str:
        """The component key of module-level name ``base`` (in ``namespace``) holding data.

        By its value when the source assigns it literal constants, or when there is no
        source to read; otherwise by the source of its assignments (see the module's docs).
        """
        if namespace is not None:
            found = self._assignment(namespace, base.rpartition(".")[2], value)
            if found is not None:
                return self._assigned(*found)
        digest = _data_digest(value)
        key = base if self.components.get(base) == digest else self._key(base)
        self.components[key] = digest
        self.constants[key] = module_source.short(_data_text(value))
        return key

    def _assignment(
        self, namespace: dict[str, Any], name: str, value: object, *, literal: bool = False
    ) -> tuple[dict[str, Any], str, module_source.Assigned] | None:
        """Where the source assigns a name a computed value (or, with ``literal``, any
        value), through ``from … import``."""
        for _ in range(50):
            names = self.sources.get(id(namespace), _MISSING)
            if names is _MISSING:
                names = self.sources[id(namespace)] = module_source.names_of(namespace)
                self.alive.append(namespace)
            binding = names.binding(name) if isinstance(names, module_source.ModuleNames) else None
            if binding is None:
                return None
            if isinstance(binding, module_source.Assigned):
                return None if binding.literal and not literal else (namespace, name, binding)
            for written in binding.modules:  # the module the value was imported from
                module = self._imported_module(written, namespace)
                if module is not None and vars(module).get(binding.name, _MISSING) is value:
                    namespace, name = vars(module), binding.name
                    break
            else:
                return None
        return None

    def _imported_module(self, written: str, namespace: dict[str, Any]) -> Any:
        try:
            path = importlib.util.resolve_name(written, namespace.get("__package__") or "")
        except (ImportError, ValueError):
            return None
        module = sys.modules.get(path)
        return module if module is not None and _is_user_module(path, self.own) else None

    def _assigned(
        self, namespace: dict[str, Any], name: str, assigned: module_source.Assigned
    ) -> str:
        """The key of a name counted by its assignments' source and the names they read."""
        token = (id(namespace), name)
        key = self.assigned.get(token)
        if key is None:  # reserved first: an assignment may read its own name (X = X + 1)
            home = module_name(namespace.get("__name__"))
            key = self.assigned[token] = self._key(f"{home}.{name}")
            refs: dict[str, str] = {}
            for code in assigned.codes:
                self._references(_uses(code), namespace, refs)
            parts = ("assigned", assigned.statements, tuple(sorted(refs.items())))
            self.components[key] = value_digest(parts)
            self.constants[key] = assigned.text
        return key

    def run(self, root: Any) -> dict[str, str]:
        self.follow(root)
        while self.queue:
            obj = self.queue.popleft()
            digest = self._class(obj) if isinstance(obj, type) else self._function(obj)
            self.components[self.keys[id(obj)]] = digest
        return self.components

    def describe(
        self, obj: Any, where: str | None = None, namespace: dict[str, Any] | None = None
    ) -> str:
        """How a referenced object counts; ``where`` names a module-level name, and
        ``namespace`` is the globals of its module."""
        if isinstance(obj, types.ModuleType):
            return f"module {module_name(obj.__name__)}"
        if _is_data(obj):
            if where is not None:
                return f"constant {self.constant(where, obj, namespace)}"
            return f"value {_data_digest(obj)}"
        obj = _unwrap(obj, self.own)
        if _is_user_function(obj, self.own):
            return f"function {self.follow(obj)}"
        if isinstance(obj, type):
            if _is_user_module(getattr(obj, "__module__", None), self.own):
                return f"class {self.follow(obj)}"
            return f"external {class_path(obj)}"
        if isinstance(obj, types.MethodType):
            return f"method {self.describe(obj.__func__)} of {class_path(type(obj.__self__))}"
        if isinstance(obj, functools.partial):
            arguments = (obj.args, tuple(sorted(obj.keywords.items())))
            bound = value_digest(arguments) if _is_data(arguments) else "objects"
            return f"partial {self.describe(obj.func)} {bound}"
        if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType)):
            return f"external {_external_name(obj)}"
        kind = f"object {self.describe(type(obj))}"  # never by value: by its class (and code)
        if where is not None and namespace is not None:  # and a module-level one by its source
            found = self._assignment(namespace, where.rpartition(".")[2], obj, literal=True)
            if found is not None:
                return f"{kind} assigned {self._assigned(*found)}"
        return kind

    def _references(
        self, uses: list[_Use], namespace: dict[str, Any], refs: dict[str, str]
    ) -> None:
        """Describe into ``refs`` what ``uses`` (see :func:`_scan`) name in ``namespace``."""
        home = module_name(namespace.get("__name__"))
        for kind, start, attributes in uses:
            if kind == "global":
                if start in namespace:
                    obj, where, label = namespace[start], f"{home}.{start}", start
                elif hasattr(builtins, start):
                    refs[start] = f"builtin {start}"
                    continue
                else:
                    refs[start] = "missing"
                    continue
            else:
                obj, where, label = self._import(start, namespace), None, f"import {start}"
                if obj is None:
                    refs[label] = "missing"
                    continue
            refs[label] = self.describe(obj, where, namespace)
            for attribute in attributes:  # walk module.attribute chains into user modules
                if not isinstance(obj, types.ModuleType):
                    break
                if not _is_user_module(obj.__name__, self.own):
                    break
                label = f"{label}.{attribute}"
                where = f"{module_name(obj.__name__)}.{attribute}"
                scope = vars(obj)
                if hasattr(obj, attribute):
                    obj = getattr(obj, attribute)
                else:  # a submodule not imported yet ("import pkg.sub" inside the function)
                    obj = self._import(f"{obj.__name__}.{attribute}", {})
                    if obj is None:
                        refs[label] = "missing"
                        break
                refs[label] = self.describe(obj, where, scope)

    def _function(self, func: types.FunctionType) -> str:
        code = func.__code__
        refs: dict[str, str] = {}
        self._references(_uses(code), func.__globals__, refs)
        for name, cell in zip(code.co_freevars, func.__closure__ or (), strict=False):
            try:
                value = cell.cell_contents
            except ValueError:
                refs[f"closure {name}"] = "empty"
                continue
            refs[f"closure {name}"] = self.describe(value)
            if _is_data(value):  # named with its value when a change is explained
                key = f"{self.keys[id(func)]} (closure {name})"
                self.constants[key] = module_source.short(_data_text(value))
        for index, default in enumerate(func.__defaults__ or ()):
            refs[f"default {index}"] = self.describe(default)
        for name, default in sorted((func.__kwdefaults__ or {}).items()):
            refs[f"default {name}"] = self.describe(default)
        wrapped = getattr(func, "__wrapped__", None)
        if wrapped is not None:
            refs["wrapped"] = self.describe(wrapped)
        owner = _owner_class(func)
        if owner is not None:
            refs["owner"] = self.describe(owner)
        return value_digest(("function", _code_digest(code), tuple(sorted(refs.items()))))

    def _import(self, path: str, namespace: dict[str, Any]) -> Any:
        """A module imported inside a function; the user's own are imported if need be."""
        try:
            if path.startswith("."):
                path = importlib.util.resolve_name(path, namespace.get("__package__") or "")
            module = sys.modules.get(path)
            if module is None:  # the function has not run yet: import it as it would
                spec = importlib.util.find_spec(path.partition(".")[0])
                if spec is None:
                    return None
                places = [spec.origin] if spec.has_location else spec.submodule_search_locations
                if not places or any(_is_library_file(str(place)) for place in places):
                    return None
                module = importlib.import_module(path)
        except Exception:  # not importable: it counts as missing
            return None
        return module

    def _class(self, cls: type) -> str:
        refs: list[tuple[str, str]] = [
            ("bases", " ".join(self.describe(base) for base in cls.__bases__)),
            ("metaclass", self.describe(type(cls))),
        ]
        for name in sorted(cls.__dict__):
            if name in _CLASS_SKIP:
                continue
            value = cls.__dict__[name]
            if name == "__annotations__" and isinstance(value, dict):
                refs.append((name, repr(sorted(_annotation(v) for v in value.items()))))
            elif isinstance(value, (staticmethod, classmethod)):
                refs.append((name, f"{type(value).__name__} {self.describe(value.__func__)}"))
            elif isinstance(value, property):
                parts = (value.fget, value.fset, value.fdel)
                refs.append((name, "property " + " ".join(self.describe(p) for p in parts)))
            else:
                refs.append((name, self.describe(value)))
        return value_digest(("class", tuple(refs)))


def _annotation(item: tuple[str, Any]) -> tuple[str, str]:
    name, value = item
    if isinstance(value, str):
        return name, value
    if isinstance(value, type):
        return name, class_path(value)
    text = repr(value)
    if " at 0x" in text:  # an address differs from process to process
        return name, class_path(type(value))
    return name, text.replace("__main__.", f"{module_name('__main__')}.")


def _owner_class(func: types.FunctionType) -> type | None:
    """The class a method is defined in (``Class.method``), found through its module."""
    parts = func.__qualname__.split(".")
    if len(parts) < 2 or "<locals>" in parts:
        return None
    obj: Any = sys.modules.get(_code_module(func) or "")
    for part in parts[:-1]:
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) else None


# --------------------------------------------------------------------------- public API

_cache: dict[int, tuple[Callable[[], object], dict[tuple[str | None, str | None], Any]]] = {}


def _forget(key: int) -> Callable[[object], None]:
    def forget(_ref: object) -> None:
        _cache.pop(key, None)

    return forget


def task_identity(
    func: Callable[..., object], *, name: str | None = None, version: str | None = None
) -> TaskIdentity:
    """The identity of a task: its name and a digest of its code (see the module's docs).

    ``name`` replaces the qualified name; ``version`` replaces the code part. The result is
    computed once per function and process, then returned from a cache.
    """
    entry = _cache.get(id(func))
    if entry is not None and entry[0]() is func:
        found: TaskIdentity | None = entry[1].get((name, version))
        if found is not None:
            return found
    _check_callable(func, "task_identity")
    if name is not None and (not isinstance(name, str) or not name):
        raise InvalidInputError(f"a task name must be a non-empty string, not {name!r}")
    if version is not None and not isinstance(version, str):
        raise InvalidInputError(f"a task version must be a string, not {version!r}")
    # A partial is named after its function; what it binds counts below.
    target: Any = func.func if isinstance(func, functools.partial) else func
    task_name = qualified_name(target) if name is None else name
    if version is not None:
        identity = TaskIdentity(
            task_name, value_digest((_SCHEME, "version", task_name, version)), {}, version
        )
    else:
        root: Any = target.__func__ if isinstance(target, types.MethodType) else _unwrap(target)
        bound = _bound_values(func, root)
        if not isinstance(root, (types.FunctionType, type)) and _is_user_module(
            getattr(type(root), "__module__", None)
        ):
            root = type(root)  # a callable instance of the user's class: the class's code
        if isinstance(root, (types.FunctionType, type)):
            home = _code_module(root) if isinstance(root, types.FunctionType) else root.__module__
            # A task in an installed package (the user's own, installed without -e) counts
            # that package as the user's own code too.
            own = None if _is_user_module(home) else (home or "").partition(".")[0] or None
            walker = _Walker(None if own == "flightlog" else own)
            components, constants = walker.run(root), walker.constants
        else:  # built-in functions and other opaque callables: by name only
            components = {_external_name(root): value_digest(("callable", _external_name(root)))}
            constants = {}
        if bound:
            components[f"bound values of {task_name}"] = value_digest(tuple(bound))
        digest = value_digest((_SCHEME, _PYTHON, task_name, tuple(sorted(components.items()))))
        identity = TaskIdentity(task_name, digest, components, None, constants)
    if entry is None or entry[0]() is not func:
        try:
            ref: Callable[[], object] = weakref.ref(func, _forget(id(func)))
        except TypeError:  # not weakly referable: keep it alive instead
            ref = functools.partial(lambda obj: obj, func)
        entry = _cache[id(func)] = (ref, {})
    entry[1][(name, version)] = identity
    return identity


def _bound_values(func: Any, root: Any) -> list[tuple[str, str]]:
    """What a task object binds besides its code: a partial's arguments, a callable instance's
    attributes. Each counts like an argument, by its canonical digest, or by its class when it
    has none (a client, a lock)."""
    values: list[tuple[str, object]] = []
    if isinstance(func, functools.partial):
        values += [(f"argument {index}", value) for index, value in enumerate(func.args)]
        values += [(f"argument {key}", func.keywords[key]) for key in sorted(func.keywords)]
    if not isinstance(root, (types.FunctionType, types.BuiltinFunctionType, type)):
        state = dict(getattr(root, "__dict__", None) or {})
        for cls in type(root).__mro__:
            slots = cls.__dict__.get("__slots__", ())
            for slot in (slots,) if isinstance(slots, str) else slots:
                if slot not in ("__dict__", "__weakref__") and hasattr(root, slot):
                    state[slot] = getattr(root, slot)
        values += [(f"attribute {key}", state[key]) for key in sorted(state)]
    bound = []
    for label, value in values:
        try:
            bound.append((label, value_digest(value)))
        except Exception:  # no canonical form (or it failed): its class stands for it
            bound.append((label, f"object {class_path(type(value))}"))
    return bound


def callable_identity(value: object) -> tuple[str, str]:
    """Name and code digest of a callable given as an argument (used by the value hashing).

    The user's own functions and classes count by name and code (their task id); those of the
    standard library and installed packages by name only ("" as digest).
    """
    root = _unwrap(value.__func__ if isinstance(value, types.MethodType) else value)
    if _is_user_function(root) or (
        isinstance(root, type) and _is_user_module(getattr(root, "__module__", None))
    ):
        identity = task_identity(root)
        return identity.name, identity.task_id
    return qualified_name(value), ""  # type: ignore[arg-type]

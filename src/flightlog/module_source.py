"""How a module's source binds its module-level names (used by :mod:`flightlog.identity`).

A task that reads a module-level name counts that name by its value only when the source
binds it to literal constants (``SCALE = 3``); otherwise by the source of its assignments
(``PID = os.getpid()``), so that a value computed when the module loads does not change the
task's identity from one process to the next. This module reads and parses a module's
source, at most once per module object (again only when its file changes), and answers, per
name, how the source binds it: :class:`Assigned` (by ``=``, ``: T =`` or ``op=`` statements
at module level, also inside top-level ``if``/``try``/``with``/loop blocks), :class:`Imported`
(``from other import NAME``, or ``from other import *``), or ``None`` when the name is bound
otherwise (a ``for`` target, ``with … as``, a ``global`` statement in a function, …), not at
all, or when there is no source to read (code made by ``exec``, an interactive session, a
module without a file): the caller then counts the value, as for literals.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
import threading
import types
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Assigned", "Imported", "ModuleNames", "names_of", "read_source", "short"]

TEXT_LIMIT = 200  # the longest text kept to describe one name's binding or value


def short(text: str, limit: int = TEXT_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, the last one an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Assigned:
    """A name bound only by assignments at module level.

    ``statements`` is the normalised form of each assignment (its targets, operator and value
    as :func:`ast.dump` gives them: no comments, formatting or annotation), ``text`` a short
    human form (``"= os.getpid()"``), ``literal`` whether every value is a literal constant
    (:func:`ast.literal_eval` accepts it), and ``codes`` the compiled value expressions, whose
    loaded names count too (``FACTOR = SCALE * 2`` follows ``SCALE``).
    """

    statements: tuple[tuple[str, tuple[str, ...], str], ...]
    text: str
    literal: bool
    codes: tuple[types.CodeType, ...]


@dataclass(frozen=True, slots=True)
class Imported:
    """A name bound only by ``from module import name``: ``modules`` as written (relative
    ones with their leading dots), the latest import first, and the ``name`` there."""

    modules: tuple[str, ...]
    name: str


_Statement = ast.Assign | ast.AnnAssign | ast.AugAssign


class ModuleNames:
    """The module-level bindings found in one module's source."""

    def __init__(self, tree: ast.Module, filename: str) -> None:
        self.filename = filename
        self.assigned: dict[str, list[_Statement]] = {}
        self.imported: dict[str, list[tuple[str, str]]] = {}  # name -> [(module, name)]
        self.star: list[str] = []  # modules imported with "*", in order
        self.other: set[str] = set()  # names also bound in some other way
        self._answers: dict[str, Assigned | Imported | None] = {}
        self._visit(tree.body)
        for node in ast.walk(tree):  # "global NAME" in a function: bound at run time
            if isinstance(node, ast.Global):
                self.other.update(node.names)

    def binding(self, name: str) -> Assigned | Imported | None:
        """How the source binds ``name`` (see the module's docs); None: count its value."""
        if name not in self._answers:
            self._answers[name] = self._binding(name)
        return self._answers[name]

    def _binding(self, name: str) -> Assigned | Imported | None:
        statements = self.assigned.get(name)
        imports = self.imported.get(name)
        if name in self.other or (statements and imports):
            return None
        if statements:
            return self._assigned(name, statements)
        if imports:
            if len({module for module, _ in imports}) > 1 or len({n for _, n in imports}) > 1:
                return None
            return Imported((imports[0][0],), imports[0][1])
        if self.star:
            return Imported(tuple(reversed(self.star)), name)
        return None

    def _assigned(self, name: str, statements: list[_Statement]) -> Assigned | None:
        forms, texts, codes, literal = [], [], [], True
        for statement in statements:
            value = statement.value
            assert value is not None  # AnnAssign without a value is not collected
            if isinstance(statement, ast.Assign):
                targets, operator = statement.targets, "="
            else:
                targets = [statement.target]
                operator = "=" if isinstance(statement, ast.AnnAssign) else _augmented(statement)
            forms.append((operator, tuple(ast.dump(t) for t in targets), ast.dump(value)))
            texts.append(_text(name, targets, operator, value))
            literal = literal and _is_literal(value)
            try:
                codes.append(compile(ast.Expression(value), self.filename, "eval"))
            except (SyntaxError, ValueError, TypeError):
                return None
        return Assigned(tuple(forms), short("; ".join(texts)), literal, tuple(codes))

    # -- collecting ---------------------------------------------------------------------------

    def _visit(self, statements: Iterable[ast.stmt]) -> None:
        for statement in statements:
            if isinstance(statement, ast.Assign):
                for target in statement.targets:
                    for name in _target_names(target):
                        self.assigned.setdefault(name, []).append(statement)
                self.other.update(_stored_names(statement.value))
            elif isinstance(statement, (ast.AnnAssign, ast.AugAssign)):
                if isinstance(statement.target, ast.Name) and statement.value is not None:
                    self.assigned.setdefault(statement.target.id, []).append(statement)
                    self.other.update(_stored_names(statement.value))
            elif isinstance(statement, ast.ImportFrom):
                module = "." * statement.level + (statement.module or "")
                for alias in statement.names:
                    if alias.name == "*":
                        self.star.append(module)
                    else:
                        bound = alias.asname or alias.name
                        self.imported.setdefault(bound, []).append((module, alias.name))
            elif isinstance(statement, ast.Import):
                self.other.update(a.asname or a.name.partition(".")[0] for a in statement.names)
            elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.other.add(statement.name)
            else:  # blocks (if, try, with, for, while, match) and plain statements
                self._visit_block(statement)

    def _visit_block(self, statement: ast.stmt) -> None:
        for _, value in ast.iter_fields(statement):
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, ast.stmt):
                    self._visit([item])
                elif isinstance(item, ast.ExceptHandler):
                    if item.name:
                        self.other.add(item.name)
                    self._visit(item.body)
                elif isinstance(item, ast.match_case):
                    self.other.update(_stored_names(item.pattern))
                    self._visit(item.body)
                elif isinstance(item, ast.AST):  # headers: for targets, with ... as, walrus
                    self.other.update(_stored_names(item))


def _target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for item in target.elts for name in _target_names(item)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return []  # attributes and subscripts bind no name


def _stored_names(node: ast.AST) -> set[str]:
    """Names a header or an expression binds (targets, walrus, patterns); more is harmless."""
    found: set[str] = set()
    for item in ast.walk(node):
        if isinstance(item, ast.Name) and not isinstance(item.ctx, ast.Load):
            found.add(item.id)
        elif isinstance(item, (ast.MatchAs, ast.MatchStar)) and item.name:
            found.add(item.name)
        elif isinstance(item, ast.MatchMapping) and item.rest:
            found.add(item.rest)
    return found


def _augmented(statement: ast.AugAssign) -> str:
    text = ast.unparse(ast.AugAssign(ast.Name("_", ast.Store()), statement.op, ast.Constant(0)))
    return text.split()[1]  # "_ += 0" -> "+="


def _text(name: str, targets: list[ast.expr], operator: str, value: ast.expr) -> str:
    if len(targets) == 1 and isinstance(targets[0], ast.Name) and targets[0].id == name:
        return f"{operator} {ast.unparse(value)}"
    written = " = ".join(ast.unparse(target) for target in targets)
    return f"{written} {operator} {ast.unparse(value)}"


def _is_literal(value: ast.expr) -> bool:
    try:
        ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


# -------------------------------------------------------------------------------- reading

_parsed: weakref.WeakKeyDictionary[types.ModuleType, tuple[object, ModuleNames | None]] = (
    weakref.WeakKeyDictionary()
)


def read_source(namespace: dict[str, Any]) -> str | None:
    """The source text of the module whose globals are ``namespace``, or None without one."""
    loader = namespace.get("__loader__")
    spec = namespace.get("__spec__")
    get_source = getattr(loader, "get_source", None)
    if get_source is not None:
        try:
            text = get_source(getattr(spec, "name", None) or namespace.get("__name__"))
        except Exception:  # a loader that cannot give it (built-in, frozen, -c, …)
            text = None
        if isinstance(text, str):
            return text
    file = namespace.get("__file__")
    if isinstance(file, str) and file.endswith(".py"):
        try:
            with open(file, "rb") as source:
                return importlib.util.decode_source(source.read())
        except (OSError, UnicodeDecodeError, SyntaxError):
            return None
    return None


def _signature(namespace: dict[str, Any]) -> object:
    file = namespace.get("__file__")
    try:
        found = os.stat(file) if isinstance(file, str) else None
    except OSError:
        found = None
    return None if found is None else (file, found.st_mtime_ns, found.st_size)


# One parse at a time: CPython 3.11's parser can fail when threads parse at once ("SystemError:
# AST constructor recursion depth mismatch"), e.g. tasks first called from a pool of threads.
_PARSING = threading.Lock()


def _parse(namespace: dict[str, Any]) -> ModuleNames | None:
    text = read_source(namespace)
    if text is None:
        return None
    filename = namespace.get("__file__")
    try:
        with _PARSING:  # see _PARSING
            tree = ast.parse(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None  # the file changed since the module loaded, and is broken now
    return ModuleNames(tree, filename if isinstance(filename, str) else "<module>")


def names_of(namespace: dict[str, Any]) -> ModuleNames | None:
    """The parsed module-level bindings of the module whose globals are ``namespace``.

    Kept per module object (parsed again only if its file's size or time changed); a
    namespace that is no module's (``exec`` with a dict of its own) is parsed each time.
    """
    module = sys.modules.get(str(namespace.get("__name__")))
    if module is None or getattr(module, "__dict__", None) is not namespace:
        return _parse(namespace) if "__loader__" in namespace or "__file__" in namespace else None
    signature = _signature(namespace)
    entry = _parsed.get(module)
    if entry is not None and entry[0] == signature:
        return entry[1]
    names = _parse(namespace)
    try:
        _parsed[module] = (signature, names)
    except TypeError:  # a module type that cannot be weakly referenced
        pass
    return names

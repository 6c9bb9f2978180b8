"""Importing users' code to act on its records: resume a run, retry a resource collection.

Reading a record never imports anything; these actions must, since they run the code. Each
import says which module it imports, from where and why (an INFO record on the
``flightlog.imports`` logger, which the command line prints on stderr), and a module whose file
lies outside the working directory is refused unless the caller allows it
(``allow_import_outside=True``; ``--allow-import-outside`` on the command line): the record
names the module, so a store from elsewhere must not make this process run code from
elsewhere. The module's file is found without importing it or its packages.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import logging
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import ConfigurationError

LOGGER = logging.getLogger("flightlog.imports")

ALLOW_OUTSIDE = "--allow-import-outside (in Python: allow_import_outside=True)"


def locate_module(name: str) -> Path | None:
    """The file that importing ``name`` would run, or None when there is none to be found.

    A top-level name is found by ``importlib.util.find_spec`` (which imports nothing for it);
    a submodule in its package's folders, without importing the package (unless it is
    imported already).
    """
    parts = name.split(".")
    if not all(part.isidentifier() for part in parts):
        return None
    spec: Any = None
    for index in range(len(parts)):
        prefix = ".".join(parts[: index + 1])
        try:
            if _findable(prefix):
                spec = importlib.util.find_spec(prefix)
            else:
                folders = spec.submodule_search_locations
                spec = importlib.machinery.PathFinder.find_spec(prefix, list(folders or ()))
        except (ImportError, ValueError):  # a module without a spec, or not a package
            return None
        if spec is None:
            return None
    if not spec.has_location or not spec.origin:
        return None
    return Path(spec.origin)


def _findable(prefix: str) -> bool:
    """Whether ``find_spec(prefix)`` would import nothing: a top-level name, or one whose
    package is imported already."""
    package = prefix.rpartition(".")[0]
    return not package or package in sys.modules


def import_user_module(name: str, *, purpose: str, allow_outside: bool = False) -> ModuleType:
    """Module ``name``, imported ``purpose`` (e.g. "to resume run 'r'") unless it is imported
    already. Raises ModuleNotFoundError when there is no such module, ConfigurationError when
    its file is outside the working directory and ``allow_outside`` is false, and whatever the
    module raises while it is imported."""
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    path = locate_module(name)
    if path is None:
        raise ModuleNotFoundError(f"no module named {name!r} with a file", name=name)
    here = os.getcwd()
    if not allow_outside and not path.resolve().is_relative_to(Path(here).resolve()):
        raise ConfigurationError(
            f"refusing to import module {name!r} from {path}: it is outside the working "
            f"directory {here}; {purpose}, run from its folder or allow it: {ALLOW_OUTSIDE}"
        )
    LOGGER.info("importing module %r from %s %s", name, path, purpose)
    return importlib.import_module(name)

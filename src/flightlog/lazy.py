"""Names of a package that load their module when first used (PEP 562), so that ``import
flightlog`` stays light: each package's ``__getattr__`` hands its table to :func:`load`."""

from __future__ import annotations

import importlib
from typing import Any


def load(
    package: str, namespace: dict[str, Any], name: str, where: tuple[str, str] | str | None
) -> Any:
    """The attribute ``name`` of ``package``, from ``where``: a module relative to the package
    (holding an attribute of the same name), or a module and the attribute's name there; kept
    in the package's ``namespace`` so that it is looked up once. AttributeError when ``where``
    is None (the package has no such name)."""
    if where is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    module, attribute = (where, name) if isinstance(where, str) else where
    value = getattr(importlib.import_module(module, package), attribute)
    namespace[name] = value
    return value

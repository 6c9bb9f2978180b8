"""Questions over many runs (the query face at scale): runs by date, text, argument, metadata
and metric; counts by status; steps a page at a time; tables for pandas or polars; Parquet.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .frames import Frames
    from .runs import RunQuestions
    from .times import parse_time

_LAZY = {"Frames": ".frames", "RunQuestions": ".runs", "parse_time": ".times"}


def __getattr__(name: str) -> Any:  # loaded when first used (flightlog's import stays light)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = ["Frames", "RunQuestions", "parse_time"]

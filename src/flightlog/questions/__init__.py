"""Questions over many runs (the query face at scale): runs by date, text, argument, metadata
and metric; counts by status; steps a page at a time; tables for pandas or polars; Parquet.
"""

from typing import TYPE_CHECKING, Any

from ..lazy import load

if TYPE_CHECKING:
    from .frames import Frames
    from .runs import RunQuestions
    from .times import parse_time

_LAZY = {"Frames": ".frames", "RunQuestions": ".runs", "parse_time": ".times"}


def __getattr__(name: str) -> Any:  # loaded when first used (flightlog's import stays light)
    return load(__name__, globals(), name, _LAZY.get(name))


__all__ = ["Frames", "RunQuestions", "parse_time"]

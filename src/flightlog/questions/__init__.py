"""Questions over many runs (the query face at scale): runs by date, text, argument, metadata
and metric; counts by status; steps a page at a time; tables for pandas or polars; Parquet.
"""

from .frames import Frames
from .runs import RunQuestions
from .times import parse_time

__all__ = ["Frames", "RunQuestions", "parse_time"]

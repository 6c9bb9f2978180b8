"""Readable previews of stored values: JSON text, a table for a DataFrame, the shape of an
array. Decoding imports nothing (see ``Queries.decode``); a value of a class not imported
shows as its placeholder."""

from __future__ import annotations

import json
from typing import Any

from ..errors import FlightlogError
from ..query import NoOutputError, Queries

LIMIT = 20_000
ROWS = 20


def _table(value: Any) -> dict[str, Any]:
    head = value.head(ROWS)
    columns = [str(column) for column in head.columns]
    rows = [[str(cell) for cell in row] for row in head.itertuples(index=False, name=None)]
    return {
        "kind": "table",
        "summary": f"DataFrame, {value.shape[0]} rows, {value.shape[1]} columns",
        "columns": columns,
        "rows": rows,
    }


def preview(value: Any) -> dict[str, Any]:
    """``{"kind": "json"|"table"|"array"|"text", "summary", "text"...}`` for one value."""
    kind = type(value)
    module = kind.__module__.split(".")[0]
    if module == "pandas" and kind.__name__ == "DataFrame":
        return _table(value)
    if module == "numpy" and hasattr(value, "shape") and hasattr(value, "dtype"):
        text = str(value)
        return {
            "kind": "array",
            "summary": f"array of shape {tuple(value.shape)}, dtype {value.dtype}",
            "text": text[:LIMIT],
        }
    try:
        text = json.dumps(value, indent=2, ensure_ascii=False, default=repr)
        shown = "json"
    except (TypeError, ValueError):
        text, shown = repr(value), "text"
    summary = f"{kind.__name__}, {len(text)} characters"
    if len(text) > LIMIT:
        text = text[:LIMIT] + "\n…"
        summary += f" (first {LIMIT} shown)"
    return {"kind": shown, "summary": summary, "text": text}


def step_values(queries: Queries, run_id: str, name: str) -> dict[str, Any]:
    """Previews of the step's arguments and result (None for a step without a result)."""
    metadata = queries.get_metadata(run_id, name)
    found: dict[str, Any] = {"arguments": preview(metadata["arguments"]), "result": None}
    try:
        found["result"] = preview(queries.step_result(run_id, name))
    except NoOutputError:
        pass
    except FlightlogError as error:
        found["result"] = {"kind": "text", "summary": "unreadable", "text": str(error)}
    return found

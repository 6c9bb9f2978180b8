"""``fetch_many`` shows its progress in a notebook: a real IPython kernel (ipykernel, driven by
nbclient) runs the cells; the display it draws is updated in place to the end, from worker
threads too, and nothing is shown with ``progress=False``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(120)

CELLS = [
    """
import flightlog
fl = flightlog.open({url!r})

@fl.resource("tiles")
def tile(ident, args, ctx):
    return ident.upper()
""",
    'found = fl.fetch_many("tiles", ["a", "b", "<c>"])',
    'found = fl.fetch_many("tiles", [f"t{{n}}" for n in range(20)], workers=4)',
    'found = fl.fetch_many("tiles", ["x", "y"], progress=False)',
    "import sys; 'IPython' in sys.modules, 'ipywidgets' in sys.modules",
]


def run_notebook(url: str, monkeypatch: pytest.MonkeyPatch) -> list[list[dict[str, Any]]]:
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # jupyter_core's future paths, no warning
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(cell.format(url=url)) for cell in CELLS]
    NotebookClient(notebook, timeout=60, kernel_name="python3").execute()
    return [list(cell.outputs) for cell in notebook.cells]


def test_fetch_many_draws_an_updated_display_in_a_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = run_notebook(f"sqlite:///{tmp_path}/notebook.db", monkeypatch)
    assert outputs[0] == []
    (shown,) = outputs[1]
    assert shown["output_type"] == "display_data"
    page = shown["data"]["text/html"]
    # Drawn at 0/3 first, then updated in place: the notebook keeps the last state.
    assert '<progress value="3" max="3"></progress> 3/3' in page
    assert "<code>tiles</code>" in page
    assert shown["data"]["text/plain"].startswith("tiles 3/3 ")
    (threaded,) = outputs[2]  # updated from the pool's threads, in the cell that ran it
    assert '<progress value="20" max="20"></progress> 20/20' in threaded["data"]["text/html"]
    assert outputs[3] == []  # progress=False: nothing
    (answer,) = outputs[4]
    assert answer["data"]["text/plain"] == "(True, False)"

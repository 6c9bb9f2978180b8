"""``fetch_many``'s progress in a notebook: an HTML display updated in place (a ``<progress>``
bar, the counts, the time) when running under an IPython kernel, the front end that draws
displays. IPython is never imported here: it is used only when the process has imported it
already (a kernel has), and ipywidgets is not needed.

Outside a notebook ``fetch_many`` draws its text bar on a terminal (see
:mod:`flightlog.resources.bulk`); with ``progress=False`` nothing at all."""

from __future__ import annotations

import html
import importlib
import sys
import threading
import time
from typing import Any

REDRAW_EVERY = 0.1
"""Seconds between two updates of the display (the last state is always shown)."""


def notebook_display() -> Any | None:
    """IPython's ``display`` function when this process is an IPython kernel with a front end
    (a notebook, JupyterLab, VS Code), else None (plain Python, a terminal IPython)."""
    module = sys.modules.get("IPython")
    if module is None:
        return None
    shell = module.get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    display: Any = importlib.import_module("IPython.display").display  # loaded by a kernel
    return display


class _Shown:
    """What the display shows: HTML for the notebook, a text line for plain front ends."""

    def __init__(self, html_text: str, text: str) -> None:
        self.html_text = html_text
        self.text = text

    def _repr_html_(self) -> str:
        return self.html_text

    def __repr__(self) -> str:
        return self.text


class NotebookProgress:
    """``images <progress> 312/1000 (3 errors) 4.1s`` as one display, updated in place."""

    def __init__(self, label: str, total: int, display: Any) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.errors = 0
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._drawn = 0.0
        self._handle = display(self._shown(), display_id=True)

    def advance(self, failed: bool) -> None:
        with self._lock:
            self.done += 1
            self.errors += failed
            now = time.monotonic()
            if now - self._drawn >= REDRAW_EVERY or self.done == self.total:
                self._handle.update(self._shown())

    def _shown(self) -> _Shown:
        self._drawn = time.monotonic()
        seconds = self._drawn - self._started
        errors = f" ({self.errors} error{'s' * (self.errors != 1)})" if self.errors else ""
        counts = f"{self.done}/{self.total}{errors} {seconds:.1f}s"
        label = html.escape(self.label)
        page = (
            f'<div class="flightlog-progress"><code>{label}</code> '
            f'<progress value="{self.done}" max="{self.total}"></progress> '
            f"{html.escape(counts)}</div>"
        )
        return _Shown(page, f"{self.label} {counts}")

    def close(self) -> None:
        with self._lock:
            self._handle.update(self._shown())

"""The web UI: ``flightlog ui`` and ``fl.ui()`` (needs ``pip install 'flightlog[ui]'``).

Pages over the Python query API (runs, a run's timeline, steps, metrics, comparisons,
resources), live while runs record; read-only unless a token guards the server (see
:mod:`flightlog.web.security`). Everything it serves ships in this package.
"""

from .app import create_app
from .server import serve

__all__ = ["create_app", "serve"]

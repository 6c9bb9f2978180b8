"""Serving the UI with uvicorn: the bind checked first, the address said, the browser opened
on request."""

from __future__ import annotations

import sys
import threading
import webbrowser
from typing import TextIO

from ..client import Flightlog
from ..redaction import redact
from .security import check_bind


def address(host: str, port: int, token: str | None = None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + ("" if token is None else f"?token={token}")


def serve(
    fl: Flightlog,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    open_browser: bool = False,
    out: TextIO | None = None,
) -> None:
    """Serve the UI over ``fl`` until interrupted. A bind other than loopback needs a token
    (ConfigurationError otherwise, before anything listens)."""
    check_bind(host, token)
    if not isinstance(port, int) or not 0 <= port <= 65535:
        from ..errors import ConfigurationError

        raise ConfigurationError(f"port must be an integer from 0 to 65535, not {port!r}")
    import uvicorn

    from .app import create_app

    app = create_app(fl, token=token)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    url = address(host, port, token)
    stream = out or sys.stderr
    stream.write(f"flightlog ui: {redact(fl.url)} at {url} (Ctrl-C stops)\n")
    stream.flush()
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    server.run()

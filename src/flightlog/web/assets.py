"""The package's own script and style, served with a fingerprint: pages link
``/static/app.js?v=<digest of the files>``, and a request that names the current digest may
be kept by the browser for a year without asking again (a new version of the files has a new
digest, so a page never runs an old script). Without it, the usual revalidation (ETag,
Last-Modified) applies."""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).resolve().parent / "static"
FOREVER = "public, max-age=31536000, immutable"


def fingerprint(directory: Path = STATIC) -> str:
    """A digest of every file served (names and contents), short."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class Assets(StaticFiles):
    """Static files; those asked for with the current fingerprint are cached for good."""

    def __init__(self, directory: Path = STATIC) -> None:
        super().__init__(directory=directory)
        self.version = fingerprint(directory)

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        query = scope.get("query_string", b"").decode("latin-1")
        if response.status_code == 200 and f"v={self.version}" in query.split("&"):
            response.headers["cache-control"] = FOREVER
        return response

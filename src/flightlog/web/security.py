"""Safe by default: a loopback bind unless a token guards the server, the token checked on
every request (pages, data, the live updates, static files), requests for other host names
refused (a web page elsewhere cannot reach a loopback server through DNS rebinding), actions
only with the token and a CSRF token, and headers that keep pages from running anything but
the package's own script.

The token reaches the server as ``Authorization: Bearer TOKEN``, as the ``flightlog_token``
cookie, or once as ``?token=TOKEN`` in a link: the server then sets the cookie (HttpOnly,
SameSite=Strict) and redirects to the same address without it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from ..errors import ConfigurationError

COOKIE = "flightlog_token"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
        b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    # Not "no-referrer": with it a browser sends ``Origin: null`` on the pages' own form
    # POSTs, and the actions' origin check refuses them; "same-origin" still sends no
    # address (which may hold a ?token=) to other sites.
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _loopback_literal(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback address."""
    if _loopback_literal(host):
        return True
    try:
        found = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(found) and all(
        ipaddress.ip_address(str(item[4][0]).split("%")[0]).is_loopback for item in found
    )


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve on an address other machines can reach unless a token guards it."""
    if token is not None and (not isinstance(token, str) or len(token) < 8):
        raise ConfigurationError("the token must be a string of at least 8 characters")
    if token is None and not is_loopback(host):
        raise ConfigurationError(
            f"refusing to serve on {host!r} without a token: other machines could read every "
            "run; pass --token (token=...) or bind to 127.0.0.1"
        )


def csrf_token(token: str) -> str:
    """The value forms that act must send back (derived from the server's token)."""
    return hmac.new(token.encode(), b"flightlog-csrf", hashlib.sha256).hexdigest()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _host_name(host_header: str) -> str:
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class Guard:
    """ASGI middleware: the token and host checks, and the security headers."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    def presented(self, scope: Scope) -> tuple[str | None, bool]:
        """The token the request presents, and whether it came in the query string."""
        authorization = _header(scope, b"authorization") or ""
        if authorization.lower().startswith("bearer "):
            return authorization[7:].strip(), False
        cookie = SimpleCookie(_header(scope, b"cookie") or "")
        if COOKIE in cookie:
            return cookie[COOKIE].value, False
        for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1")):
            if key == "token":
                return value, True
        return None, False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.token is None:
            host = _host_name(_header(scope, b"host") or "")
            if not _loopback_literal(host):  # never resolved: a request names it
                await _plain(send, 421, f"this server answers on loopback names only, not {host}")
                return
        else:
            given, in_query = self.presented(scope)
            if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
                await _plain(send, 401, "a token is required: open the link with ?token=...")
                return
            if in_query and scope["method"] == "GET":
                await self._keep(scope, send)
                return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *HEADERS]
            await send(message)

        await self.app(scope, receive, secured)

    async def _keep(self, scope: Scope, send: Send) -> None:
        """Set the token cookie and redirect to the address without the token."""
        assert self.token is not None
        rest = [
            (key, value)
            for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"))
            if key != "token"
        ]
        location = scope.get("root_path", "") + scope["path"]
        if rest:
            location += "?" + urlencode(rest)
        cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", location.encode("latin-1")),
                    (b"set-cookie", cookie.encode("latin-1")),
                    *HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


async def _plain(send: Send, status: int, text: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), *HEADERS],
        }
    )
    await send({"type": "http.response.body", "body": text.encode()})

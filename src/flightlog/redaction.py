"""Passwords out of URLs, in any text that may show one: store URLs, error and log messages,
recorded git remotes, tracker URIs.

The redaction is textual, so it also covers URLs that no parser accepts (an unclosed ``[``,
a password holding ``@`` or ``/``, a URL inside a sentence or a quoted repr):

- ``scheme://user:PASSWORD@host`` becomes ``scheme://user:***@host``. The password runs to
  the first ``@`` on its line, or to the last ``@`` before the host's end when the password
  itself holds ``@``; ``scheme://host:5432/...`` (a port: digits, then the path) is left alone.
- ``http(s)://TOKEN@host`` (a user name alone, as tokens are given to git) becomes
  ``https://***@host``; other schemes keep their user name (``ssh://git@host``).
- ``password=...`` (a libpq parameter, in a URL's query or a ``key=value`` string) becomes
  ``password=***``.

It may hide more than a password in text that is no URL at all; it never needs a URL to parse.
"""

from __future__ import annotations

import re

MASK = "***"

# scheme://user followed by ":" (a password follows) or "@" (a user name alone).
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://([^\s/?#@:'\"<>]*)([:@])")
# What ends a host, after the userinfo's "@".
_HOST_END = re.compile(r"[\s/?#'\"<>]")
# A port, then the rest of the URL: the ":" belonged to host:port, not to a password.
_PORT = re.compile(r"\d*[/?#\s'\"<>]")
_PASSWORD_PARAMETER = re.compile(r"(?i)\b((?:ssl)?password=)[^\s&;'\"<>]+")
_TOKEN_SCHEMES = ("http", "https")


def redact(text: str) -> str:
    """``text`` with the password of every URL in it (and every ``password=`` parameter)
    replaced by ``***``; text without either is returned unchanged."""
    if "://" not in text and "password=" not in text.lower():
        return text
    pieces: list[str] = []
    position = 0
    while (found := _USERINFO.search(text, position)) is not None:
        scheme, user, separator = found.groups()
        start = found.end()  # just after ":" or "@"
        if separator == "@":  # a user name alone: a token for http(s), kept elsewhere
            if user and scheme.lower().endswith(_TOKEN_SCHEMES):
                pieces.append(f"{text[position : found.start()]}{scheme}://{MASK}@")
            else:
                pieces.append(text[position:start])
            position = start
            continue
        at = _password_end(text, start)
        if at is None:
            pieces.append(text[position:start])
            position = start
            continue
        pieces.append(f"{text[position : found.start()]}{scheme}://{user}:{MASK}@")
        position = at + 1
    pieces.append(text[position:])
    return _PASSWORD_PARAMETER.sub(rf"\1{MASK}", "".join(pieces))


def _password_end(text: str, start: int) -> int | None:
    """Where the ``@`` that ends a password starting at ``start`` is, or None when the ``:``
    at ``start - 1`` does not begin one (no ``@`` on the line, or a port comes first)."""
    line_end = text.find("\n", start)
    line = text[start : len(text) if line_end < 0 else line_end]
    at = line.find("@")
    if at < 0 or _PORT.match(line, 0, at):
        return None
    host_end = _HOST_END.search(line, at + 1)
    last = line.rfind("@", at, len(line) if host_end is None else host_end.start())
    return start + last

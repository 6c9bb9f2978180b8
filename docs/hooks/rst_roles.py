"""MkDocs hook: docstrings name code with reST roles (``:class:`Tracker```); mkdocstrings
renders the name as code but leaves the role's text in front of it. Drop that text."""

from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(r":(?:mod|class|func|meth|attr|exc|data|obj):(?=<code)")


def on_page_content(html: str, **_: Any) -> str:
    return ROLE.sub("", html)

"""The configuration page names every environment variable that flightlog reads, and every
option of each built-in store."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from flightlog.stores import FileStore, PostgresStore, SQLiteStore

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "reference" / "configuration.md"
# A name in capitals that the code reads from the environment, or a prefix of such names.
VARIABLE = re.compile(r"""["'`]((?:FLIGHTLOG|MLFLOW|NO|PG|TERM)_?[A-Z_]*)["'`]""")


def variables_in_the_code() -> set[str]:
    found = set()
    for path in (ROOT / "src" / "flightlog").rglob("*.py"):
        text = path.read_text()
        if "environ" not in text and "getenv" not in text:
            continue
        found |= {name.rstrip("_") for name in VARIABLE.findall(text) if len(name) > 3}
    return found


def test_every_environment_variable_is_on_the_page() -> None:
    page = PAGE.read_text()
    found = variables_in_the_code()
    assert "FLIGHTLOG_URL" in found and "FLIGHTLOG_DEBUG" in found  # the scan works
    missing = sorted(name for name in found if name not in page)
    assert not missing, f"docs/reference/configuration.md does not name {missing}"


def test_every_store_option_is_on_the_page() -> None:
    page = PAGE.read_text()
    for store in (SQLiteStore, PostgresStore, FileStore):
        for name, parameter in inspect.signature(store).parameters.items():
            if parameter.kind is parameter.KEYWORD_ONLY and name != "create":
                assert f"| `{name}`" in page, f"{store.__name__}'s option {name} is not documented"

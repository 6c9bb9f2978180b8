"""Finds the examples in the documentation (README.md and docs/) and says what each promises.

The rules for authors:

- every ```python block runs; a page's blocks run in order, in one namespace, in a fresh
  temporary directory, with ``FLIGHTLOG_URL`` unset;
- a ```text title="Output" block right after a python block is what that block prints;
- a ```console block runs its ``$ `` lines as shell commands in the same directory, and the lines
  after each command are what it prints; a command line ending in ``# fails`` must fail, and
  one ending in ``# fails: exit status N`` must fail with that status;
- in expected output, a line that is exactly ``...`` stands for any lines, and ``...`` within a
  line for any text;
- ``<!-- no-run: reason -->`` right before a block shows it without running it;
- ``<!-- sql -->`` right before a ```sql block runs it against ``./.flightlog/flightlog.db``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^(\s*)(`{3,})\s*([\w+-]*)(.*)$")
NO_RUN = re.compile(r"^<!--\s*no-run:\s*\S.*-->\s*$")
SQL = re.compile(r"^<!--\s*sql\s*-->\s*$")
FAILS = re.compile(r"#\s*fails(?::\s*exit status (\d+))?\s*$")


@dataclass
class Block:
    """One fenced block of a page: its language, where it starts, and what it says."""

    kind: str  # "python", "console", "sql" or "output"
    line: int  # 1-based line of the first line of its body
    text: str
    expected: str | None = None  # for python: the output block that follows it


@dataclass
class Page:
    path: Path
    blocks: list[Block] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.relative_to(ROOT).as_posix()


def pages() -> list[Path]:
    """README.md and every page of the site (not the notes that wait to be folded in)."""
    found = [ROOT / "README.md"]
    docs = ROOT / "docs"
    if docs.is_dir():
        found += sorted(p for p in docs.rglob("*.md") if "notes" not in p.relative_to(docs).parts)
    return found


def parse(path: Path) -> Page:
    """The runnable blocks of one page, in order, each python block with its promised output."""
    page = Page(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    previous = ""  # the last non-blank line before the current fence
    last_python: Block | None = None  # a python block that an output block may still follow
    i = 0
    while i < len(lines):
        found = FENCE.match(lines[i])
        if not found:
            if lines[i].strip():
                previous = lines[i].strip()
                last_python = None
            i += 1
            continue
        indent, ticks, lang, rest = found.groups()
        body: list[str] = []
        start = i + 2
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(ticks):
            line = lines[i]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            i += 1
        i += 1  # the closing fence
        text = "\n".join(body) + "\n"
        skipped = bool(NO_RUN.match(previous))
        if lang == "text" and 'title="Output"' in rest:
            if last_python is None:
                raise ValueError(f"{path}:{start - 1}: an Output block follows no python block")
            last_python.expected = text
            last_python = None
        elif lang == "python" and not skipped:
            last_python = Block("python", start, text)
            page.blocks.append(last_python)
        elif lang == "console" and not skipped:
            page.blocks.append(Block("console", start, text))
            last_python = None
        elif lang == "sql" and SQL.match(previous):
            page.blocks.append(Block("sql", start, text))
            last_python = None
        else:
            last_python = None
        previous = ticks
    return page


def failure(command: str) -> tuple[bool, int | None]:
    """Whether a console command must fail, and with which exit status if the page says."""
    found = FAILS.search(command)
    if found is None:
        return False, None
    return True, int(found.group(1)) if found.group(1) else None


def pattern(expected: str) -> re.Pattern[str]:
    """A regular expression for printed output, with ``...`` as the wildcard."""
    parts = []
    for line in expected.rstrip("\n").splitlines():
        line = line.rstrip()
        if line == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*".join(re.escape(piece) for piece in line.split("...")) + r"\n")
    return re.compile("".join(parts))


def matches(expected: str, printed: str) -> bool:
    printed = "".join(line.rstrip() + "\n" for line in printed.rstrip("\n").splitlines())
    return pattern(expected).fullmatch(printed) is not None

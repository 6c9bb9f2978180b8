"""Run the test suite on the oldest and the newest Python that flightlog supports.

The versions are those that pyproject.toml declares (its ``Programming Language :: Python ::
3.X`` classifiers). For each, this finds an interpreter (``python3.X`` on PATH, pyenv's
versions, /usr/local/bin, /usr/bin), makes a virtual environment ``.venv/pythons/3.X`` with the
development dependencies (again whenever pyproject.toml changes), and runs pytest in it with
ResourceWarnings as errors. A version without an interpreter is a failure that says where it
was looked for, never a skip.

    python tests/pythons.py [--all] [--list] [pytest arguments ...]

``--all`` runs every declared version, not only the oldest and the newest; ``--list`` prints
the interpreters found and exits. ``make test-pythons`` runs it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENVS = ROOT / ".venv" / "pythons"


def declared_versions() -> list[str]:
    """The Python versions pyproject.toml's classifiers declare, oldest first."""
    text = (ROOT / "pyproject.toml").read_text()
    found = set(re.findall(r'"Programming Language :: Python :: (3\.\d+)"', text))
    if not found:
        raise SystemExit("pyproject.toml declares no 'Programming Language :: Python :: 3.X'")
    return sorted(found, key=lambda version: tuple(map(int, version.split("."))))


def _pyenv_root() -> Path:
    return Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))


def candidates(version: str) -> list[Path]:
    """Where an interpreter of ``version`` may be, in order."""
    name = f"python{version}"
    places: list[Path] = []
    on_path = shutil.which(name)
    if on_path:
        places.append(Path(on_path))
    places.extend(sorted(_pyenv_root().glob(f"versions/{version}.*/bin/{name}"), reverse=True))
    places.extend(Path(folder) / name for folder in ("/usr/local/bin", "/usr/bin"))
    return places


def _reports(interpreter: Path, version: str) -> bool:
    """Whether ``interpreter`` runs and is ``version`` (a pyenv shim may only say it is not)."""
    try:
        done = subprocess.run(
            [str(interpreter), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except OSError:
        return False
    return done.returncode == 0 and done.stdout.strip() == version


def find_interpreter(version: str) -> Path | None:
    for place in candidates(version):
        if place.is_file() and _reports(place, version):
            return place
    return None


def _run(*command: str | Path) -> None:
    print("+", " ".join(str(part) for part in command), flush=True)
    subprocess.run([str(part) for part in command], cwd=ROOT, check=True)


def environment(version: str, interpreter: Path) -> Path:
    """The virtual environment for ``version`` with the dev dependencies; its python."""
    folder = VENVS / version
    python = folder / "bin" / "python"
    stamp = folder / ".installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted and python.exists():
        return python
    if not python.exists():
        _run(interpreter, "-m", "venv", folder)
    _run(python, "-m", "pip", "install", "-q", "-e", ".[dev]")
    _run(python, "-m", "pip", "install", "-q", "--no-deps", "-e", "tests/plugin_store")
    stamp.write_text(wanted)
    return python


def main(arguments: list[str]) -> int:
    versions = declared_versions()
    if "--all" in arguments:
        arguments.remove("--all")
    else:
        versions = sorted({versions[0], versions[-1]}, key=versions.index)
    found = {version: find_interpreter(version) for version in versions}
    if "--list" in arguments:
        for version, interpreter in found.items():
            print(f"{version}: {interpreter or 'not found'}")
        return 0
    missing = [version for version, interpreter in found.items() if interpreter is None]
    if missing:
        for version in missing:
            looked = ", ".join(str(place) for place in candidates(version)) or "nowhere"
            print(f"no Python {version} found (looked at: {looked})", file=sys.stderr)
        return 1
    outcomes: dict[str, int] = {}
    for version, interpreter in found.items():
        assert interpreter is not None
        print(f"== Python {version} ({interpreter})", flush=True)
        python = environment(version, interpreter)
        command = [str(python), "-m", "pytest", "-q", "-W", "error::ResourceWarning", *arguments]
        outcomes[version] = subprocess.run(command, cwd=ROOT).returncode
    for version, code in outcomes.items():
        print(f"Python {version}: {'passed' if code == 0 else f'failed ({code})'}")
    return max(outcomes.values())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

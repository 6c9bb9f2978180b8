"""What a run records about where it ran: code identity, host, user, versions."""

from __future__ import annotations

import getpass
import os
import platform
import socket
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from .._version import __version__
from ..redaction import redact


def _git(directory: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@lru_cache(maxsize=32)
def code_identity(directory: str) -> dict[str, Any]:
    """The git commit, dirty flag and remote URL of the work tree holding ``directory`` (any
    credentials in the remote URL redacted)."""
    where = Path(directory)
    commit = _git(where, "rev-parse", "HEAD")
    if commit is None:
        return {}
    status = _git(where, "status", "--porcelain", "--untracked-files=no")
    remote = _git(where, "config", "--get", "remote.origin.url")
    return {
        "git_commit": commit,
        "git_dirty": bool(status),
        "git_remote": None if remote is None else redact(remote),
    }


@lru_cache(maxsize=1)
def _machine() -> dict[str, Any]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return {
        "host": socket.gethostname(),
        "user": user,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "flightlog": __version__,
    }


def run_environment(source_file: str | None) -> dict[str, Any]:
    """Everything a run records about its surroundings."""
    environment = dict(_machine())
    environment["pid"] = os.getpid()
    environment["argv"] = list(sys.argv)
    directory = str(Path(source_file).parent) if source_file else os.getcwd()
    environment.update(code_identity(directory))
    return environment

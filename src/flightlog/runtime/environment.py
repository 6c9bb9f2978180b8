"""What a run records about where it ran: code identity, host, user, versions; its owner."""

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
from ..model import Owner


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
    """The git commit, dirty flag and remote URL of the work tree holding ``directory``."""
    where = Path(directory)
    commit = _git(where, "rev-parse", "HEAD")
    if commit is None:
        return {}
    status = _git(where, "status", "--porcelain", "--untracked-files=no")
    remote = _git(where, "config", "--get", "remote.origin.url")
    return {"git_commit": commit, "git_dirty": bool(status), "git_remote": remote}


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


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def process_start(pid: int) -> int | None:
    """The start time of a process in clock ticks since boot (Linux), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields follow the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[19])


def current_owner() -> Owner:
    pid = os.getpid()
    return Owner(
        host=socket.gethostname(), pid=pid, process_start=process_start(pid), boot_id=_boot_id()
    )


def owner_alive(owner: Owner) -> bool | None:
    """Whether the owning process still runs: True, False, or None when it cannot be told
    from here (another host): then the lease decides."""
    if owner.host != socket.gethostname():
        return None
    if owner.boot_id is not None and owner.boot_id != _boot_id():
        return False
    try:
        text = Path(f"/proc/{owner.pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        return _kill_check(owner.pid)
    fields = text[text.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return False
    return owner.process_start is None or int(fields[19]) == owner.process_start


def _kill_check(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

"""Who owns a run, and whether that owner is still alive.

A pid alone is no identity (pids are reused): an owner is the host, pid, the process's start
time (from ``/proc/<pid>/stat``) and the boot id. On another host only the lease can tell.
Where there is no ``/proc`` (macOS, the BSDs, Windows) the owner has neither start time nor boot
id: a pid that no process answers to is dead, and one that answers (``kill(pid, 0)``) may have
been reused, so its lease decides, as on another host. A RUNNING run whose owner is gone reads
as RESUMABLE; that is derived when the run is read, and so is its end: when its owner was last
seen alive (its last lease renewal).
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from ..model import Owner, Run, Status
from .state import LEASE_SECONDS

# Where the kernel shows its processes (Linux); missing elsewhere.
PROC = "/proc"


def _boot_id() -> str | None:
    try:
        return Path(f"{PROC}/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def process_start(pid: int) -> int | None:
    """The start time of a process in clock ticks since boot (Linux), or None."""
    try:
        text = Path(f"{PROC}/{pid}/stat").read_text()
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
    from here (another host; or no ``/proc`` and the pid answers): then the lease decides."""
    if owner.host != socket.gethostname():
        return None
    if owner.boot_id is not None and owner.boot_id != _boot_id():
        return False
    try:
        text = Path(f"{PROC}/{owner.pid}/stat").read_text()
    except OSError as error:
        if isinstance(error, FileNotFoundError) and os.path.exists(f"{PROC}/self/stat"):
            return False  # /proc shows processes, and not this one
        # No /proc here (or it cannot be read): a pid that answers may be a reused one.
        return None if _kill_check(owner.pid) else False
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


# Attempts of runs that this process gave up, as (run id, start time of the attempt): their
# end could not be recorded (the store did not answer), so they read RESUMABLE here at once; the
# monitor records them RESUMABLE once the store answers again.
GIVEN_UP: set[tuple[str, float | None]] = set()


def effective_status(run: Run, at: float | None = None) -> Status:
    """The stored status, except that a RUNNING run whose owner is gone (or gave it up)
    reads as RESUMABLE."""
    if run.status is not Status.RUNNING:
        return run.status
    if run.owner is not None:
        alive = owner_alive(run.owner)
        if alive is False or (run.run_id, run.start_time) in GIVEN_UP:
            return Status.RESUMABLE
        if alive is True:
            return Status.RUNNING
    if run.lease_expires is not None and run.lease_expires < (at or time.time()):
        return Status.RESUMABLE
    return Status.RUNNING


def last_seen(run: Run) -> float | None:
    """When the run's owner was last known alive: its last lease renewal, as recorded (or, by
    a store that does not record it, as its lease tells), and never before the run's start."""
    seen = run.last_seen
    if seen is None and run.lease_expires is not None:
        seen = run.lease_expires - LEASE_SECONDS
    start = run.start_time
    if start is not None and (seen is None or seen < start):
        seen = start
    return seen


def effective_end(run: Run, status: Status | None = None) -> float | None:
    """The end time of the run's latest attempt as readers see it: the recorded one, else
    for a run whose owner died (``status``, its effective status, is RESUMABLE) when its owner
    was last seen alive, so that its duration stops growing. None while it runs."""
    if run.end_time is not None:
        return run.end_time
    if (effective_status(run) if status is None else status) is Status.RESUMABLE:
        return last_seen(run)
    return None

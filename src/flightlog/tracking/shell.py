"""Shell steps: ``fl.shell("name", "command ...")`` runs a command as a step of the workflow.

The command runs in ``sh -c`` with the process's environment plus ``env``, in ``cwd``, with
no standard input. Its stdout and stderr are copied, line by line, to this process's
streams, so they are shown and stored as the step's log. A zero exit status succeeds; any
other fails the step (recorded FAILED with the status and the end of stderr) and raises
:class:`~flightlog.errors.ShellError` in the workflow. ``FLIGHTLOG_TRACK_...`` variables the
command exports (new or changed values) are recorded as the step's metrics: an ``EXIT`` trap
dumps the shell's final environment (a command that ``exec``\\ s another program, or sets its
own ``EXIT`` trap, exports none). The step's recorded arguments name the variables of ``env``
but not their values, which often hold secrets.
"""

from __future__ import annotations

import contextvars
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..errors import ConfigurationError, InvalidInputError, ShellError
from ..runtime.task import Task, TaskOptions
from .environ import EnvironmentMetrics
from .track import track

if TYPE_CHECKING:
    from ..runtime.recorder import Recorder

SHELL_VERSION = "1"
TAIL_LINES = 20
TAIL_CHARACTERS = 4000
_PYTHON_VARIABLE = "FLIGHTLOG_SHELL_PYTHON"
_DUMP_VARIABLE = "FLIGHTLOG_SHELL_ENV_FILE"
_TRAP = (
    'trap \'"$FLIGHTLOG_SHELL_PYTHON" -I -c "import json, os, sys; '
    'json.dump(dict(os.environ), open(sys.argv[1], \\"w\\"))" '
    '"$FLIGHTLOG_SHELL_ENV_FILE"\' EXIT\n'
)


def check_shell_call(name: Any, command: Any, env: Any, cwd: Any) -> None:
    """Refuse bad arguments before a step is recorded."""
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"a shell step's name must be a non-empty string, not {name!r}")
    if not isinstance(command, str) or not command.strip():
        raise InvalidInputError(f"shell step {name!r}: the command must be a non-empty string")
    if env is not None and (
        not isinstance(env, Mapping)
        or not all(isinstance(key, str) and isinstance(value, str) for key, value in env.items())
    ):
        raise InvalidInputError(
            f"shell step {name!r}: env must be a dict of strings to strings, not {env!r:.100}"
        )
    if cwd is not None and not isinstance(cwd, (str, os.PathLike)):
        raise InvalidInputError(f"shell step {name!r}: cwd must be a path, not {cwd!r}")


def _shell() -> str:
    found = "/bin/sh" if os.path.exists("/bin/sh") else shutil.which("sh")
    if found is None:
        raise ConfigurationError("shell steps need a POSIX shell ('sh'), and none was found")
    return found


def _pump(stream: IO[bytes], sink: str, tail: deque[str] | None) -> None:
    for line in iter(stream.readline, b""):
        text = line.decode(errors="replace")
        target = getattr(sys, sink)
        if target is not None:
            target.write(text)
            target.flush()
        if tail is not None:
            tail.append(text)
    stream.close()


def _tail(lines: deque[str]) -> str:
    text = "".join(lines)
    return text[-TAIL_CHARACTERS:]


class ShellCommand:
    """The function behind shell steps: runs one command, records what it exports."""

    def __init__(self, environment: EnvironmentMetrics) -> None:
        self.environment = environment

    def run(self, command: str, env: dict[str, str] | None = None, cwd: str | None = None) -> None:
        child = os.environ.copy()
        child.update(env or {})
        with tempfile.TemporaryDirectory(prefix="flightlog-shell-") as folder:
            dump = Path(folder) / "environment.json"
            child[_PYTHON_VARIABLE] = sys.executable
            child[_DUMP_VARIABLE] = str(dump)
            process = subprocess.Popen(
                [_shell(), "-c", _TRAP + command],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=child,
                cwd=None if cwd is None else os.fspath(cwd),
            )
            tail: deque[str] = deque(maxlen=TAIL_LINES)
            assert process.stdout is not None and process.stderr is not None
            pumps = [
                threading.Thread(
                    target=contextvars.copy_context().run,
                    args=(_pump, stream, sink, lines),
                    name=f"flightlog-shell-{sink}",
                    daemon=True,
                )
                for stream, sink, lines in (
                    (process.stdout, "stdout", None),
                    (process.stderr, "stderr", tail),
                )
            ]
            for pump in pumps:
                pump.start()
            try:
                returncode = process.wait()
            except BaseException:
                process.kill()
                process.wait()
                raise
            finally:
                for pump in pumps:
                    pump.join()
            exported = self._exported(child, dump)
        for name, step, value in exported:
            track(step=step, **{name: value})
        if returncode != 0:
            ending = (
                f"was ended by signal {-returncode}"
                if returncode < 0
                else f"exited with status {returncode}"
            )
            stderr = _tail(tail)
            detail = f"; the end of its stderr:\n{stderr}" if stderr else ""
            raise ShellError(f"command {command!r:.200} {ending}{detail}", returncode, stderr)

    def _exported(self, before: dict[str, str], dump: Path) -> list[tuple[str, int, Any]]:
        try:
            after = json.loads(dump.read_text())
        except (OSError, ValueError):
            return []
        if not isinstance(after, dict):
            return []
        return self.environment.exported(before, after)


class ShellTask(Task[None]):
    """The task of shell steps: its identity is fixed (``shell``, version 1), and it records
    the names of ``env``'s variables, not their values."""

    def _identify(self, bound: dict[str, Any]) -> tuple[str | None, str | None]:
        env = bound.get("env")
        shown = dict(bound)
        shown["env"] = sorted(env) if env else None
        shown["cwd"] = None if bound.get("cwd") is None else os.fspath(bound["cwd"])
        return super()._identify(shown)


def shell_task(recorder: Recorder, environment: EnvironmentMetrics) -> ShellTask:
    return ShellTask(
        recorder,
        ShellCommand(environment).run,
        TaskOptions(name="shell", version=SHELL_VERSION),
    )

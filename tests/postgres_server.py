"""A throwaway PostgreSQL server for the tests and the benchmarks.

:class:`PostgresServer` runs ``initdb`` in a new temporary directory, starts ``postgres`` on a
free loopback port (with a Unix socket in the same directory and ``fsync`` off: the data is
thrown away) and stops it again (``pg_ctl stop -m immediate``), also at interpreter exit.
PostgreSQL refuses to run as root: as root, the server runs as the system user ``postgres``
(or ``flightlog``, created with ``useradd`` when neither exists). A watchdog process stops
the server if the process that started it dies without doing so (killed, crashed).

Binaries are looked up on ``PATH`` (``$PG_BIN`` first), then under
``/usr/lib/postgresql/<version>/bin``. ``python tests/postgres_server.py install`` installs
Debian's ``postgresql`` package when they are missing (the Makefile's dev set-up runs it), and
``python tests/postgres_server.py run`` starts a server and prints its URL until interrupted.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SERVER_SETTINGS = {
    "fsync": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "listen_addresses": "127.0.0.1",
    "log_min_messages": "fatal",
    "log_min_error_statement": "panic",
}
TOOLS = ("initdb", "pg_ctl", "postgres")
SUPERUSER = "postgres"


class ServerError(RuntimeError):
    """The test server cannot be installed, set up or started; the message says why."""


def find_binaries() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres, or None."""
    candidates: list[Path] = []
    if os.environ.get("PG_BIN"):
        candidates.append(Path(os.environ["PG_BIN"]))
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).resolve().parent)
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(versions)
    for directory in candidates:
        if all((directory / tool).is_file() for tool in TOOLS):
            return directory
    return None


def install_binaries() -> Path:
    """Find the server binaries, installing Debian's ``postgresql`` package when missing."""
    found = find_binaries()
    if found is not None:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ServerError(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH nor under "
            "/usr/lib/postgresql/*/bin, and they cannot be installed from here (needs root and "
            "apt-get): install the 'postgresql' package or set PG_BIN to their directory"
        )
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "postgresql"]):
        done = subprocess.run(command, env=environment, capture_output=True, text=True)
        if done.returncode != 0:
            raise ServerError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    found = find_binaries()
    if found is None:
        raise ServerError("installed 'postgresql' but found no initdb under /usr/lib/postgresql")
    return found


def server_account(names: tuple[str, ...] = ("postgres", "flightlog")) -> tuple[int, int] | None:
    """(uid, gid) to run the server as when we are root: the first of ``names`` that exists,
    else the last one, created as a system user. None when we are not root (the server then
    runs as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in names:
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
    if shutil.which("useradd") is None:
        raise ServerError(f"running as root, no user {names}, and no useradd to create one")
    done = subprocess.run(
        ["useradd", "--system", "--user-group", "--no-create-home", names[-1]],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise ServerError(f"useradd {names[-1]} failed: {done.stderr.strip()}")
    entry = pwd.getpwnam(names[-1])
    return entry.pw_uid, entry.pw_gid


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """One PostgreSQL server in a temporary directory, on a free loopback port."""

    def __init__(self) -> None:
        self.binaries = install_binaries()
        self.account = server_account()
        # Under /tmp: the server's account must reach it (a private $TMPDIR may not be), and
        # the socket's path must stay short.
        base = "/tmp" if os.path.isdir("/tmp") else None
        self.directory = Path(tempfile.mkdtemp(prefix="flightlog-pg-", dir=base))
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self.port = 0
        self.running = False
        self._watchdog: subprocess.Popen[bytes] | None = None
        if self.account is not None:
            os.chown(self.directory, *self.account)
        atexit.register(self.stop)

    # -- running tools as the server's account ------------------------------------------------
    def _run(self, *arguments: str, timeout: float = 120) -> None:
        options: dict[str, Any] = {}
        if self.account is not None:
            options = {"user": self.account[0], "group": self.account[1], "extra_groups": []}
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
        try:
            done = subprocess.run(
                [str(self.binaries / arguments[0]), *arguments[1:]],
                cwd=self.directory,
                env=environment,
                capture_output=True,
                text=True,
                timeout=timeout,
                **options,
            )
        except subprocess.TimeoutExpired as error:
            raise ServerError(f"{arguments[0]} took longer than {timeout} s") from error
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise ServerError(
                f"{' '.join(arguments)} failed ({done.returncode}):\n{done.stdout}\n"
                f"{done.stderr}\n{log}"
            )

    def _options(self) -> str:
        settings = {
            **SERVER_SETTINGS,
            "port": str(self.port),
            "unix_socket_directories": str(self.directory),
        }
        return " ".join(f"-c {key}={value}" for key, value in settings.items())

    # -- life ------------------------------------------------------------------------------------
    def start(self) -> PostgresServer:
        if not self.data.exists():
            self._run(
                "initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
                "--no-locale", "--no-sync",
            )  # fmt: skip
        last: ServerError | None = None
        for _ in range(3):  # another process may take the free port before the server does
            self.port = free_port()
            try:
                self._start()
                break
            except ServerError as error:
                last = error
        else:
            assert last is not None
            raise last
        return self

    def _start(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", self._options(),
            "-w", "-t", "60", "start",
        )  # fmt: skip
        self.running = True
        if self._watchdog is None:
            # If this process dies without stopping the server (killed, crashed), the
            # watchdog stops it: no server outlives its tests.
            self._watchdog = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "watch", str(os.getpid()),
                 str(self.directory), str(self.binaries)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip

    def restart(self, mode: str = "fast") -> None:
        """Stop the server (dropping every connection) and start it again on the same port."""
        self.halt(mode)
        self._start()

    def halt(self, mode: str = "immediate") -> None:
        """Stop the server, dropping every connection, and keep its data: :meth:`start_again`
        starts it again on the same port (an outage)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        self.running = False

    def start_again(self) -> None:
        self._start()

    def stop(self) -> None:
        """Stop the server at once and remove its directory (idempotent)."""
        if self.running:
            self.running = False
            with contextlib.suppress(ServerError):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)
        if self._watchdog is not None:
            self._watchdog.terminate()
            self._watchdog.wait(10)
            self._watchdog = None

    def url(self, database: str = "postgres", **parameters: str) -> str:
        query = "&".join(f"{key}={value}" for key, value in parameters.items())
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}" + (
            f"?{query}" if query else ""
        )

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class Schemas:
    """Fresh, empty schemas in one database, one per test (``CREATE SCHEMA`` takes a tenth of a
    millisecond; a database from a template takes 40). The URL of each selects it through
    libpq's ``options=-csearch_path=...``, so every connection of every process uses it."""

    def __init__(self, base_url: str, *, drop_at_close: bool = False) -> None:
        import psycopg

        self.base_url = base_url
        self.admin = psycopg.connect(base_url, autocommit=True)
        self.prefix = f"t{os.getpid()}_"
        self.count = 0
        self.drop_at_close = drop_at_close

    def fresh(self) -> tuple[str, str]:
        """The name of a new, empty schema, and the URL of a store in it."""
        self.count += 1
        name = f"{self.prefix}{self.count}"
        self.admin.execute(f"CREATE SCHEMA {name}")
        separator = "&" if "?" in self.base_url else "?"
        return name, f"{self.base_url}{separator}options=-csearch_path%3D{name}"

    def fresh_url(self) -> str:
        return self.fresh()[1]

    def close(self) -> None:
        if self.drop_at_close:
            for number in range(1, self.count + 1):
                with contextlib.suppress(Exception):
                    self.admin.execute(f"DROP SCHEMA IF EXISTS {self.prefix}{number} CASCADE")
        self.admin.close()


def schemas_for_tests() -> tuple[Schemas, PostgresServer | None]:
    """Schemas for the tests: on ``$FLIGHTLOG_TEST_POSTGRES_URL`` when set (dropped again at
    the end), else on a server started here. Raises ServerError saying what went wrong."""
    external = os.environ.get("FLIGHTLOG_TEST_POSTGRES_URL")
    if external:
        return Schemas(external, drop_at_close=True), None
    server = PostgresServer().start()
    try:
        import psycopg

        with psycopg.connect(server.url(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE flightlog_tests")
        return Schemas(server.url("flightlog_tests")), server
    except BaseException:
        server.stop()
        raise


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return state not in ("Z", "X")


def watch(pid: int, directory: Path, binaries: Path) -> None:
    """Stop the server in ``directory`` once process ``pid`` is gone; return as soon as the
    directory is removed (the server was stopped the normal way)."""
    while directory.exists():
        if not _alive(pid):
            data = directory / "data"
            owner = data.stat()
            options: dict[str, Any] = {}
            if os.geteuid() == 0 and owner.st_uid != 0:
                options = {"user": owner.st_uid, "group": owner.st_gid, "extra_groups": []}
            subprocess.run(
                [str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                cwd=directory, capture_output=True, timeout=60, **options,
            )  # fmt: skip
            shutil.rmtree(directory, ignore_errors=True)
            return
        time.sleep(0.5)


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "install"
    if command == "install":
        binaries = install_binaries()
        account = server_account()
        who = "this user" if account is None else pwd.getpwuid(account[0]).pw_name
        print(f"PostgreSQL binaries in {binaries}; the test server runs as {who}")
    elif command == "run":
        with PostgresServer() as server:
            print(server.url(), flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
    elif command == "watch":
        watch(int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
    else:
        raise SystemExit("usage: python tests/postgres_server.py [install|run]")


if __name__ == "__main__":
    main()

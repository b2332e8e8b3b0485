"""Real PostgreSQL and Redis servers on loopback, in a folder of their own, for the tests,
the benchmarks and `./cabin fleet`.

Nothing here is a stand-in: Debian's `postgres` and `redis-server` binaries run as child
processes, bound to 127.0.0.1 on a free port, and are stopped (and their folders left for the
caller to remove) when the context ends. PostgreSQL refuses to run as root, so its folder
belongs to the unprivileged ``postgres`` user that Debian's package creates (STACK.md).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_CLIENT = PG_BIN
"""psql and pg_dump of the same version as the server (Debian puts them there too)."""
READY_TIMEOUT_S = 60.0
"""How long a server may take to answer: about a second here, far more on a loaded machine."""


class ServerError(RuntimeError):
    """A server could not be started; the message says why (and where its log is)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, process: subprocess.Popen[bytes] | None, log: Path, what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServerError(f"{what} exited with {process.returncode}: see {log}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.02)
    raise ServerError(f"{what} did not listen on port {port} in {READY_TIMEOUT_S:.0f} s: see {log}")


@dataclass(frozen=True, slots=True)
class PostgresServer:
    folder: Path
    port: int
    user: str = "postgres"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run `sql` with Debian's psql; its output (raises on an error)."""
        result = subprocess.run(
            [
                str(PG_CLIENT / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                self.dsn(database),
            ],
            input=sql.encode(),
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServerError(f"psql failed: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout.decode()

    def create_database(self, name: str) -> str:
        """A new empty database; its DSN."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def dump(self, database: str) -> bytes:
        """`pg_dump` of the database, plain SQL, as an operator would take it."""
        result = subprocess.run(
            [str(PG_CLIENT / "pg_dump"), "--no-owner", self.dsn(database)],
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServerError(f"pg_dump failed: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout


def _as_postgres() -> tuple[int, int]:
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ServerError("no `postgres` user: install Debian's postgresql package") from exc
    return entry.pw_uid, entry.pw_gid


def _pg_command(args: list[str]) -> list[str]:
    """Run a PostgreSQL tool as the `postgres` user when we are root (initdb refuses root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@contextlib.contextmanager
def postgres(*, port: int | None = None) -> Iterator[PostgresServer]:
    """A PostgreSQL 15 server, trusted on loopback only, its data in a new folder under the
    temporary directory (removed at the end). Not in a folder of the caller's: run as root, the
    server is the `postgres` user, who cannot enter a root's private folder (pytest's own)."""
    if not (PG_BIN / "initdb").exists():
        raise ServerError(f"{PG_BIN / 'initdb'} is missing: install Debian's postgresql package")
    folder = Path(tempfile.mkdtemp(prefix="cabin-postgres-"))
    try:
        with _postgres_in(folder, port or free_port()) as server:
            yield server
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _postgres_in(folder: Path, port: int) -> Iterator[PostgresServer]:
    data, sock, log = folder / "data", folder / "sock", folder / "postgres.log"
    folder.mkdir(parents=True, exist_ok=True)
    for path in (data, sock):
        path.mkdir(mode=0o700, exist_ok=True)
    log.touch()
    if os.geteuid() == 0:
        uid, gid = _as_postgres()
        for path in (folder, data, sock, log):
            os.chown(path, uid, gid)
        folder.chmod(0o700)
    if not (data / "PG_VERSION").exists():
        result = subprocess.run(
            _pg_command(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ]
            ),
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServerError(f"initdb failed: {result.stderr.decode(errors='replace').strip()}")
    options = f"-k {sock} -c listen_addresses=127.0.0.1 -p {port} -c fsync=off"
    start = subprocess.run(
        _pg_command(
            [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o", options, "start"]
        ),
        capture_output=True,
        check=False,
        timeout=READY_TIMEOUT_S + 30,
    )
    if start.returncode != 0:
        raise ServerError(
            f"PostgreSQL did not start ({start.stderr.decode(errors='replace').strip()}): see {log}"
        )
    try:
        _wait_port(port, None, log, "PostgreSQL")
        yield PostgresServer(folder=folder, port=port)
    finally:
        stop_postgres(data, mode="fast")


def stop_postgres(data: Path, *, mode: str = "fast") -> None:
    """Stop the server of `data` (``immediate``: as if it crashed)."""
    subprocess.run(
        _pg_command([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", mode, "-w", "stop"]),
        capture_output=True,
        check=False,
        timeout=READY_TIMEOUT_S + 30,
    )


def start_postgres_again(server: PostgresServer) -> None:
    """Start a stopped server of `postgres` again, on the same port."""
    data, sock, log = server.folder / "data", server.folder / "sock", server.folder / "postgres.log"
    options = f"-k {sock} -c listen_addresses=127.0.0.1 -p {server.port} -c fsync=off"
    subprocess.run(
        _pg_command(
            [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o", options, "start"]
        ),
        capture_output=True,
        check=True,
        timeout=READY_TIMEOUT_S + 30,
    )
    _wait_port(server.port, None, log, "PostgreSQL")


@dataclass(slots=True)
class RedisServer:
    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Stop the server (SIGKILL: as if it crashed); `start` brings it back on its port."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self.process = None

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        log = self.folder / "redis.log"
        redis_server = shutil.which("redis-server")
        if redis_server is None:
            raise ServerError("redis-server is missing: install Debian's redis-server package")
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    redis_server,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.folder),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        _wait_port(self.port, self.process, log, "redis-server")


@contextlib.contextmanager
def redis(folder: Path, *, port: int | None = None) -> Iterator[RedisServer]:
    """A Redis 7 server on 127.0.0.1, nothing saved to disk."""
    folder.mkdir(parents=True, exist_ok=True)
    server = RedisServer(folder=folder, port=port or free_port(), process=None)
    server.start()
    try:
        yield server
    finally:
        server.stop()

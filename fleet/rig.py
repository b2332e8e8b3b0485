"""A whole fleet on loopback, every part a real process: PostgreSQL, Redis, N hub replicas
(``python -m hub serve``) and HAProxy in front, with accounts made by the hub's own command line.

``with fleet(folder) as running:`` gives a `Fleet`: the proxy's https address (and the
certificate a client trusts), each replica's own address, the cabins' tokens and the accounts'
passwords, and what a test needs to break things (`Replica.kill`, `RedisServer.stop`,
`Fleet.stop_postgres`) and to see where things are (`Fleet.replica_of_cabin`). Everything is
stopped when the context ends, even after a failure; an error raised inside the context carries
the log of any replica that died on its own.

The replicas share: one PostgreSQL database (``[storage] backend = "postgresql"``), one ring of
data keys (a private file), one prescription signing key (the systemd credential
``hub-signing-key``, in a ``CREDENTIALS_DIRECTORY`` given to every replica as systemd would) and
one Redis (``[cluster] backend = "redis"``, a key prefix of their own).

The replicas and the command line run ``python -m hub`` from the current directory: run from
the repository (a worktree's own root), so that they run its code, as the tests do.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from redis import Redis

from fleet.proxy import Backend, Proxy, haproxy
from fleet.replicas import Replica
from fleet.servers import (
    READY_TIMEOUT_S,
    PostgresServer,
    RedisServer,
    ServerError,
    free_port,
    postgres,
    redis,
    start_postgres_again,
    stop_postgres,
)
from hub.prescriptions import SIGNING_KEY_CREDENTIAL
from hub.redis_cluster import LIVE_SCRIPT
from hub.sealing import new_ring_text
from hub.storage_credentials import write_private

DATABASE = "hub"
KEY_PREFIX = "fleet"
DOCTORS: Mapping[str, str] = {
    "dr.a": "password-of-doctor-a",
    "dr.b": "password-of-doctor-b",
}
AGENT = "agent.all"
AGENT_PASSWORD = "password-of-the-agent"  # noqa: S105 (a test fleet's)
CLI_TIMEOUT_S = 120.0
LOG_TAIL_CHARS = 6000
"""How much of a dead replica's log an error carries."""
_EXPECTED_EXITS = (0, -signal.SIGKILL, -signal.SIGTERM)
_STARTED = re.compile(r"hub\.cluster_started redis=\S+ replica=(\S+)")

DEFAULTS: Mapping[str, Any] = {
    "host": "127.0.0.1",
    "argon2_cost": "test",
    "trusted_proxies": ["127.0.0.1"],
    "cabin_offline_grace_s": 300,
}
"""Top-level settings of every replica; `fleet`'s ``config_extra`` overrides any of them."""


@dataclass(slots=True)
class Fleet:
    folder: Path
    postgres: PostgresServer
    redis: RedisServer
    replicas: list[Replica]
    proxy: Proxy
    dsn: str
    tokens: dict[str, str] = field(default_factory=dict)
    """cabin id -> its token (as `provision-cabin` printed it)."""
    passwords: dict[str, str] = field(default_factory=dict)
    """username -> password, doctors and the agent."""
    environment: dict[str, str] = field(default_factory=dict)
    """What every replica (and the command line) gets besides this process's environment."""
    cli_config: Path = field(default=Path())

    @property
    def url(self) -> str:
        """The proxy's ``https://127.0.0.1:<port>``: what cabins and browsers are given, and
        every replica's ``public_origin`` and ``public_url`` (a browser's Origin header says it,
        whichever replica it reaches; session cookies are Secure)."""
        return self.proxy.url

    @property
    def certificate(self) -> Path:
        """The proxy's self-signed certificate, which clients trust (`Fleet.client_context`)."""
        return self.proxy.tls.certificate

    @property
    def key_prefix(self) -> str:
        return KEY_PREFIX

    def client_context(self) -> Any:
        """An `ssl.SSLContext` trusting the proxy's certificate only."""
        return self.proxy.tls.client_context()

    # --- where things are ------------------------------------------------------------------

    def replica_id(self, replica: Replica) -> str | None:
        """The id the replica's current run gave itself in Redis (from its log)."""
        found = _STARTED.findall(replica.log())
        return found[-1] if found else None

    def replica_by_id(self, replica_id: str) -> Replica | None:
        for replica in self.replicas:
            if replica.running and self.replica_id(replica) == replica_id:
                return replica
        return None

    def holders(self, kind: str, who: str) -> list[Replica]:
        """The running replicas whose presence in Redis says they hold a socket of `who`
        (`kind`: ``cabin``, ``console`` or ``agent``)."""
        client = Redis.from_url(self.redis.url, socket_timeout=READY_TIMEOUT_S)
        try:
            members = client.eval(LIVE_SCRIPT, 1, f"{KEY_PREFIX}:held:{kind}:{who}")
        finally:
            client.close()
        ids = {_text(member) for member in members}
        return [replica for replica in self.replicas if self.replica_id(replica) in ids]

    def replica_of_cabin(self, cabin_id: str) -> Replica | None:
        """The running replica holding the cabin's socket (None if none does). A killed
        replica's word lingers in Redis until it expires: only running ones are named."""
        running = [replica for replica in self.holders("cabin", cabin_id) if replica.running]
        return running[0] if len(running) == 1 else None

    def wait_cabin_on(
        self, cabin_id: str, replica: Replica | None = None, timeout_s: float = READY_TIMEOUT_S
    ) -> Replica:
        """Wait until a running replica (`replica` if given) holds the cabin's socket."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check()
            holder = self.replica_of_cabin(cabin_id)
            if holder is not None and (replica is None or holder is replica):
                return holder
            time.sleep(0.05)
        raise ServerError(f"no replica holds cabin {cabin_id} after {timeout_s:.0f} s")

    # --- health ----------------------------------------------------------------------------

    def ready(self, replica: Replica) -> int | None:
        """The status of the replica's ``/readyz`` (None: no answer)."""
        try:
            with urllib.request.urlopen(replica.url + "/readyz", timeout=2) as answer:  # noqa: S310
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (OSError, urllib.error.URLError):
            return None

    def wait_ready(self, replica: Replica, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Wait until the replica answers ``/readyz`` with 200 (storage and Redis reachable)."""
        self.wait_readiness(replica, 200, timeout_s)

    def wait_readiness(
        self, replica: Replica, status: int, timeout_s: float = READY_TIMEOUT_S
    ) -> None:
        deadline = time.monotonic() + timeout_s
        seen: int | None = None
        while time.monotonic() < deadline:
            self.check()
            seen = self.ready(replica)
            if seen == status:
                return
            time.sleep(0.05)
        raise ServerError(
            f"{replica.name}: /readyz answered {seen}, not {status}, for {timeout_s:.0f} s"
        )

    def wait_proxy(self, wanted: Mapping[str, str], timeout_s: float = READY_TIMEOUT_S) -> None:
        """Wait until HAProxy's health checks put each named replica in the `wanted` state
        (``UP``, ``DOWN``)."""
        deadline = time.monotonic() + timeout_s
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            states = self.proxy.server_states()
            if all(states.get(name) == state for name, state in wanted.items()):
                return
            time.sleep(0.1)
        raise ServerError(f"the proxy's replicas stayed {states}, not {dict(wanted)}")

    def restart(self, replica: Replica) -> None:
        """Start a stopped or killed replica again, and wait until it is ready and the proxy
        sends it traffic again."""
        replica.start()
        self.wait_ready(replica)
        self.wait_proxy({replica.name: "UP"})

    def check(self) -> None:
        """`ServerError`, with its log, if a replica died by itself (not killed nor stopped)."""
        for replica in self.replicas:
            process = replica.process
            if process is None or process.poll() is None:
                continue
            if process.returncode not in _EXPECTED_EXITS:
                raise ServerError(
                    f"{replica.name} exited with {process.returncode}:\n{_tail(replica.log())}"
                )

    # --- the database ----------------------------------------------------------------------

    def psql(self, sql: str) -> str:
        """Run `sql` on the fleet's database (psql's unaligned output)."""
        return self.postgres.psql(sql, DATABASE)

    def stop_postgres(self) -> None:
        """PostgreSQL gone (an immediate stop, as a crash)."""
        stop_postgres(self.postgres.folder / "data", mode="immediate")

    def start_postgres(self) -> None:
        start_postgres_again(self.postgres)

    # --- the command line ------------------------------------------------------------------

    def cli(self, *args: str, stdin: str = "") -> str:
        """``python -m hub ARGS --config <the fleet's>``: its standard output (`ServerError`
        with its words if it fails)."""
        return _finish(self.cli_start(*args, stdin=stdin), args)

    def cli_start(self, *args: str, stdin: str = "") -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "hub", *args, "--config", str(self.cli_config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **self.environment},
        )
        assert process.stdin is not None
        process.stdin.write(stdin)
        process.stdin.close()
        process.stdin = None  # written whole: `communicate` must not touch it again
        return process


def _finish(process: subprocess.Popen[str], args: Sequence[str]) -> str:
    try:
        out, err = process.communicate(timeout=CLI_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    if process.returncode != 0:
        raise ServerError(f"python -m hub {' '.join(args[:1])} failed: {err.strip() or out}")
    return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _tail(text: str) -> str:
    return text[-LOG_TAIL_CHARS:]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise ServerError(f"cannot write {value!r} in TOML")


def render_toml(settings: Mapping[str, Any]) -> str:
    """Top-level keys first, then one table per mapping value (one level deep)."""
    lines = [
        f"{key} = {_toml_value(value)}"
        for key, value in settings.items()
        if not isinstance(value, Mapping)
    ]
    for name, table in settings.items():
        if isinstance(table, Mapping):
            lines.append(f"\n[{name}]")
            lines.extend(f"{key} = {_toml_value(value)}" for key, value in table.items())
    return "\n".join(lines) + "\n"


def _settings(
    dsn: str, redis_url: str, keys: Path, public: str, config_extra: str
) -> dict[str, Any]:
    try:
        extra = tomllib.loads(config_extra)
    except tomllib.TOMLDecodeError as exc:
        raise ServerError(f"config_extra is not TOML: {exc}") from exc
    settings: dict[str, Any] = {
        **DEFAULTS,
        "public_origin": public,
        "public_url": public,
        "storage": {"backend": "postgresql", "dsn": dsn, "data_keys_file": str(keys)},
        "cluster": {"backend": "redis", "redis_url": redis_url, "key_prefix": KEY_PREFIX},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(settings.get(key), dict):
            settings[key] = {**settings[key], **value}
        else:
            settings[key] = value
    return settings


def _write_signing_key(credentials: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private(credentials / SIGNING_KEY_CREDENTIAL, pem.decode("ascii"))
    credentials.chmod(0o700)


def _provision(running: Fleet, cabins: Sequence[str]) -> None:
    """The accounts, by the hub's command line, a few at a time."""
    started: list[tuple[tuple[str, ...], subprocess.Popen[str], str | None]] = []
    args: tuple[str, ...]
    for username, password in DOCTORS.items():
        args = (
            "create-doctor",
            username,
            "--name",
            f"Dr {username[3:].upper()}",
            "--specialty",
            "Médecine générale",
            "--rpps",
            "10101010101",
            "--password-stdin",
        )
        started.append((args, running.cli_start(*args, stdin=password + "\n"), None))
        running.passwords[username] = password
    args = ("create-agent", AGENT, "--name", "Mairie", "--all-cabins", "--password-stdin")
    started.append((args, running.cli_start(*args, stdin=AGENT_PASSWORD + "\n"), None))
    running.passwords[AGENT] = AGENT_PASSWORD
    for cabin_id in cabins:
        args = ("provision-cabin", cabin_id, "--name", f"Cabine {cabin_id}")
        started.append((args, running.cli_start(*args), cabin_id))
    for command, process, provisioned in started:
        out = _finish(process, command)
        if provisioned is not None:
            running.tokens[provisioned] = out.strip().splitlines()[0]


@contextlib.contextmanager
def fleet(
    folder: Path,
    *,
    replicas: int = 2,
    config_extra: str = "",
    cabins: Sequence[str] = ("cabin-1",),
) -> Iterator[Fleet]:
    """PostgreSQL, Redis, `replicas` hub replicas (``hub-1``, ``hub-2``...) and HAProxy, all
    ready (the proxy sees every replica UP), with doctors ``dr.a`` and ``dr.b``, the agent
    ``agent.all`` (every cabin) and the `cabins` provisioned. `config_extra`: TOML merged over
    each replica's configuration (``cabin_offline_grace_s = 3``, ``[cluster]`` keys...)."""
    if replicas < 1:
        raise ServerError("a fleet has at least one replica")
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(postgres())
        dsn = server.create_database(DATABASE)
        cache = stack.enter_context(redis(folder / "redis"))
        secrets = folder / "secrets"
        secrets.mkdir(mode=0o700, exist_ok=True)
        keys = secrets / "hub-data.keys"
        if not keys.exists():
            write_private(keys, new_ring_text())
        credentials = secrets / "credentials"
        credentials.mkdir(mode=0o700, exist_ok=True)
        if not (credentials / SIGNING_KEY_CREDENTIAL).exists():
            _write_signing_key(credentials)
        environment = {"CREDENTIALS_DIRECTORY": str(credentials)}
        proxy_port = free_port()
        public = f"https://127.0.0.1:{proxy_port}"
        config = render_toml(_settings(dsn, cache.url, keys, public, config_extra))
        members = [
            Replica(f"hub-{n}", folder / f"hub-{n}", config, environment=dict(environment))
            for n in range(1, replicas + 1)
        ]
        for member in members:
            stack.callback(member.kill)
        cli_folder = folder / "cli"
        cli_folder.mkdir(mode=0o700, exist_ok=True)
        cli_config = cli_folder / "hub.toml"
        cli_config.write_text(f'data_dir = "{cli_folder / "data"}"\n{config}', encoding="utf-8")
        # the first replica migrates the database; the others then start side by side
        members[0].start()
        for member in members[1:]:
            member.start()
        proxy = stack.enter_context(
            haproxy(
                folder / "proxy",
                [Backend(member.name, "127.0.0.1", member.port) for member in members],
                port=proxy_port,
            )
        )
        running = Fleet(
            folder=folder,
            postgres=server,
            redis=cache,
            replicas=members,
            proxy=proxy,
            dsn=dsn,
            environment=environment,
            cli_config=cli_config,
        )
        try:
            _provision(running, cabins)
            for member in members:
                running.wait_ready(member)
            running.wait_proxy({member.name: "UP" for member in members})
            yield running
            running.check()
        except BaseException as exc:
            for member in members:
                process = member.process
                if process is not None and process.poll() not in (None, *_EXPECTED_EXITS):
                    exc.add_note(
                        f"{member.name} died (exit {process.returncode}); its log:\n"
                        f"{_tail(member.log())}"
                    )
            raise

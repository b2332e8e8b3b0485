"""A real coturn (Debian's ``turnserver``) on 127.0.0.1 for the end-to-end tests.

`running_coturn` fills in ``deploy/coturn/turnserver.test.conf`` (a free UDP port, a small relay
port range, a random ``use-auth-secret`` secret, every file in a temporary folder: never
/var/lib/turn), starts coturn, waits until it answers a STUN binding request, and stops it at
the end whatever happened (SIGTERM, then SIGKILL if it does not exit in time). `Coturn.sessions`
reads what coturn logged of each TURN allocation: who, and how many bytes it relayed.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

TURNSERVER = "/usr/bin/turnserver"
TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "coturn" / "turnserver.test.conf"
HOST = "127.0.0.1"
RELAY_PORTS = 24
"""Relay ports given to coturn: a call takes 4 allocations (aiortc's balanced bundle: audio,
video, data; the browser: one)."""
READY_TIMEOUT_S = 60.0  # about 0.1 s idle: only a turnserver that cannot start waits this long
STOP_TIMEOUT_S = 5.0

_MAGIC_COOKIE = 0x2112A442
_BINDING_REQUEST = 0x0001
_BINDING_SUCCESS = 0x0101
_SESSION = re.compile(r"session (\d+): ")
_USER = re.compile(r"(?:username=<|user <)([^>]*)>")
_PEER = re.compile(r"peer ([0-9.]+)(?::\d+)? lifetime updated")
_USAGE = re.compile(r"session (\d+): (peer )?usage: .*?rp=(\d+), rb=(\d+), sp=(\d+), sb=(\d+)")


@dataclass
class TurnSession:
    """One TURN allocation as coturn logged it.

    ``client_*``: between the TURN client (cabin or browser) and coturn; ``peer_*``: what the
    relay exchanged with its peers (the far end of the call), i.e. media actually relayed. coturn
    logs usage every 4096 packets and when it deletes the allocation (not when it is killed),
    each line counting since the previous one: the sums are final once `closed`.
    """

    session_id: str
    username: str = ""
    allocated: bool = False
    client_bytes_received: int = 0
    client_bytes_sent: int = 0
    peer_bytes_received: int = 0
    peer_bytes_sent: int = 0
    peers: set[str] = field(default_factory=set)
    closed: bool = False
    """coturn deleted the allocation (and logged its last usage then)."""


@dataclass(frozen=True)
class Coturn:
    port: int
    min_port: int
    max_port: int
    secret: str
    folder: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"turn:{HOST}:{self.port}?transport=udp"

    @property
    def log_path(self) -> Path:
        return self.folder / "turnserver.log"

    def hub_turn(self, policy: str = "relay") -> dict[str, Any]:
        """The hub's ``[turn]`` table (hub/config.py) for this server."""
        return {"urls": [self.url], "secret": self.secret, "ice_transport_policy": policy}

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def sessions(self) -> dict[str, TurnSession]:
        """The TURN sessions in the log so far, by coturn's session id."""
        found: dict[str, TurnSession] = {}
        for line in self.log().splitlines():
            match = _SESSION.search(line)
            if match is None:
                continue
            session = found.setdefault(match.group(1), TurnSession(match.group(1)))
            user = _USER.search(line)
            if user is not None and user.group(1):
                session.username = user.group(1)
            if "ALLOCATE processed, success" in line:
                session.allocated = True
            if ": delete: " in line:
                session.closed = True
            peer = _PEER.search(line)
            if peer is not None:
                session.peers.add(peer.group(1))
            usage = _USAGE.search(line)
            if usage is not None:  # each usage line counts since the previous one
                _, is_peer, _rp, rb, _sp, sb = usage.groups()
                if is_peer:
                    session.peer_bytes_received += int(rb)
                    session.peer_bytes_sent += int(sb)
                else:
                    session.client_bytes_received += int(rb)
                    session.client_bytes_sent += int(sb)
        return found


@contextmanager
def running_coturn(folder: Path) -> Iterator[Coturn]:
    """coturn on 127.0.0.1, configured in and logging to ``folder``; stopped at the end."""
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_udp_port()
    min_port = _free_udp_range(RELAY_PORTS, avoid=port)
    max_port = min_port + RELAY_PORTS - 1
    secret = secrets.token_hex(32)
    conf = folder / "turnserver.conf"
    conf.write_text(
        Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
            port=port, min_port=min_port, max_port=max_port, secret=secret, folder=folder
        ),
        encoding="utf-8",
    )
    conf.chmod(0o600)
    output = (folder / "turnserver.out").open("wb")
    process = subprocess.Popen(
        [TURNSERVER, "-c", str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        cwd=folder,
        start_new_session=True,  # a Ctrl-C of the test run does not reach it first
    )
    server = Coturn(port, min_port, max_port, secret, folder, process)
    try:
        _wait_ready(server)
        yield server
    finally:
        _stop(process)
        output.close()


def stun_binding(port: int, timeout_s: float = 0.2) -> tuple[str, int] | None:
    """The mapped address a STUN server on 127.0.0.1:``port`` answers, or None if silent."""
    transaction = os.urandom(12)
    request = struct.pack("!HHI", _BINDING_REQUEST, 0, _MAGIC_COOKIE) + transaction
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout_s)
        sock.bind((HOST, 0))
        try:
            sock.sendto(request, (HOST, port))
            data = sock.recv(2048)
        except (TimeoutError, ConnectionRefusedError):
            return None
    kind, length, cookie = struct.unpack("!HHI", data[:8])
    if kind != _BINDING_SUCCESS or cookie != _MAGIC_COOKIE or data[8:20] != transaction:
        return None
    body = data[20 : 20 + length]
    while len(body) >= 4:
        attr, size = struct.unpack("!HH", body[:4])
        value = body[4 : 4 + size]
        if attr == 0x0020 and size >= 8:  # XOR-MAPPED-ADDRESS, IPv4
            xport = struct.unpack("!H", value[2:4])[0] ^ (_MAGIC_COOKIE >> 16)
            xaddr = struct.unpack("!I", value[4:8])[0] ^ _MAGIC_COOKIE
            return socket.inet_ntoa(struct.pack("!I", xaddr)), xport
        body = body[4 + (size + 3) // 4 * 4 :]
    return None


def _wait_ready(server: Coturn) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"turnserver exited with {server.process.returncode}:\n{_tail(server)}"
            )
        if stun_binding(server.port) is not None:
            return
        time.sleep(0.05)
    raise RuntimeError(
        f"turnserver did not answer STUN within {READY_TIMEOUT_S} s:\n{_tail(server)}"
    )


def _tail(server: Coturn) -> str:
    out = server.folder / "turnserver.out"
    text = server.log() + (out.read_text(errors="replace") if out.exists() else "")
    return "\n".join(text.splitlines()[-30:])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        with suppress(subprocess.TimeoutExpired):
            process.wait(STOP_TIMEOUT_S)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _free_udp_range(count: int, avoid: int) -> int:
    """The first port of ``count`` consecutive UDP ports free on 127.0.0.1 right now."""
    rng = secrets.SystemRandom()
    for _ in range(50):
        start = rng.randrange(20_000, 32_000 - count)  # below Linux's ephemeral range
        if start <= avoid < start + count:
            continue
        if all(_udp_free(port) for port in range(start, start + count)):
            return start
    raise RuntimeError("no free range of UDP ports for the TURN relay")


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True

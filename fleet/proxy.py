"""HAProxy on loopback in front of the hub's replicas: the deploy's own configuration, filled in.

`haproxy(...)` renders deploy/hub/haproxy.cfg (the file a real deploy uses, see its header for
the placeholders) with a loopback address, a self-signed certificate and the given replicas,
runs Debian's ``haproxy -db`` as a child process, and stops it when the context ends. The
proxy is ready when its TLS port accepts connections; `Proxy.server_states` reads what its
health checks decided, from its admin socket.

Run as root (as the tests are), HAProxy drops to Debian's ``haproxy`` user in its chroot as
the deploy does; run as anyone else, the three lines that need root (``chroot``, ``user``,
``group``) are left out.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from fleet.servers import READY_TIMEOUT_S, ServerError, free_port
from fleet.tls import TlsFiles, self_signed

TEMPLATE = Path(__file__).resolve().parents[1] / "deploy" / "hub" / "haproxy.cfg"
HAPROXY = "/usr/sbin/haproxy"
STOP_TIMEOUT_S = 10.0
_ROOT_ONLY = ("chroot ", "user ", "group ")
"""Directives of the template's ``global`` section that only root may carry out."""


@dataclass(frozen=True, slots=True)
class Backend:
    """One replica behind the proxy."""

    name: str
    host: str
    port: int

    def line(self) -> str:
        return f"    server {self.name} {self.host}:{self.port}"


def render_config(
    *,
    bind: str,
    certificate: Path,
    stats_socket: Path,
    backends: Sequence[Backend],
    template: str | None = None,
) -> str:
    """The template with its placeholders filled (`ServerError` if one is left or unknown)."""
    if not backends:
        raise ServerError("HAProxy needs at least one backend")
    text = TEMPLATE.read_text(encoding="utf-8") if template is None else template
    values = {
        "@BIND@": bind,
        "@CERTIFICATE@": str(certificate),
        "@STATS_SOCKET@": str(stats_socket),
        "@SERVERS@": "\n".join(backend.line() for backend in backends),
    }
    lines = []
    for raw in text.splitlines():
        line = raw
        if not line.lstrip().startswith("#"):  # the header's comments name the placeholders
            for placeholder, value in values.items():
                line = line.replace(placeholder, value)
            if "@" in line.partition("#")[0]:
                raise ServerError(f"a placeholder of the HAProxy template is not filled: {line}")
            if os.geteuid() != 0 and line.strip().startswith(_ROOT_ONLY):
                continue
        lines.append(line)
    rendered = "\n".join(lines) + "\n"
    for placeholder, value in values.items():
        if value.partition("\n")[0] not in rendered:
            raise ServerError(f"{placeholder} is missing from the HAProxy template")
    return rendered


def check_config(path: Path) -> None:
    """``haproxy -c``: `ServerError` with HAProxy's own words if it refuses the file."""
    result = subprocess.run(
        [HAPROXY, "-c", "-f", str(path)], capture_output=True, check=False, timeout=60
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).decode(errors="replace").strip()
        raise ServerError(f"haproxy -c refused {path}: {output}")


@dataclass(slots=True)
class Proxy:
    folder: Path
    port: int
    tls: TlsFiles
    config: Path
    stats_socket: Path
    process: subprocess.Popen[bytes] | None

    @property
    def url(self) -> str:
        """``https://127.0.0.1:<port>``."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"wss://127.0.0.1:{self.port}"

    def server_states(self) -> dict[str, str]:
        """Each replica's state as the health checks left it: ``UP``, ``DOWN``, ``UP 1/2``
        (one success on the way up), ``DOWN 1/2``..."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as admin:
            admin.settimeout(READY_TIMEOUT_S)
            admin.connect(str(self.stats_socket))
            admin.sendall(b"show stat\n")
            chunks = []
            while chunk := admin.recv(65536):
                chunks.append(chunk)
        text = b"".join(chunks).decode().lstrip("# ")
        return {
            row["svname"]: row["status"]
            for row in csv.DictReader(io.StringIO(text))
            if row.get("svname") not in (None, "FRONTEND", "BACKEND")
        }

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)


def _wait_tls_port(proxy: Proxy, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proxy.process is not None and proxy.process.poll() is not None:
            raise ServerError(f"haproxy exited with {proxy.process.returncode}: see {log}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", proxy.port), 0.5):
            return
        time.sleep(0.02)
    raise ServerError(f"haproxy did not listen on {proxy.port} in {READY_TIMEOUT_S:.0f} s: {log}")


@contextlib.contextmanager
def haproxy(
    folder: Path, backends: Sequence[Backend], *, port: int | None = None
) -> Iterator[Proxy]:
    """HAProxy on 127.0.0.1 (TLS, a new self-signed certificate in `folder`) in front of
    `backends`; its configuration and log (``haproxy.log``) are left in `folder`."""
    if shutil.which(HAPROXY) is None:
        raise ServerError(f"{HAPROXY} is missing: install Debian's haproxy package")
    folder.mkdir(parents=True, exist_ok=True)
    tls = self_signed(folder / "tls")
    # A short path of its own: a Unix socket's name is limited to 107 bytes.
    admin_dir = Path(tempfile.mkdtemp(prefix="haproxy-"))
    try:
        port = port or free_port()
        config = folder / "haproxy.cfg"
        stats_socket = admin_dir / "admin.sock"
        config.write_text(
            render_config(
                bind=f"127.0.0.1:{port}",
                certificate=tls.bundle,
                stats_socket=stats_socket,
                backends=backends,
            ),
            encoding="utf-8",
        )
        check_config(config)
        proxy = Proxy(folder, port, tls, config, stats_socket, None)
        log = folder / "haproxy.log"
        with log.open("ab") as out:
            proxy.process = subprocess.Popen(
                [HAPROXY, "-db", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT
            )
        try:
            _wait_tls_port(proxy, log)
            yield proxy
        finally:
            proxy.stop()
    finally:
        shutil.rmtree(admin_dir, ignore_errors=True)

"""Hub replicas as real processes (``python -m hub serve``), for the fleet's tests, its benchmark
and `./cabin fleet`: each with its own configuration file and data folder, sharing whatever the
configurations name (PostgreSQL, Redis), stopped with SIGTERM (a rolling restart) or killed with
SIGKILL (a server lost).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from fleet.servers import READY_TIMEOUT_S, ServerError, free_port


@dataclass(slots=True)
class Replica:
    """One hub process. `config` is the TOML text it runs with (its port and data folder are
    added by `start`)."""

    name: str
    folder: Path
    config: str
    port: int = field(default_factory=free_port)
    environment: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.folder / "hub.log"

    @property
    def config_path(self) -> Path:
        return self.folder / "hub.toml"

    def start(self) -> None:
        """Start the process (again, on the same port and folder) and wait until it is alive
        (`/healthz`)."""
        if self.running:
            return
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.config_path.write_text(
            f'port = {self.port}\ndata_dir = "{self.folder / "data"}"\n{self.config}',
            encoding="utf-8",
        )
        environment = {**os.environ, **self.environment, "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hub", "serve", "--config", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                start_new_session=True,
            )
        self.wait_alive()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_alive(self, path: str = "/healthz") -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ServerError(
                    f"hub {self.name} exited with {self.process.returncode}: see {self.log_path}"
                )
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(self.url + path, timeout=1) as answer,  # noqa: S310
            ):
                if answer.status == 200:
                    return
            time.sleep(0.05)
        raise ServerError(f"hub {self.name} did not answer {path}: see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL: the server is lost, nothing is cleaned up."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def terminate(self, timeout_s: float = 60.0) -> int | None:
        """SIGTERM, as systemd stops a unit: the hub drains its sockets and exits. Its exit
        status (None if it had to be killed after `timeout_s`)."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

"""The demo's hub, in a process of its own, as a real hub would be.

``python -m hub serve --demo`` seeds the demo doctors and the demo cabin's credential, then
serves on loopback; it prints one line ``hub: serving on <url>`` once it listens. The demo cabin
reads its credential from the file the hub wrote (mode 0600), as a real cabin reads its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from devices.cancellation import cancel_and_wait, within

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    display_name: str


# The demo doctors that `python -m hub serve --demo` creates (hub/demo.py).
DEMO_DOCTOR = DemoLogin("dr.martin", "demo-docteur-2468", "Dr Claire Martin")
SECOND_DOCTOR = DemoLogin("dr.durand", "demo-docteur-1357", "Dr Paul Durand")
# The demo's on-site agent (the town hall's desk), at the hub's /agent page.
DEMO_AGENT = DemoLogin("agent.mairie", "demo-agent-2468", "Accueil de la mairie")

READY = re.compile(rb"hub: serving on (?P<url>\S+)")
START_TIMEOUT_S = 20.0


class DemoHubError(RuntimeError):
    """The demo hub did not start."""


@dataclass
class DemoHub:
    url: str
    process: asyncio.subprocess.Process
    _drain: asyncio.Task[None]

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await within(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        await cancel_and_wait(self._drain)


async def start_demo_hub(
    data_dir: Path, cabin_token_file: Path, *, port: int = 8765, log_file: Path | None = None
) -> DemoHub:
    """Start ``python -m hub demo`` and wait until it listens; its log goes to ``log_file``."""
    command = [
        sys.executable,
        "-m",
        "hub",
        "serve",
        "--demo",
        "--data",
        str(data_dir),
        "--port",
        str(port),
        "--demo-token-file",
        str(cabin_token_file),
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    sink = log_file.open("ab") if log_file is not None else None
    url: str | None = None
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            while url is None:
                line = await process.stdout.readline()
                if not line:
                    break
                if sink is not None:
                    sink.write(line)
                match = READY.search(line)
                if match:
                    url = match["url"].decode()
    except TimeoutError:
        pass
    if url is None:
        process.kill()
        await process.wait()
        if sink is not None:
            sink.close()
        raise DemoHubError(
            "the demo hub did not start"
            + (f" (its log: {log_file})" if log_file is not None else "")
        )

    async def drain() -> None:
        assert process.stdout is not None
        try:
            while line := await process.stdout.readline():
                if sink is not None:
                    sink.write(line)
                    sink.flush()
        finally:
            if sink is not None:
                sink.close()

    log.info("demo_hub.ready url=%s", url)
    return DemoHub(url, process, asyncio.get_running_loop().create_task(drain()))

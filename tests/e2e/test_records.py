"""Consultation records reach the hub exactly once: through a hub that is down for several
consultations, and through a cabin killed with SIGKILL while it sends.

Real parts: the hub (aiohttp, SQLite) on a fixed loopback port, the cabin's core on a real
SQLCipher file with its websocket link and record sender, records built as FHIR bundles; in
the second test the cabin is a process of its own (``tests/e2e/record_cabin.py``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest

from devices.cancellation import within
from hub.accounts import provision_cabin
from hub.app import DATABASE_FILE, RunningHub, start_hub
from hub.config import load_hub_config
from tests.e2e.record_cabin import (
    CABIN_ID,
    cabin_core,
    pending,
    play_consultations,
)
from tests.e2e.rig import PATIENCE_S, until
from tests.hub.hub_key import TEST_KEY, connect

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(300)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def hub_on(data: Path, port: int) -> AsyncIterator[RunningHub]:
    config = load_hub_config(None, data_dir=data, overrides={"port": port, "argon2_cost": "test"})
    hub = await start_hub(config, key=TEST_KEY)
    try:
        yield hub
    finally:
        await hub.stop()


def hub_records(data: Path) -> list[tuple[str, str]]:
    """(record id, consultation id) of every record the hub stored, read from its database."""
    with connect(data / DATABASE_FILE) as db:
        rows = db.execute("SELECT record_id, consultation_id FROM records").fetchall()
    return [(str(a), str(b)) for a, b in rows]


def test_records_made_while_the_hub_is_down_arrive_once_when_it_is_back(tmp_path: Path) -> None:
    asyncio.run(hub_down_for_three_consultations(tmp_path))


def test_a_cabin_killed_while_sending_sends_every_record_once(tmp_path: Path) -> None:
    asyncio.run(cabin_killed_while_sending(tmp_path))


async def hub_down_for_three_consultations(tmp_path: Path) -> None:
    port, hub_data = free_port(), tmp_path / "hub"
    async with hub_on(hub_data, port) as hub:
        token = await provision_cabin(hub.storage, cabin_id=CABIN_ID, name="Cabine des records")
        url = hub.url
    core = await cabin_core(tmp_path / "cabin", url, token)
    try:
        assert core.records is not None
        # Three patients' consultations while the hub is down: each record waits in the outbox.
        made = await play_consultations(core, 3)
        assert await pending(core) == 3
        with failed_attempts() as attempts:  # the link keeps trying; nothing is lost meanwhile
            await until(lambda: attempts.count >= 1, "another attempt to reach the hub")
        assert await pending(core) == 3
        async with hub_on(hub_data, port):
            await until_async(lambda: pending(core), 0, "the records to be acknowledged")
            stored = hub_records(hub_data)
            assert sorted(c for _, c in stored) == sorted(made)
            assert len({r for r, _ in stored}) == 3
            # With the hub there, a record leaves as soon as its consultation ends.
            more = await play_consultations(core, 1, first=3)
            await until_async(lambda: pending(core), 0, "the fourth record")
            assert sorted(c for _, c in hub_records(hub_data)) == sorted(made + more)
        assert core.records.acknowledged == 4
    finally:
        await core.aclose()


class FailedAttempts(logging.Handler):
    """Counts the hub link's failed connection attempts: its log says each one."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("hub.connection_lost"):
            self.count += 1


@contextmanager
def failed_attempts() -> Iterator[FailedAttempts]:
    handler = FailedAttempts()
    logger = logging.getLogger("kiosk.hub_link")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


async def until_async(read: object, wanted: int, what: str, timeout_s: float = PATIENCE_S) -> None:
    async def check() -> bool:
        return bool(await read() == wanted)  # type: ignore[operator]

    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.05)


async def cabin_killed_while_sending(tmp_path: Path) -> None:
    port, hub_data, cabin_data = free_port(), tmp_path / "hub", tmp_path / "cabin"
    count = 40
    async with hub_on(hub_data, port) as hub:
        token = await provision_cabin(hub.storage, cabin_id=CABIN_ID, name="Cabine des records")
        url = hub.url
    spawned: list[asyncio.subprocess.Process] = []
    try:
        # The cabin files its records while the hub is down ...
        cabin = await spawn_cabin(cabin_data, url, token, make=count)
        spawned.append(cabin)
        assert cabin.stdout is not None
        line = await within(cabin.stdout.readline(), 2 * PATIENCE_S)
        assert line.decode().strip() == f"filed {count}"
        async with hub_on(hub_data, port):
            # ... then sends them when it is back, and is killed on the way.
            await until(lambda: len(hub_records(hub_data)) >= 1, "a first record")
            os.kill(cabin.pid, signal.SIGKILL)
            await cabin.wait()
            at_kill = len(hub_records(hub_data))
            assert at_kill < count, "the cabin had sent everything before it was killed"
            # Restarted, it sends what the hub had not acknowledged, and nothing twice.
            again = await spawn_cabin(cabin_data, url, token, make=0)
            spawned.append(again)
            assert again.stdout is not None
            filed = await within(again.stdout.readline(), PATIENCE_S)
            assert filed.decode().startswith("filed")
            sent = await within(again.stdout.readline(), PATIENCE_S)
            assert sent.decode().strip() == "sent"
            assert await within(again.wait(), PATIENCE_S) == 0
    finally:
        for process in spawned:  # a test that failed leaves no cabin running
            if process.returncode is None:
                process.kill()
                await process.wait()
    stored = hub_records(hub_data)
    assert len(stored) == count
    assert len({c for _, c in stored}) == count
    assert len({r for r, _ in stored}) == count


async def spawn_cabin(data: Path, url: str, token: str, *, make: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.e2e.record_cabin",
        "--data",
        str(data),
        "--hub",
        url,
        "--token",
        token,
        "--make",
        str(make),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )

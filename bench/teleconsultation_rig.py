"""A whole teleconsultation for the benchmarks: the hub in a process of its own, the cabin core
in this one, the doctor in Chromium (``simulators.doctor.BrowserDoctor``).

The hub runs as ``python -m hub serve --demo`` (the demo's doctors and cabin, a new cabin token
written to a file), so this process's CPU time is the cabin's alone, as on a real cabin whose hub
is elsewhere. The cabin core is the embedded defaults' (simulated instruments, synthetic camera,
``loopback_only``) pointed at that hub. Nothing leaves loopback: the hub binds 127.0.0.1, the
cabin gathers 127.0.0.1 candidates only, and Chromium runs with ``simulators.doctor``'s flags.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from playwright.async_api import async_playwright

from demo.root import start_core
from devices.cancellation import within
from hub.demo import DEMO_CABIN_ID, DEMO_DOCTORS
from kiosk.app import KioskCore
from kiosk.config import load_config
from kiosk.patient import PatientIdentity, Sex
from kiosk.session_states import EndReason, SessionState
from kiosk.store import DatabaseKey
from simulators.doctor import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, BrowserDoctor

DOCTOR = DEMO_DOCTORS[0]
PATIENT = PatientIdentity("QUELENNEC", "Yvonne", date(1938, 5, 2), Sex.FEMALE)
# simulators.doctor's flags let Chromium look up Google's hosts (accounts, update, clients2,
# optimizationguide) through the machine's DNS server: a packet off loopback. Here no name
# resolves; the hub is reached by its address.
NO_DNS = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"
HUB_START_TIMEOUT_S = 30.0
HUB_STOP_TIMEOUT_S = 10.0
_SERVING = "hub: serving on "


@dataclass(frozen=True, slots=True)
class HubProcess:
    url: str
    cabin_token: str
    pid: int


@contextlib.asynccontextmanager
async def hub_process(folder: Path) -> AsyncIterator[HubProcess]:
    """``python -m hub serve --demo`` on a free loopback port; stopped (SIGTERM) at the end.
    Its log goes to ``folder/hub.log``."""
    token_file = folder / "cabin.token"
    log_file = (folder / "hub.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub",
        "serve",
        "--data",
        str(folder / "data"),
        "--port",
        "0",
        "--demo",
        "--demo-token-file",
        str(token_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=log_file,
    )
    try:
        assert process.stdout is not None
        line = await within(process.stdout.readline(), HUB_START_TIMEOUT_S)
        text = line.decode().strip()
        if not text.startswith(_SERVING):
            raise RuntimeError(f"the hub did not start (see {folder / 'hub.log'}): {text!r}")
        token = (await asyncio.to_thread(token_file.read_text, encoding="utf-8")).strip()
        yield HubProcess(text.removeprefix(_SERVING), token, process.pid)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await within(process.wait(), HUB_STOP_TIMEOUT_S)
            except TimeoutError:
                process.kill()
                await process.wait()
        log_file.close()


@contextlib.asynccontextmanager
async def browser_doctor(
    hub_url: str, profile_dir: Path, extra_args: Sequence[str] = ()
) -> AsyncIterator[BrowserDoctor]:
    """``BrowserDoctor.launch`` with one more flag: ``NO_DNS``."""
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(profile_dir),
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_ARGS, NO_DNS, *extra_args],
            viewport={"width": 1440, "height": 900},
            locale="fr-FR",
        )
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            yield BrowserDoctor(page, hub_url)
        finally:
            await context.close()


async def start_cabin(data: Path, hub: HubProcess) -> KioskCore:
    """The cabin core on the embedded defaults, its hub link online."""
    config = load_config(None)
    config = msgspec.structs.replace(
        config,
        cabin=msgspec.structs.replace(config.cabin, id=DEMO_CABIN_ID),
        hub=msgspec.structs.replace(config.hub, url=hub.url),
    )
    assert config.call.loopback_only, "the benchmarks never send a packet off loopback"
    await asyncio.to_thread(write_token, data, hub.cabin_token)
    key = DatabaseKey.generate()
    core = await start_core(config, data, env={"CABIN_DB_KEY": key.hex()})
    assert core.hub is not None and core.teleconsultation is not None
    await core.hub.wait_online(10)
    return core


def write_token(data: Path, token: str) -> None:
    """The cabin's hub credential, where the configuration says (mode 0600)."""
    data.mkdir(parents=True, exist_ok=True)
    token_file = data / "hub.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)


def is_blank(frame: Any) -> bool:
    """A blank or frozen-black frame has a variance near 0 (as ``VideoProbe.blank``)."""
    return float(np.asarray(frame).astype(np.float32).var()) < 20.0


@dataclass
class RemoteVideo:
    """The cabin's remote-video sink: when the first non-blank frame of a call was shown."""

    first_shown_at: float | None = None
    frames: int = 0
    _checking: bool = field(default=True, repr=False)

    def new_call(self) -> None:
        self.first_shown_at = None
        self._checking = True

    def __call__(self, frame: Any) -> None:
        self.frames += 1
        if self._checking and not is_blank(frame):
            self.first_shown_at = time.monotonic()
            self._checking = False


async def to_waiting_room(core: KioskCore) -> str:
    """A new patient: welcome, identified, consent given, queued; the consultation id."""
    c = core.consultation
    await c.start("fr")
    await c.choose_identify()
    await c.identify(PATIENT)
    await c.consent(True)
    consultation_id = core.session.context.consultation_id
    assert consultation_id is not None
    core.session.advance(SessionState.WAITING_ROOM)
    return consultation_id


async def back_to_idle(core: KioskCore, timeout_s: float = 10.0) -> None:
    """After the doctor's hang-up: closing, survey, end of session, cleaning done, idle."""
    deadline = time.monotonic() + timeout_s
    while core.session.state is not SessionState.CLOSING:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the call did not end (session {core.session.state.value})")
        await asyncio.sleep(0.01)
    core.session.advance(SessionState.SURVEY)
    core.session.end(EndReason.COMPLETED)
    await core.consultation.cleaning_done("bench")
    assert core.teleconsultation is not None
    await core.teleconsultation.settled()
    await core.consultation.settled()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                parent = int(stat.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_of(pids: list[int]) -> dict[int, float]:
    """CPU seconds of each process still there (compare the same pids only: a process that
    ended meanwhile took its time with it)."""
    found = {}
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            found[pid] = cpu_seconds(pid)
    return found

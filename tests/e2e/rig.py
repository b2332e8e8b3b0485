"""A whole teleconsultation on one machine: the real hub, the real cabin core with its simulated
instruments and synthetic camera, and a doctor in Debian's Chromium (simulators/doctor.py).

Nothing leaves loopback: the hub listens on 127.0.0.1, the cabin gathers 127.0.0.1 candidates
only, and ``./cabin test`` runs the suite in a network namespace of its own where only ``lo``
exists (which is also what lets a test cut the network: ``ip link set lo down``).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from demo.root import start_core
from hub.accounts import create_doctor, provision_cabin
from hub.app import RunningHub, load_hub_config, start_hub
from hub.demo import demo_photo
from kiosk.app import KioskCore
from kiosk.config import load_config
from kiosk.events import CallLink, CallLinkChanged, MeasurementRequested
from kiosk.patient import PatientIdentity, Sex
from kiosk.session_states import SessionState
from kiosk.store import DatabaseKey
from simulators.doctor import BrowserDoctor
from tests.hub.hub_key import TEST_KEY

KEY = DatabaseKey.generate()
DOCTOR = ("dr.martin", "password-of-dr-martin")
PATIENT = PatientIdentity("QUELENNEC", "Yvonne", date(1938, 5, 2), Sex.FEMALE)
IN_OWN_NETNS = os.environ.get("CABIN_TEST_NETNS") == "1"
DEVICE_OF = {"blood_pressure": "bp-1", "temperature": "thermo-1", "pulse_oximetry": "oximeter-1"}


PATIENCE_S = 60.0
"""How long a test waits for what takes a few seconds at most on an idle machine: only a real
failure (or a hang) runs into it, never a loaded machine. Durations are measured in bench/."""


async def until(predicate: Callable[[], bool], what: str, timeout_s: float = PATIENCE_S) -> None:
    """Wait until ``predicate()`` holds; fail the test, saying what it waited for, after
    ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.02)


def set_loopback(up: bool) -> None:
    """Bring this network namespace's only interface up or down (a network cut)."""
    subprocess.run(["ip", "link", "set", "lo", "up" if up else "down"], check=True)


def shape_loopback(rate: str | None) -> None:
    """A token bucket on this namespace's lo (``None``: none), counting both directions together.
    Loopback's 64 KiB packets would never fit a small bucket: lo gets an Ethernet MTU while
    shaped, as a real link has."""
    subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], check=False, capture_output=True)
    mtu = "1500" if rate is not None else "65536"
    subprocess.run(["ip", "link", "set", "lo", "mtu", mtu], check=True)
    if rate is not None:
        bucket = ["tbf", "rate", rate, "burst", "32kbit", "latency", "400ms"]
        subprocess.run(["tc", "qdisc", "add", "dev", "lo", "root", *bucket], check=True)


@dataclass
class CabinSide:
    """The cabin core, and what the test sees of it: frames shown, link states, readings."""

    core: KioskCore
    frames: list[Any] = field(default_factory=list)
    links: list[tuple[float, CallLink]] = field(default_factory=list)
    first_frame_at: float | None = None
    frames_shown: int = 0
    patient_task: asyncio.Task[None] | None = None

    def on_frame(self, frame: Any) -> None:
        if self.first_frame_at is None and not is_blank(frame):
            self.first_frame_at = time.monotonic()
        self.frames_shown += 1
        self.frames.append(frame)
        del self.frames[:-3]  # keep the last few only

    def on_link(self, event: CallLinkChanged) -> None:
        self.links.append((time.monotonic(), event.link))

    @property
    def link(self) -> CallLink | None:
        return self.links[-1][1] if self.links else None

    async def to_waiting_room(self) -> str:
        c = self.core.consultation
        await c.start("fr")
        await c.choose_identify()
        await c.identify(PATIENT)
        await c.consent(True)
        consultation_id = self.core.session.context.consultation_id
        assert consultation_id is not None
        self.core.session.advance(SessionState.WAITING_ROOM)
        return consultation_id

    def measure_when_asked(self) -> None:
        """Act as the patient who presses Start when the doctor asks for a measurement."""

        def asked(event: MeasurementRequested) -> None:
            device = DEVICE_OF[event.kind.value]

            async def measure() -> None:
                async for _update in self.core.measurements.measure(device, timeout_s=60):
                    pass

            self.patient_task = asyncio.get_running_loop().create_task(measure())

        self.core.bus.subscribe(MeasurementRequested, asked)


def is_blank(frame: Any) -> bool:
    array = np.asarray(frame)
    return float(array.astype(np.float32).var()) < 20.0


@dataclass
class Consultation:
    hub: RunningHub
    cabin: CabinSide
    doctor: BrowserDoctor


@asynccontextmanager
async def teleconsultation(
    tmp_path: Path, *, hub_overrides: dict[str, Any] | None = None
) -> AsyncIterator[Consultation]:
    """Hub, cabin and the doctor's browser, logged in; all stopped at the end."""
    config = load_hub_config(
        None,
        data_dir=tmp_path / "hub",
        overrides={"port": 0, "argon2_cost": "test", **(hub_overrides or {})},
    )
    hub = await start_hub(config, key=TEST_KEY)
    try:
        await create_doctor(
            hub.storage,
            username=DOCTOR[0],
            password=DOCTOR[1],
            display_name="Dr Claire Martin",
            specialty="Médecine générale",
            registration_number="10101010101",
            photo=demo_photo("doctor.png"),
            argon2_cost="test",
        )
        token = await provision_cabin(hub.storage, cabin_id="cabin-e2e", name="Cabine E2E")
        core = await cabin_core(tmp_path / "cabin", hub.url, token)
        cabin = CabinSide(core)
        assert core.teleconsultation is not None
        core.teleconsultation.video.remote = cabin.on_frame
        core.bus.subscribe(CallLinkChanged, cabin.on_link)
        try:
            async with BrowserDoctor.launch(
                hub.url, tmp_path / "chromium", tmp_path / "screens"
            ) as doctor:
                await doctor.login(*DOCTOR)
                yield Consultation(hub, cabin, doctor)
        finally:
            await core.aclose()
    finally:
        await hub.stop()


async def cabin_core(data: Path, hub_url: str, token: str) -> KioskCore:
    config = load_config(None)
    config = msgspec.structs.replace(
        config,
        cabin=msgspec.structs.replace(config.cabin, id="cabin-e2e"),
        hub=msgspec.structs.replace(config.hub, url=hub_url),
    )
    write_token(data, token)
    core = await start_core(config, data, env={"CABIN_DB_KEY": KEY.hex()})
    assert core.hub is not None
    await core.hub.wait_online(PATIENCE_S)
    return core


def write_token(data: Path, token: str) -> None:
    """The cabin's hub credential, where the configuration says (mode 0600)."""
    data.mkdir(parents=True, exist_ok=True)
    token_file = data / "hub.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)

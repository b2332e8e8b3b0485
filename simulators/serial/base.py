"""What every simulated serial instrument shares: its pty, its patient, its faults, its clock.

A subclass speaks one protocol: it answers the host's bytes (``_on_host_bytes``) and, in
``_run``, sends what the device would send when it would send it. Faults are applied on the way
out (``_send``), so every protocol meets garbage, cut frames and silence the same way.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import random
from pathlib import Path

from devices.cancellation import cancel_and_wait
from simulators.faults import Fault
from simulators.scenarios import Body, Scenario
from simulators.serial.pty_device import PtyDevice

log = logging.getLogger(__name__)


class SerialSimulator(abc.ABC):
    baudrate: int
    name: str

    def __init__(
        self,
        link_path: Path,
        *,
        scenario: Scenario = Scenario.NORMAL,
        faults: frozenset[Fault] = frozenset(),
        time_scale: float = 1.0,
        fault_rate: float = 0.3,
        seed: int | None = None,
    ) -> None:
        self.body = Body(scenario, seed)
        self.faults = set(faults)
        self.time_scale = time_scale  # < 1: the demo and the tests do not wait real seconds
        self.fault_rate = fault_rate  # how often a frame meets a garbage/cut/checksum fault
        self._rng = random.Random(seed)  # noqa: S311 - simulation, not secrets
        self.pty = PtyDevice(link_path, self.baudrate, self._receive)
        self._task: asyncio.Task[None] | None = None
        self.frames_sent = 0

    @property
    def link_path(self) -> Path:
        return self.pty.link_path

    async def start(self) -> None:
        self.pty.plug()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        self.pty.close()

    def unplug(self) -> None:
        """The USB cable is pulled: the cabin's port dies."""
        self.pty.unplug()

    def plug(self) -> None:
        """Plugged back: a new port behind the same path."""
        self.pty.plug()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds * self.time_scale)

    def _receive(self, data: bytes) -> None:
        if Fault.DROP_ON_START in self.faults:  # the cabin's request never gets there
            self.faults.discard(Fault.DROP_ON_START)
            log.info("serial_sim.drop_on_start name=%s", self.name)
            self.unplug()
            return
        if not self.pty.baud_matches():
            return  # at the wrong speed, a real device hears noise: it answers nothing
        self._on_host_bytes(data)

    def _send(self, frame: bytes) -> None:
        """Send one frame as the faults shape it."""
        if Fault.SILENCE in self.faults or not self.pty.plugged:
            return
        if not self.pty.baud_matches():
            frame = self._rng.randbytes(len(frame))  # what the host hears at the wrong speed
        if Fault.GARBAGE in self.faults and self._rng.random() < self.fault_rate:
            self.pty.write(self._rng.randbytes(self._rng.randint(1, 8)))
        if Fault.TRUNCATED in self.faults and self._rng.random() < self.fault_rate:
            frame = frame[: self._rng.randint(1, max(1, len(frame) - 1))]
        elif Fault.BAD_CHECKSUM in self.faults and self._rng.random() < self.fault_rate:
            frame = self._corrupt(frame)
        self.pty.write(frame)
        self.frames_sent += 1

    def _corrupt(self, frame: bytes) -> bytes:
        """A frame whose integrity check fails (protocols without one: a flipped bit)."""
        data = bytearray(frame)
        data[-1] ^= 0x01
        return bytes(data)

    def _on_host_bytes(self, data: bytes) -> None:  # noqa: B027 - streaming devices ignore them
        """What the host sent; devices that only stream ignore it."""

    @abc.abstractmethod
    async def _run(self) -> None: ...

"""The cabin's panic button board on a pty (protocol: `kiosk/distress/panic_button.py`).

It says ``HB`` every `heartbeat_s`; ``press()`` sends ``P1`` then, a moment later, ``P0``, as a
finger on the button would. ``send_garbage()`` puts noise on the line, ``silence()`` stops the
heartbeat (a board that hangs), ``unplug()``/``plug()`` pull and put back its USB cable.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from devices.cancellation import cancel_and_wait
from simulators.serial.pty_device import PtyDevice

log = logging.getLogger(__name__)

BAUD = 9600


class PanicButtonSimulator:
    name = "panic-button"

    def __init__(self, link_path: Path, *, heartbeat_s: float = 2.0) -> None:
        self.pty = PtyDevice(link_path, BAUD, lambda _data: None)  # the board only talks
        self.heartbeat_s = heartbeat_s
        self.silent = False
        self._task: asyncio.Task[None] | None = None
        self._releases: set[asyncio.Task[None]] = set()

    @property
    def link_path(self) -> Path:
        return self.pty.link_path

    async def start(self) -> None:
        self.pty.plug()
        self._task = asyncio.get_running_loop().create_task(self._heartbeat(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        for release in tuple(self._releases):
            await cancel_and_wait(release)
        self.pty.close()

    def press(self, hold_s: float = 0.2) -> None:
        log.info("panic_button_sim.pressed")
        self.pty.write(b"P1\r\n")

        async def release() -> None:
            await asyncio.sleep(hold_s)
            self.pty.write(b"P0\r\n")

        task = asyncio.get_running_loop().create_task(release())
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    def send_garbage(self, data: bytes = b"\x00\xff#P1x\n\xfe\xfe") -> None:
        self.pty.write(data)

    def silence(self, silent: bool = True) -> None:
        self.silent = silent

    def unplug(self) -> None:
        self.pty.unplug()

    def plug(self) -> None:
        self.pty.plug()

    async def _heartbeat(self) -> None:
        while True:
            if not self.silent:
                self.pty.write(b"HB\r\n")
            await asyncio.sleep(self.heartbeat_s)

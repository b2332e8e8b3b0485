"""The cabin's physical panic button: a large push button wired to a small USB serial board.

The board speaks ASCII lines at 9600 baud, 8N1, each ended by ``\\n`` (a ``\\r`` before it is
ignored):

- ``P1``: the button was pressed; ``P0``: released. A press counts once; another press within
  ``debounce_s`` of the last one (a bouncing contact, a patient pressing twice) adds nothing.
- ``HB``: the board is alive, every 2 s. A button that has said nothing for ``silence_s`` is
  reported out of order (``DeviceStatusChanged(FAULT)``, and the assistant mode shows it): a
  panic button that silently stopped working is worse than none.

Anything else (noise, a cut line, a line longer than 32 bytes) is counted and ignored. An
unplugged board (the port vanishes) is reported ``DISCONNECTED`` and reopened every few seconds.
A GPIO contact would feed ``on_press`` the same way; no cabin uses one yet.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from devices.cancellation import cancel_and_wait
from devices.errors import TransportError
from devices.instrument import Availability
from devices.transports.serial_port import SerialPort
from kiosk.bus import EventBus
from kiosk.events import DeviceStatusChanged

log = logging.getLogger(__name__)

DEVICE_ID = "panic-button"
BAUDRATE = 9600
PRESSED = b"P1"
RELEASED = b"P0"
HEARTBEAT = b"HB"
MAX_LINE_BYTES = 32


class SerialPanicButton:
    def __init__(
        self,
        path: str,
        on_press: Callable[[], Awaitable[object]],
        bus: EventBus,
        *,
        debounce_s: float = 2.0,
        silence_s: float = 10.0,
        reopen_after_s: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._on_press = on_press
        self._bus = bus
        self._debounce_s = debounce_s
        self._silence_s = silence_s
        self._reopen_after_s = reopen_after_s
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._availability: Availability | None = None
        self._last_press = float("-inf")
        self._heard_at = 0.0
        self.presses = 0
        self.garbage_lines = 0

    @property
    def availability(self) -> Availability | None:
        return self._availability

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def aclose(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def _run(self) -> None:
        while True:
            port = SerialPort(self.path, BAUDRATE)
            try:
                await port.open()
                self._set(Availability.CONNECTING)
                await self._read(port)
            except TransportError as exc:
                log.warning("panic_button.unavailable path=%s error=%s", self.path, exc)
                self._set(Availability.DISCONNECTED, str(exc))
            finally:
                await port.close()
            await asyncio.sleep(self._reopen_after_s)

    async def _read(self, port: SerialPort) -> None:
        buffer = b""
        self._heard_at = self._clock()
        while True:
            try:
                async with asyncio.timeout(self._silence_s):
                    data = await port.read()
            except TimeoutError:
                self._set(Availability.FAULT, "le bouton ne répond plus")
                continue
            buffer += data
            *lines, buffer = buffer.split(b"\n")
            if len(buffer) > MAX_LINE_BYTES:
                self.garbage_lines += 1
                buffer = b""
            for raw in lines:
                await self._line(raw.rstrip(b"\r"))

    async def _line(self, line: bytes) -> None:
        if line in (HEARTBEAT, PRESSED, RELEASED):
            self._heard_at = self._clock()
            self._set(Availability.CONNECTED)
        else:
            self.garbage_lines += 1
            if self.garbage_lines % 50 == 1:
                log.warning("panic_button.garbage count=%d", self.garbage_lines)
            return
        if line != PRESSED:
            return
        now = self._clock()
        if now - self._last_press < self._debounce_s:
            return
        self._last_press = now
        self.presses += 1
        log.warning("panic_button.pressed count=%d", self.presses)
        await self._on_press()

    def _set(self, availability: Availability, error: str | None = None) -> None:
        if availability is self._availability:
            return
        self._availability = availability
        log.info("panic_button.status availability=%s", availability.value)
        self._bus.publish(DeviceStatusChanged(DEVICE_ID, availability, None, error))

"""A serial port on pyserial, awaited from asyncio without blocking the loop.

The same code opens ``/dev/ttyUSB0``, a ``/dev/serial/by-id/...`` link, or the pseudo-terminal
of a simulator: the path is all it needs. Reads wait on the file descriptor (``add_reader``)
and take what has arrived; a port that disappears (USB pulled, pty closed) raises
``TransportError`` so the driver's connection loop reopens it when it comes back.
"""

from __future__ import annotations

import asyncio
import logging

import serial

from devices.errors import TransportError

log = logging.getLogger(__name__)

READ_CHUNK = 4096


class SerialPort:
    def __init__(self, path: str, baudrate: int) -> None:
        self.path = path
        self.baudrate = baudrate
        self._port: serial.Serial | None = None

    @property
    def is_open(self) -> bool:
        return self._port is not None

    async def open(self) -> None:
        def opening() -> serial.Serial:
            # timeout=0: reads return at once with what is there; exclusive: a second process
            # (a stray copy of the kiosk) cannot read the same device behind our back.
            return serial.Serial(
                self.path, self.baudrate, timeout=0, write_timeout=1.0, exclusive=True
            )

        try:
            self._port = await asyncio.to_thread(opening)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise TransportError(f"{self.path}: cannot open the serial port ({exc})") from exc
        log.info("serial.opened path=%s baud=%d", self.path, self.baudrate)

    async def read(self) -> bytes:
        """Wait for bytes and return those that arrived (at least one)."""
        port = self._require()
        loop = asyncio.get_running_loop()
        fd = port.fileno()
        while True:
            try:
                data: bytes = port.read(READ_CHUNK)
            except (serial.SerialException, OSError) as exc:
                raise TransportError(f"{self.path}: the device is gone ({exc})") from exc
            if data:
                return data
            ready = loop.create_future()
            loop.add_reader(fd, _set_once, ready)
            try:
                await ready
            finally:
                loop.remove_reader(fd)

    async def write(self, data: bytes) -> None:
        port = self._require()
        try:
            written = await asyncio.to_thread(port.write, data)
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"{self.path}: cannot write to the device ({exc})") from exc
        except (TypeError, ValueError, AttributeError) as exc:
            # The link was seen lost (and the port closed, its descriptor set to None) while
            # the write ran in its thread: pyserial then fails on the missing descriptor.
            if self._port is port:
                raise
            raise TransportError(f"{self.path}: the port closed while writing ({exc})") from exc
        if written is not None and written < len(data):
            # pyserial's close wakes a write waiting for room and returns what went out: the
            # rest of the request never reached the device.
            raise TransportError(
                f"{self.path}: the port closed while writing ({written} of {len(data)} bytes)"
            )

    async def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError) as exc:
                log.warning("serial.close_failed path=%s error=%s", self.path, exc)

    def _require(self) -> serial.Serial:
        if self._port is None:
            raise TransportError(f"{self.path}: the serial port is not open")
        return self._port


def _set_once(ready: asyncio.Future[None]) -> None:
    """The descriptor is readable. qasync's notifier may say so twice before the reader wakes
    up and reads (it watches again right after this call): the second time is not news."""
    if not ready.done():
        ready.set_result(None)

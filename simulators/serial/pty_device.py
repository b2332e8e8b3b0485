"""The device end of a pseudo-terminal, behind a stable path, as udev gives a USB device.

The simulator opens a pty and points ``link_path`` at its slave (like
``/dev/serial/by-id/usb-...``); the cabin opens that path with pyserial exactly as it would a
real port. ``unplug()`` closes the pty (the cabin's reads fail with EIO, as when a USB cable is
pulled) and ``plug()`` makes a new one behind the same path. The device reads the line settings
the cabin chose (``termios``): at a wrong baud rate a real device is heard as noise, and so is
this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import termios
import tty
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

_BAUD_CONSTANTS = {
    getattr(termios, f"B{rate}"): rate
    for rate in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400)
}


class PtyDevice:
    def __init__(
        self, link_path: Path, baudrate: int, on_host_bytes: Callable[[bytes], None]
    ) -> None:
        self.link_path = link_path
        self.baudrate = baudrate
        self._on_host_bytes = on_host_bytes
        self._master: int | None = None
        self._slave: int | None = None
        self.dropped_bytes = 0  # written while nobody read: lost, as on a real UART

    @property
    def plugged(self) -> bool:
        return self._master is not None

    @property
    def slave_path(self) -> str | None:
        return os.ttyname(self._slave) if self._slave is not None else None

    def plug(self) -> None:
        if self._master is not None:
            return
        master, slave = os.openpty()
        tty.setraw(slave)  # at once, or bytes written before the cabin opens it are mangled
        tty.setraw(master)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.link_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.link_path.with_name(self.link_path.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        os.symlink(os.ttyname(slave), temporary)
        os.replace(temporary, self.link_path)
        asyncio.get_running_loop().add_reader(master, self._readable)
        log.info("pty.plugged link=%s", self.link_path)

    def unplug(self) -> None:
        master, slave = self._master, self._slave
        self._master = self._slave = None
        if master is not None:
            asyncio.get_running_loop().remove_reader(master)
            os.close(master)
        if slave is not None:
            os.close(slave)
        log.info("pty.unplugged link=%s", self.link_path)

    def close(self) -> None:
        self.unplug()
        with contextlib.suppress(FileNotFoundError):
            self.link_path.unlink()

    def host_baudrate(self) -> int | None:
        """The baud rate the cabin set on its end, or None if unknown."""
        if self._slave is None:
            return None
        attributes = termios.tcgetattr(self._slave)
        return _BAUD_CONSTANTS.get(attributes[5])  # output speed

    def baud_matches(self) -> bool:
        rate = self.host_baudrate()
        return rate is None or rate == self.baudrate

    def write(self, data: bytes) -> None:
        """Send bytes to the cabin; what does not fit in the pty's buffer is lost."""
        if self._master is None or not data:
            return
        try:
            written = os.write(self._master, data)
        except BlockingIOError:
            written = 0
        except OSError:  # the cabin's end vanished: the bytes go nowhere
            written = 0
        self.dropped_bytes += len(data) - written

    def _readable(self) -> None:
        if self._master is None:
            return
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError:  # EIO: nobody holds the other end right now
            return
        if data:
            self._on_host_bytes(data)

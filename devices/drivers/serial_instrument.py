"""What every serial instrument driver shares: its port, its read loop, its silence watchdog.

The read loop takes whatever bytes arrived, hands them to the protocol's stream decoder and the
frames to the driver. Garbage is the decoder's to skip (and count); a port that dies raises and
the connection loop reopens it. A device that should be talking and has gone quiet for
``silence_s`` is treated as lost, and its port is reopened.
"""

from __future__ import annotations

import abc
import asyncio
import logging

from devices.errors import TransportError
from devices.instrument import Backoff, Failure, Instrument, Problem
from devices.transports.serial_port import SerialPort

log = logging.getLogger(__name__)


class DeviceSilent(TransportError):
    """The device stopped talking while it should have been."""


class SerialInstrument(Instrument):
    baudrate: int
    silence_s: float = 3.0

    def __init__(self, device_id: str, path: str, *, backoff: Backoff | None = None) -> None:
        super().__init__(device_id, backoff=backoff)
        self.port = SerialPort(path, self.baudrate)
        self.discarded_bytes = 0

    @property
    def expects_traffic(self) -> bool:
        """Whether silence now means the device is lost (streaming devices: always)."""
        return True

    async def _connect(self) -> None:
        await self.port.open()

    async def _disconnect(self) -> None:
        await self.port.close()

    async def _serve(self) -> None:
        while True:
            try:
                data = await asyncio.wait_for(self.port.read(), self.silence_s)
            except TimeoutError:
                if not self.expects_traffic:
                    continue
                self._emit(Failure(Problem.NO_RESPONSE, f"silent for {self.silence_s:.0f} s"))
                raise DeviceSilent(f"{self.device_id} went silent") from None
            self._on_bytes(data)
            discarded = self._discarded()
            if discarded > self.discarded_bytes:
                log.warning(
                    "device.garbage device=%s bytes=%d",
                    self.device_id,
                    discarded - self.discarded_bytes,
                )
                self.discarded_bytes = discarded

    @abc.abstractmethod
    def _on_bytes(self, data: bytes) -> None:
        """Decode and act on what arrived."""

    @abc.abstractmethod
    def _discarded(self) -> int:
        """How many bytes the decoder has thrown away so far."""

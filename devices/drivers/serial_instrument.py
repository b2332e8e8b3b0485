"""What every serial instrument driver shares: its port, its read loop, its silence watchdog.

The read loop takes whatever bytes arrived, hands them to the protocol's stream decoder and the
frames to the driver. Garbage is the decoder's to skip (and count); a port that dies raises and
the connection loop reopens it. A device that should be talking and has gone quiet for
``silence_s`` is treated as lost, and its port is reopened.
"""

from __future__ import annotations

import abc
import logging

from devices.cancellation import within
from devices.errors import TransportError
from devices.instrument import Backoff, Failure, Instrument, Problem
from devices.transports.serial_port import SerialPort

log = logging.getLogger(__name__)


class DeviceSilent(TransportError):
    """The device stopped talking while it should have been."""


NOISE_WINDOW_BYTES = 200  # judge the line once this much has arrived during a measurement
NOISE_LIMIT = 0.5  # more than half of it unreadable: the line is noise, not the device


class SerialInstrument(Instrument):
    baudrate: int
    silence_s: float = 3.0

    def __init__(self, device_id: str, path: str, *, backoff: Backoff | None = None) -> None:
        super().__init__(device_id, backoff=backoff)
        self.port = SerialPort(path, self.baudrate)
        self.discarded_bytes = 0
        self._received = 0  # bytes, and bytes thrown away, since the measurement began
        self._thrown = 0

    def _reset_measurement(self) -> None:
        self._received = self._thrown = 0

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
                data = await within(self.port.read(), self.silence_s)
            except TimeoutError:
                if not self.expects_traffic:
                    continue
                self._emit(Failure(Problem.NO_RESPONSE, f"silent for {self.silence_s:.0f} s"))
                raise DeviceSilent(f"{self.device_id} went silent") from None
            self._on_bytes(data)
            discarded = self._discarded()
            thrown, self.discarded_bytes = discarded - self.discarded_bytes, discarded
            if thrown:
                log.warning("device.garbage device=%s bytes=%d", self.device_id, thrown)
            self._judge_line(len(data), thrown)

    def _judge_line(self, received: int, thrown: int) -> None:
        """A line that is mostly noise (a wrong speed, a failing cable) must not yield a value
        that happened to decode from it."""
        if not self.measuring:
            return
        self._received += received
        self._thrown += thrown
        if self._received >= NOISE_WINDOW_BYTES and self._thrown > NOISE_LIMIT * self._received:
            self._emit(Failure(Problem.DEVICE_ERROR, "the serial line is noise (speed? cable?)"))

    @abc.abstractmethod
    def _on_bytes(self, data: bytes) -> None:
        """Decode and act on what arrived."""

    @abc.abstractmethod
    def _discarded(self) -> int:
        """How many bytes the decoder has thrown away so far."""

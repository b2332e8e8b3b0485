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

from devices.cancellation import within
from devices.errors import TransportError
from devices.instrument import Backoff, Failure, Instrument, ProbeResult, Problem
from devices.transports.serial_port import SerialPort

log = logging.getLogger(__name__)


class DeviceSilent(TransportError):
    """The device stopped talking while it should have been."""


NOISE_WINDOW_BYTES = 200  # judge the line once this much has arrived during a measurement
PROBE_POLL_S = 0.05
NOISE_LIMIT = 0.5  # more than half of it unreadable: the line is noise, not the device


class SerialInstrument(Instrument):
    baudrate: int
    silence_s: float = 3.0

    def __init__(self, device_id: str, path: str, *, backoff: Backoff | None = None) -> None:
        super().__init__(device_id, backoff=backoff)
        self.port = SerialPort(path, self.baudrate)
        self.discarded_bytes = 0
        self.received_bytes = 0  # since the driver started: the self-test's probe reads it
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
            self.received_bytes += len(data)
            self._on_bytes(data)
            discarded = self._discarded()
            thrown, self.discarded_bytes = discarded - self.discarded_bytes, discarded
            if thrown:
                log.warning("device.garbage device=%s bytes=%d", self.device_id, thrown)
            self._judge_line(len(data), thrown)

    async def probe(self, timeout_s: float) -> ProbeResult:
        """The port is open; a streaming device must also send bytes its decoder can read
        within ``timeout_s`` (a device that speaks only when asked is not asked: that would
        start a measurement)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        if not await self.wait_connected(timeout_s):
            return ProbeResult(False, self._not_connected_detail(timeout_s))
        if not self.expects_traffic:
            return ProbeResult(True, "port open; the device speaks only when asked to measure")
        readable = self.received_bytes - self._discarded()
        while loop.time() < deadline:
            await asyncio.sleep(PROBE_POLL_S)
            if self.received_bytes - self._discarded() > readable:
                return ProbeResult(True, "port open; the device sends readable frames")
        if self.received_bytes == 0:
            return ProbeResult(
                False, f"port open, but the device sent nothing in {timeout_s:.0f} s"
            )
        return ProbeResult(
            False, f"port open, but nothing it sent in {timeout_s:.0f} s could be read (speed?)"
        )

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

"""Nonin pulse oximeter on a pty: the ASCII real-time output, once a second (PROTOCOLS.md §3)."""

from __future__ import annotations

from devices.protocols import nonin
from simulators.faults import Fault
from simulators.serial.base import SerialSimulator


class NoninAsciiSimulator(SerialSimulator):
    baudrate = nonin.NONIN_BAUD
    name = "nonin-ascii"
    finger = True

    async def _run(self) -> None:
        while True:
            if not self.finger or Fault.NO_FINGER in self.faults:
                sample = nonin.AsciiSample(None, None, None)
            else:
                body = self.body.sample()
                pulse = int(body.pulse_bpm) + (self._rng.randint(-30, 30) if body.moving else 0)
                spo2 = int(body.spo2_percent)
                if Fault.OUT_OF_RANGE in self.faults:
                    spo2, pulse = 100, 340
                sample = nonin.AsciiSample(spo2, pulse, None)
            self._send(nonin.encode_ascii_line(sample))
            await self.sleep(1.0)

"""Nonin pulse oximeter on a pty: the ASCII real-time output, once a second (PROTOCOLS.md §3).

Like the models whose manuals document them, it can prefix each line with its clock
(``sends_clock``), send the fast-responding values with the `` F`` marker (``fast_mode``) and mark
an event with ``*`` (``mark_event()``, the button press on the device).
"""

from __future__ import annotations

from datetime import datetime

from devices.protocols import nonin
from simulators.faults import Fault
from simulators.serial.base import SerialSimulator


class NoninAsciiSimulator(SerialSimulator):
    baudrate = nonin.NONIN_BAUD
    name = "nonin-ascii"
    finger = True
    sends_clock = False  # 9847, 8600V: "HH:MM:SS SPO2=XXX HR=YYY"
    fast_mode = False  # Avant 9600, BT4000 with DIP switch 8 up: "SPO2=XXX HR=YYY F"
    _event_pending = False

    def mark_event(self) -> None:
        """The event button is pressed: the next line ends with ``*``."""
        self._event_pending = True

    async def _run(self) -> None:
        while True:
            clock = datetime.now().strftime("%H:%M:%S") if self.sends_clock else None
            spo2: int | None = None
            pulse: int | None = None
            if self.finger and Fault.NO_FINGER not in self.faults:
                body = self.body.sample()
                pulse = int(body.pulse_bpm) + (self._rng.randint(-30, 30) if body.moving else 0)
                spo2 = int(body.spo2_percent)
                if Fault.OUT_OF_RANGE in self.faults:
                    spo2, pulse = 100, 340
            sample = nonin.AsciiSample(
                spo2,
                pulse,
                clock,
                fast_mode=self.fast_mode,
                event_marked=self._event_pending,
            )
            self._event_pending = False
            self._send(nonin.encode_ascii_line(sample))
            await self.sleep(1.0)

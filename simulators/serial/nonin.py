"""Nonin pulse oximeters on a pty: the ASCII real-time output, and the 9560's Data Format 8.

The ASCII one sends a line a second (PROTOCOLS.md §3). Like the models whose manuals document
them, it can prefix each line with its clock
(``sends_clock``), send the fast-responding values with the `` F`` marker (``fast_mode``) and mark
an event with ``*`` (``mark_event()``, the button press on the device).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

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


HELD_AFTER_REMOVAL_S = 10.0  # the 9560 sends its last values this long after the finger left


class NoninDf8Simulator(SerialSimulator):
    """A Nonin Onyx II 9560 in Data Format 8, one frame a second (``devices.protocols.nonin``).

    Silent until the host sends the "set data format 8" command (it answers ACK), as after each
    new connection. When the finger leaves (``remove_finger()``) it sends the last SpO2 and pulse
    for ``HELD_AFTER_REMOVAL_S`` with only the sensor alarm bit set, then the missing values with
    the alarm, as the 9560's specification says. Data Format 13, the 9560's spot-check output, is
    not simulated.
    """

    baudrate = nonin.NONIN_BAUD
    name = "nonin-9560"
    model = nonin.Df8Model.ONYX_II_9560
    finger = True

    def __init__(self, link_path: Path, **kwargs: Any) -> None:
        super().__init__(link_path, **kwargs)
        self._heard = bytearray()
        self.streaming = False
        self.format_requests = 0
        self.held_frames_sent = 0
        self._held: tuple[int, int] | None = None  # (pulse, SpO2) shown when the finger left
        self._removed_at: float | None = None

    def plug(self) -> None:
        super().plug()
        self.streaming = False  # a new connection: the host must ask again

    def remove_finger(self) -> None:
        """The patient takes the finger out: the values on the display are held a while."""
        body = self.body.sample()
        self._held = (int(body.pulse_bpm), int(body.spo2_percent))
        self._removed_at = None
        self.finger = False

    def _on_host_bytes(self, data: bytes) -> None:
        self._heard += data
        if nonin.SET_DATA_FORMAT_8 in self._heard:
            self._heard.clear()
            self.format_requests += 1
            self.streaming = True
            self._send(bytes([nonin.ACK]))
        del self._heard[: -len(nonin.SET_DATA_FORMAT_8)]

    def _frame(self) -> nonin.Df8Frame:
        if self.finger and Fault.NO_FINGER not in self.faults:
            self._held = self._removed_at = None
            body = self.body.sample()
            pulse = int(body.pulse_bpm) + (self._rng.randint(-30, 30) if body.moving else 0)
            spo2 = int(body.spo2_percent)
            if Fault.OUT_OF_RANGE in self.faults:
                spo2, pulse = 100, 340
            status = {nonin.Df8Status.ARTIFACT} if body.moving else set()
            return nonin.Df8Frame(pulse, spo2, frozenset(status))
        now = asyncio.get_running_loop().time()
        if self._removed_at is None:
            self._removed_at = now
        held = (
            self._held if now - self._removed_at < HELD_AFTER_REMOVAL_S * self.time_scale else None
        )
        if held is not None:
            self.held_frames_sent += 1
        pulse_held, spo2_held = held or (None, None)
        return nonin.Df8Frame(pulse_held, spo2_held, frozenset({nonin.Df8Status.SENSOR_ALARM}))

    def _corrupt(self, frame: bytes) -> bytes:
        # No checksum in Data Format 8: a lost sync bit is what a line error looks like.
        return bytes([frame[0] & 0x7F, *frame[1:]])

    async def _run(self) -> None:
        while True:
            if self.streaming:
                self._send(nonin.encode_df8_frame(self._frame(), self.model))
            await self.sleep(1.0)

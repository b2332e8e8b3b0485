"""A&D UA-767PC-style blood-pressure monitor on a pty (PROTOCOLS.md §3, confidence L).

It speaks the same unverified guess as the driver (:mod:`devices.protocols.and_bp`): a test
passing against it says nothing of a real UA-767.

The host opens with the CPC05 command; the device acknowledges, inflates, and sends one reading
line when the measurement ends. The cuff error fault ends it with an error status instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devices.protocols import and_bp
from simulators.faults import Fault
from simulators.serial.base import SerialSimulator

BAUD = 9600  # assumed: the source gives no rate
MEASUREMENT_S = 30.0  # inflation and deflation of a real cuff, scaled by time_scale


class AndBpSimulator(SerialSimulator):
    baudrate = BAUD
    name = "and-bp"

    def __init__(self, link_path: Path, **kwargs: Any) -> None:
        super().__init__(link_path, **kwargs)
        self._commands = and_bp.CommandStreamDecoder()
        self._requests = 0
        self.measurements_started = 0
        self.open_commands = 0  # every start the cabin asked for, heard or not yet acted on

    def _on_host_bytes(self, data: bytes) -> None:
        for command in self._commands.feed(data):
            if command == and_bp.OPEN_COMMAND_BODY:
                self._requests += 1
                self.open_commands += 1

    async def _run(self) -> None:
        while True:
            if self._requests == 0:
                await self.sleep(0.05)
                continue
            self._requests = 0
            self.measurements_started += 1
            self._send(and_bp.ACK)
            await self.sleep(MEASUREMENT_S)
            self._send(and_bp.encode_reading_line(self._reading()))

    def _reading(self) -> and_bp.AndReading:
        body = self.body.sample()
        if Fault.CUFF_ERROR in self.faults:
            return and_bp.AndReading(and_bp.AndStatus.DEVICE_ERROR_1, 0, 0, 0, 0)
        systolic, diastolic = int(body.systolic_mmhg), int(body.diastolic_mmhg)
        if Fault.OUT_OF_RANGE in self.faults:
            systolic, diastolic = 40, 35
        return and_bp.AndReading(
            and_bp.AndStatus.OK, systolic, diastolic, int(body.pulse_bpm), 0x60
        )

    def _corrupt(self, frame: bytes) -> bytes:
        # No checksum on a reading line: a corrupted character is what a line error gives.
        return frame[:2] + b"Z" + frame[3:] if len(frame) > 3 else frame

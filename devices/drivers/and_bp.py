"""A&D UA-767PC-style blood-pressure monitor over serial (PROTOCOLS.md §3, confidence L).

**Unverified**: no A&D document confirms the protocol this driver speaks (see
:mod:`devices.protocols.and_bp`); the configuration accepts the model only with
``unverified = true`` on its entry.

The driver sends the open command to start a measurement; the device acknowledges, inflates and
deflates (no intermediate pressure over this link), then sends one reading line. Its error
statuses have no documented meaning: the patient is asked to check the cuff and retry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from devices.drivers.serial_instrument import SerialInstrument
from devices.instrument import Failure, Final, Problem, Progress
from devices.plausibility import implausible
from devices.protocols import and_bp
from devices.reading import Quantity, Reading, ReadingKind, Value

BAUD = 9600  # assumed: the source gives no rate (as the simulator assumes)


class AndBloodPressureMonitor(SerialInstrument):
    kind = ReadingKind.BLOOD_PRESSURE
    baudrate = BAUD

    def __init__(self, device_id: str, path: str, **kwargs: Any) -> None:
        super().__init__(device_id, path, **kwargs)
        self._decoder = and_bp.AndStreamDecoder()

    @property
    def expects_traffic(self) -> bool:
        return False  # quiet between measurements, and for a minute while measuring

    async def _begin_measurement(self) -> None:
        await self.port.write(and_bp.OPEN_COMMAND)

    def _on_bytes(self, data: bytes) -> None:
        for message in self._decoder.feed(data):
            if isinstance(message, and_bp.AndAck):
                self._emit(Progress())  # the cuff is inflating
            else:
                self._emit(self._result(message))

    def _result(self, message: and_bp.AndReading) -> Final | Failure:
        if message.status is not and_bp.AndStatus.OK:
            return Failure(Problem.CUFF_LOOSE, f"device status {message.status.name}")
        reading = Reading(
            self.device_id,
            self.kind,
            (
                Value(Quantity.SYSTOLIC_MMHG, float(message.systolic_mmhg)),
                Value(Quantity.DIASTOLIC_MMHG, float(message.diastolic_mmhg)),
                Value(Quantity.PULSE_BPM, float(message.pulse_rate_bpm)),
            ),
            datetime.now(UTC),
        )
        if implausible(reading):
            return Failure(Problem.OUT_OF_RANGE, "the monitor gave values that cannot be true")
        return Final(reading)

    def _discarded(self) -> int:
        return self._decoder.discarded_bytes

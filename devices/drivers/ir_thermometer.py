"""UART infrared forehead thermometer module (PROTOCOLS.md §3, confidence L).

The driver asks for one frame per measurement (on-request mode) and reports the object
temperature. Such modules output a body-compensated value in their "body" mode, which is the
one fitted in kiosks; the raw object temperature of a bare sensor would read low (an
assumption of the single source, said again in the note).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from devices.drivers.serial_instrument import SerialInstrument
from devices.instrument import Failure, Final, Problem
from devices.plausibility import implausible
from devices.protocols import ir_thermometer as ir
from devices.reading import Quantity, Reading, ReadingKind, Value

BAUD = 9600  # assumed: the source gives no rate (as the simulator assumes)


class IrThermometer(SerialInstrument):
    kind = ReadingKind.TEMPERATURE
    baudrate = BAUD

    def __init__(self, device_id: str, path: str, **kwargs: Any) -> None:
        super().__init__(device_id, path, **kwargs)
        self._decoder = ir.IrStreamDecoder()

    @property
    def expects_traffic(self) -> bool:
        return False

    async def _begin_measurement(self) -> None:
        await self.port.write(ir.REQUEST_COMMAND)

    def _on_bytes(self, data: bytes) -> None:
        for frame in self._decoder.feed(data):
            reading = Reading(
                self.device_id,
                self.kind,
                (Value(Quantity.TEMPERATURE_C, round(frame.object_c, 1)),),
                datetime.now(UTC),
            )
            if implausible(reading):
                self._emit(
                    Failure(Problem.OUT_OF_RANGE, "the thermometer gave an impossible value")
                )
            else:
                self._emit(Final(reading))

    def _discarded(self) -> int:
        return self._decoder.discarded_bytes

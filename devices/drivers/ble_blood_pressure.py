"""Blood-pressure cuffs over BLE: the Bluetooth SIG Blood Pressure Profile (PROTOCOLS.md §2).

The cuff notifies its pressure while it inflates (0x2A36) and indicates the result (0x2A35),
then hangs up. Readings it kept in memory arrive as a burst of indications right after the
subscription: they are taken only if no fresh one comes, and flagged as from the device's memory.

A cuff model known to break the profile in a known way (:mod:`devices.protocols.bp_quirks`) is
recognised by its Device Information at each connection; its results are decoded in its shape,
and its intermediate cuff pressures, whose shape is not known, are skipped when unreadable
rather than failing the measurement. Every other cuff is decoded strictly.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from bleak import BleakClient

from devices.drivers.ble_instrument import BleInstrument
from devices.errors import DecodeError
from devices.instrument import Failure, Final, MeasurementUpdate, Problem, Progress
from devices.plausibility import implausible
from devices.protocols import gatt
from devices.protocols.bp_quirks import STRICT, BpQuirks, bp_quirks_for
from devices.reading import (
    QUESTIONABLE_FLAGS,
    Quality,
    Quantity,
    Reading,
    ReadingFlag,
    ReadingKind,
    Value,
)

log = logging.getLogger(__name__)

FROM_MEMORY_AFTER = timedelta(minutes=2)

_FLAGS = {
    gatt.BpStatus.BODY_MOVEMENT: ReadingFlag.BODY_MOVEMENT,
    gatt.BpStatus.CUFF_TOO_LOOSE: ReadingFlag.CUFF_TOO_LOOSE,
    gatt.BpStatus.IRREGULAR_PULSE: ReadingFlag.IRREGULAR_PULSE,
    gatt.BpStatus.IMPROPER_POSITION: ReadingFlag.IMPROPER_POSITION,
    gatt.BpStatus.PULSE_RATE_ABOVE_RANGE: ReadingFlag.PULSE_RATE_OUT_OF_RANGE,
    gatt.BpStatus.PULSE_RATE_BELOW_RANGE: ReadingFlag.PULSE_RATE_OUT_OF_RANGE,
}
_PROBLEMS = (
    (gatt.BpStatus.CUFF_TOO_LOOSE, Problem.CUFF_LOOSE),
    (gatt.BpStatus.BODY_MOVEMENT, Problem.BODY_MOVEMENT),
    (gatt.BpStatus.IMPROPER_POSITION, Problem.IMPROPER_POSITION),
)


def _mmhg(value: float, unit: str) -> float:
    return value * gatt.MMHG_PER_KPA if unit == "kPa" else value


class BleBloodPressureMonitor(BleInstrument):
    kind = ReadingKind.BLOOD_PRESSURE
    measurement_characteristics = (gatt.INTERMEDIATE_CUFF_PRESSURE, gatt.BLOOD_PRESSURE_MEASUREMENT)
    writes_date_time = True

    def __init__(self, device_id: str, address: str, **kwargs: Any) -> None:
        super().__init__(device_id, address, **kwargs)
        self._memory: list[Reading] = []
        self._started = datetime.now(UTC)
        self.quirks: BpQuirks = STRICT  # of the cuff connected (or last connected)

    async def _prepare(self, client: BleakClient) -> None:
        await super()._prepare(client)
        info = self.device_information
        self.quirks = bp_quirks_for(
            info.manufacturer if info else None, info.model if info else None
        )
        if not self.quirks.strict:
            log.info("device.quirks device=%s quirks=%s", self.device_id, self.quirks.name)

    def _reset_measurement(self) -> None:
        super()._reset_measurement()
        self._memory.clear()
        self._started = datetime.now(UTC)

    def _on_value(self, uuid: str, data: bytes) -> None:
        if uuid == gatt.INTERMEDIATE_CUFF_PRESSURE:
            try:
                cuff = gatt.decode_blood_pressure_measurement(data)
            except DecodeError:
                if self.quirks.strict:
                    raise
                log.info("device.cuff_pressure_skipped device=%s", self.device_id)
                return
            self._emit(Progress(cuff_pressure_mmhg=round(_mmhg(cuff.systolic, cuff.unit))))
            return
        measurement = gatt.decode_blood_pressure_measurement(data, self.quirks)
        update = self._result(measurement)
        if isinstance(update, Final) and ReadingFlag.FROM_DEVICE_MEMORY in update.reading.flags:
            self._memory.append(update.reading)
        else:
            self._emit(update)

    def _update_on_link_lost(self) -> MeasurementUpdate | None:
        if self._memory:  # the cuff sent only what it had kept, then hung up
            return Final(self._memory[-1])
        return super()._update_on_link_lost()

    def _result(self, m: gatt.BloodPressureMeasurement) -> Final | Failure:
        status = m.status or frozenset()
        if math.isnan(m.systolic) or math.isnan(m.diastolic):
            for bit, problem in _PROBLEMS:
                if bit in status:
                    return Failure(problem, f"the cuff reported {bit.value}")
            return Failure(Problem.DEVICE_ERROR, "the cuff gave no value")
        flags = {_FLAGS[bit] for bit in status if bit in _FLAGS}
        measured_at = datetime.now(UTC)
        if m.timestamp is not None:
            stamped = m.timestamp.astimezone(UTC)  # the cuff's clock is local time
            if stamped < self._started - FROM_MEMORY_AFTER:
                flags.add(ReadingFlag.FROM_DEVICE_MEMORY)
                measured_at = stamped
        if self.low_battery:
            flags.add(ReadingFlag.LOW_BATTERY)
        values = [
            Value(Quantity.SYSTOLIC_MMHG, round(_mmhg(m.systolic, m.unit))),
            Value(Quantity.DIASTOLIC_MMHG, round(_mmhg(m.diastolic, m.unit))),
        ]
        if not math.isnan(m.mean_arterial_pressure):
            values.append(
                Value(Quantity.MEAN_ARTERIAL_MMHG, round(_mmhg(m.mean_arterial_pressure, m.unit)))
            )
        if m.pulse_rate_bpm is not None and not math.isnan(m.pulse_rate_bpm):
            values.append(Value(Quantity.PULSE_BPM, round(m.pulse_rate_bpm)))
        reading = Reading(
            self.device_id,
            self.kind,
            tuple(values),
            measured_at,
            Quality.QUESTIONABLE if flags & QUESTIONABLE_FLAGS else Quality.GOOD,
            frozenset(flags),
        )
        if implausible(reading):
            return Failure(Problem.OUT_OF_RANGE, "the cuff gave values that cannot be true")
        return Final(reading)

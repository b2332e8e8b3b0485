"""Thermometers over BLE: the Bluetooth SIG Health Thermometer Profile (PROTOCOLS.md §2)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from devices.drivers.ble_instrument import BleInstrument
from devices.instrument import Failure, Final, Problem, Progress
from devices.plausibility import implausible
from devices.protocols import gatt
from devices.reading import Quantity, Reading, ReadingFlag, ReadingKind, Value


def _celsius(m: gatt.TemperatureMeasurement) -> float:
    return (m.value - 32) * 5 / 9 if m.unit == "F" else m.value


class BleThermometer(BleInstrument):
    kind = ReadingKind.TEMPERATURE
    measurement_characteristics = (gatt.INTERMEDIATE_TEMPERATURE, gatt.TEMPERATURE_MEASUREMENT)
    writes_date_time = True

    def _on_value(self, uuid: str, data: bytes) -> None:
        m = gatt.decode_temperature_measurement(data)
        if math.isnan(m.value):
            if uuid == gatt.TEMPERATURE_MEASUREMENT:
                self._emit(Failure(Problem.DEVICE_ERROR, "the thermometer gave no value"))
            return
        value = Value(Quantity.TEMPERATURE_C, round(_celsius(m), 1))
        if uuid == gatt.INTERMEDIATE_TEMPERATURE:
            self._emit(Progress(live=(value,)))
            return
        flags = frozenset({ReadingFlag.LOW_BATTERY}) if self.low_battery else frozenset()
        reading = Reading(self.device_id, self.kind, (value,), datetime.now(UTC), flags=flags)
        if implausible(reading):
            self._emit(Failure(Problem.OUT_OF_RANGE, "the thermometer gave an impossible value"))
        else:
            self._emit(Final(reading))

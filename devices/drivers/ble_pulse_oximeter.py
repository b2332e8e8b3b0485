"""Pulse oximeters over BLE: the Bluetooth SIG Pulse Oximeter Profile, continuous measurement
(0x2A5F), turned into one reading by the same window as the serial oximeters."""

from __future__ import annotations

import math
from typing import Any

from devices.drivers.ble_instrument import BleInstrument
from devices.drivers.oximetry import OximetryMeasurement, OximetrySample
from devices.instrument import Problem
from devices.protocols import gatt
from devices.reading import ReadingKind

_NO_FINGER = {gatt.PlxDeviceStatus.SENSOR_NOT_ON_USER, gatt.PlxDeviceStatus.SENSOR_DISPLACED}
_BAD_SIGNAL = {
    gatt.PlxDeviceStatus.INADEQUATE_SIGNAL,
    gatt.PlxDeviceStatus.POOR_SIGNAL,
    gatt.PlxDeviceStatus.NON_PULSATILE_SIGNAL,
}
_BROKEN = {
    gatt.PlxDeviceStatus.SENSOR_DISCONNECTED,
    gatt.PlxDeviceStatus.SENSOR_MALFUNCTION,
    gatt.PlxDeviceStatus.EQUIPMENT_MALFUNCTION,
}
_DOUBTFUL = {gatt.PlxMeasurementStatus.INVALID, gatt.PlxMeasurementStatus.QUESTIONABLE}


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


class BlePulseOximeter(BleInstrument):
    kind = ReadingKind.PULSE_OXIMETRY
    measurement_characteristics = (gatt.PLX_CONTINUOUS_MEASUREMENT,)

    def __init__(
        self,
        device_id: str,
        address: str,
        *,
        settle_s: float = 6.0,
        give_up_s: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(device_id, address, **kwargs)
        self._oximetry = OximetryMeasurement(device_id, settle_s=settle_s, give_up_s=give_up_s)

    async def _begin_measurement(self) -> None:
        self._oximetry.begin()
        await super()._begin_measurement()

    async def _end_measurement(self) -> None:
        self._oximetry.end()
        await super()._end_measurement()

    def _on_value(self, uuid: str, data: bytes) -> None:
        m = gatt.decode_plx_continuous(data)
        device = m.device_status or frozenset()
        measurement = m.measurement_status or frozenset()
        sample = OximetrySample(
            spo2_percent=_number(m.spo2_percent),
            pulse_bpm=_number(m.pulse_rate_bpm),
            finger_present=not device & _NO_FINGER,
            signal_ok=not (device & _BAD_SIGNAL or measurement & _DOUBTFUL),
            sensor_problem=Problem.PROBE_UNPLUGGED if device & _BROKEN else None,
            low_battery=self.low_battery,
        )
        if (update := self._oximetry.add(sample)) is not None:
            self._emit(update)

"""Nonin pulse oximeters over serial: the ASCII real-time output (PROTOCOLS.md §3), and the
Onyx II 9560's binary Data Format 8 (over its Bluetooth serial port, /dev/rfcomm0).

ASCII lines with a clock prefix or the documented markers after the HR field (fast mode `` F``, an
event ``*``, a breath `` B``: see :mod:`devices.protocols.nonin`) are readings like any other; the
markers change no value and are not kept.

Data Format 8: the driver asks for it at each connection (the 9560 connects when a finger turns
it on); its status bits are read as the configured model defines them. A frame with the 9560's
sensor alarm holds the values shown before the finger left: no value, "no finger". Between
measurements the 9560 may sleep: silence then is not a loss.
"""

from __future__ import annotations

from typing import Any

from devices.drivers.oximetry import OximetryMeasurement, OximetrySample
from devices.drivers.serial_instrument import SerialInstrument
from devices.protocols import nonin
from devices.reading import ReadingKind


class NoninAsciiOximeter(SerialInstrument):
    kind = ReadingKind.PULSE_OXIMETRY
    baudrate = nonin.NONIN_BAUD
    silence_s = 5.0  # one line a second

    def __init__(
        self,
        device_id: str,
        path: str,
        *,
        settle_s: float = 6.0,
        give_up_s: float = 30.0,
        **kwargs: Any,
    ):
        super().__init__(device_id, path, **kwargs)
        self._decoder = nonin.AsciiStreamDecoder()
        self._oximetry = OximetryMeasurement(device_id, settle_s=settle_s, give_up_s=give_up_s)

    async def _begin_measurement(self) -> None:
        self._oximetry.begin()

    async def _end_measurement(self) -> None:
        self._oximetry.end()

    def _on_bytes(self, data: bytes) -> None:
        for line in self._decoder.feed(data):
            missing = line.spo2_percent is None and line.pulse_rate_bpm is None
            sample = OximetrySample(
                spo2_percent=line.spo2_percent,
                pulse_bpm=line.pulse_rate_bpm,
                finger_present=not missing,  # "---": no finger (or no signal) on this model
            )
            if (update := self._oximetry.add(sample)) is not None:
                self._emit(update)

    def _discarded(self) -> int:
        return self._decoder.discarded_bytes


class NoninDf8Oximeter(SerialInstrument):
    """Nonin Data Format 8, status bits of ``model`` (the registry's ``nonin-9560``)."""

    kind = ReadingKind.PULSE_OXIMETRY
    baudrate = nonin.NONIN_BAUD
    silence_s = 5.0  # one frame a second
    model = nonin.Df8Model.ONYX_II_9560

    def __init__(
        self,
        device_id: str,
        path: str,
        *,
        settle_s: float = 6.0,
        give_up_s: float = 30.0,
        **kwargs: Any,
    ):
        super().__init__(device_id, path, **kwargs)
        self._decoder = nonin.Df8StreamDecoder(self.model)
        self._oximetry = OximetryMeasurement(device_id, settle_s=settle_s, give_up_s=give_up_s)

    @property
    def expects_traffic(self) -> bool:
        return self.measuring

    async def _connect(self) -> None:
        await super()._connect()
        await self.port.write(nonin.SET_DATA_FORMAT_8)  # answered by ACK, skipped as noise

    async def _begin_measurement(self) -> None:
        self._oximetry.begin()

    async def _end_measurement(self) -> None:
        self._oximetry.end()

    def _on_bytes(self, data: bytes) -> None:
        for frame in self._decoder.feed(data):
            sample = OximetrySample(
                spo2_percent=frame.spo2_percent,  # None while the sensor alarm holds old values
                pulse_bpm=frame.pulse_rate_bpm,
                finger_present=not frame.sensor_alarm,
                signal_ok=nonin.Df8Status.OUT_OF_TRACK not in frame.status,
                low_battery=nonin.Df8Status.LOW_BATTERY in frame.status,
            )
            if (update := self._oximetry.add(sample)) is not None:
                self._emit(update)

    def _discarded(self) -> int:
        return self._decoder.discarded_bytes

"""Nonin pulse oximeter over serial: the ASCII real-time output (PROTOCOLS.md §3).

Lines with a clock prefix or the documented markers after the HR field (fast mode `` F``, an
event ``*``, a breath `` B``: see :mod:`devices.protocols.nonin`) are readings like any other; the
markers change no value and are not kept.
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

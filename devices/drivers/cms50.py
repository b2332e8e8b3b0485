"""Contec CMS50D+ pulse oximeters over serial, both generations (PROTOCOLS.md §3)."""

from __future__ import annotations

import asyncio
from typing import Any

from devices.cancellation import cancel_and_wait
from devices.drivers.oximetry import OximetryMeasurement, OximetrySample
from devices.drivers.serial_instrument import SerialInstrument
from devices.instrument import Backoff
from devices.protocols import cms50
from devices.reading import ReadingKind

KEEP_ALIVE_EVERY_S = 10.0  # the device stops after ~30 s without one


class _Cms50(SerialInstrument):
    kind = ReadingKind.PULSE_OXIMETRY

    def __init__(
        self,
        device_id: str,
        path: str,
        *,
        settle_s: float = 6.0,
        give_up_s: float = 30.0,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(device_id, path, backoff=backoff)
        self._oximetry = OximetryMeasurement(device_id, settle_s=settle_s, give_up_s=give_up_s)

    async def _begin_measurement(self) -> None:
        self._oximetry.begin()

    async def _end_measurement(self) -> None:
        self._oximetry.end()

    def _sample(self, sample: OximetrySample) -> None:
        if (update := self._oximetry.add(sample)) is not None:
            self._emit(update)


class Cms50LegacyOximeter(_Cms50):
    """The old generation: streams by itself at 19200 baud. A frame "searching (too long)" is no
    reading yet, one with a sensor error is the finger out; "SpO2 dropping" is no fault."""

    baudrate = cms50.LEGACY_BAUD

    def __init__(self, device_id: str, path: str, **kwargs: Any) -> None:
        super().__init__(device_id, path, **kwargs)
        self._decoder = cms50.LegacyStreamDecoder()

    def _on_bytes(self, data: bytes) -> None:
        for frame in self._decoder.feed(data):
            # "SpO2 dropping" changes nothing: the values with it are a measurement. See
            # devices.protocols.cms50 for the status bits and their sources.
            self._sample(
                OximetrySample(
                    spo2_percent=frame.spo2_percent,
                    pulse_bpm=frame.pulse_rate_bpm,
                    finger_present=not frame.sensor_error,
                    signal_ok=not (frame.searching or frame.searching_too_long),
                )
            )

    def _discarded(self) -> int:
        return self._decoder.discarded_bytes


class Cms50RealtimeOximeter(_Cms50):
    """The new generation: silent until asked, at 115200 baud; kept alive while measuring."""

    baudrate = cms50.REALTIME_BAUD

    def __init__(self, device_id: str, path: str, **kwargs: Any) -> None:
        super().__init__(device_id, path, **kwargs)
        self._decoder = cms50.RealtimeStreamDecoder()
        self._keep_alive: asyncio.Task[None] | None = None

    @property
    def expects_traffic(self) -> bool:
        return self.measuring

    async def _begin_measurement(self) -> None:
        await super()._begin_measurement()
        await self.port.write(cms50.START_REALTIME)
        self._keep_alive = asyncio.get_running_loop().create_task(self._renew())

    async def _end_measurement(self) -> None:
        await super()._end_measurement()
        if self._keep_alive is not None:
            await cancel_and_wait(self._keep_alive)
            self._keep_alive = None
        if self.port.is_open:
            await self.port.write(cms50.STOP_REALTIME)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(KEEP_ALIVE_EVERY_S)
            await self.port.write(cms50.KEEP_ALIVE)

    def _on_bytes(self, data: bytes) -> None:
        for frame in self._decoder.feed(data):
            self._sample(
                OximetrySample(
                    spo2_percent=frame.spo2_percent,
                    pulse_bpm=frame.pulse_rate_bpm,
                    finger_present=not frame.finger_out,
                    signal_ok=not frame.searching,
                    perfusion_index_percent=frame.perfusion_index_percent,
                )
            )

    def _discarded(self) -> int:
        return self._decoder.discarded_bytes

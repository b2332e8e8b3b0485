"""The cabin's instruments as the consultation uses them.

Starts every driver, relays their status to the bus (and to the device log, for the assistant
mode), and runs a measurement for the screen: a final reading is stored durably in the
consultation *before* the screen is told, so what the patient saw taken is never lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping

from devices.instrument import DeviceStatus, Final, Instrument, MeasurementUpdate
from kiosk.bus import EventBus
from kiosk.consultation import Consultation
from kiosk.errors import KioskError, StoreError
from kiosk.events import DeviceStatusChanged
from kiosk.store import AsyncStore, Store

log = logging.getLogger(__name__)


class UnknownInstrument(KioskError):
    """The screen asked for an instrument the configuration does not have."""


class Measurements:
    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        consultation: Consultation,
        store: AsyncStore,
        bus: EventBus,
    ) -> None:
        self._instruments = dict(instruments)
        self._consultation = consultation
        self._store = store
        self._bus = bus
        self._unsubscribe = [
            instrument.on_status(self._on_status) for instrument in self._instruments.values()
        ]
        self._logging: set[asyncio.Task[None]] = set()

    @property
    def instruments(self) -> Mapping[str, Instrument]:
        return self._instruments

    async def start(self) -> None:
        for instrument in self._instruments.values():
            await instrument.start()

    async def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        for instrument in self._instruments.values():
            await instrument.close()
        if self._logging:
            await asyncio.gather(*self._logging, return_exceptions=True)

    async def measure(
        self, device_id: str, timeout_s: float = 180.0
    ) -> AsyncIterator[MeasurementUpdate]:
        """Run one measurement; a Final is yielded only once its reading is stored."""
        instrument = self._instruments.get(device_id)
        if instrument is None:
            raise UnknownInstrument(f"no instrument {device_id!r} in this cabin")
        async for update in instrument.measure(timeout_s):
            if isinstance(update, Final):
                await self._consultation.record_reading(update.reading)
            else:
                self._consultation.session.touch()  # a measurement under way: someone is there
            yield update

    def _on_status(self, status: DeviceStatus) -> None:
        self._bus.publish(
            DeviceStatusChanged(
                status.device_id, status.availability, status.battery_percent, status.error
            )
        )
        task = asyncio.get_running_loop().create_task(self._log(status))
        self._logging.add(task)
        task.add_done_callback(self._logging.discard)

    async def _log(self, status: DeviceStatus) -> None:
        try:
            await self._store.run(
                Store.log_device, status.device_id, status.availability.value, status.error
            )
        except StoreError:
            log.exception("device.log_failed device=%s", status.device_id)

"""From the configuration's instrument entries to drivers: which class speaks which model.

The entries are plain ``InstrumentSpec`` values (the kiosk's configuration converts to them), so
``devices`` knows nothing of the kiosk. A model the cabin cannot drive, or one of another kind
than the entry says, is refused at start with a message naming the entry.

``UNVERIFIED_MODELS`` (``devices.models``, names only) are models whose protocol no
manufacturer document confirms: the driver speaks a guess. The configuration refuses them
unless the entry says ``unverified = true`` (``kiosk.config``), and the driver logs
``device.unverified_protocol`` when it is built.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from devices.drivers.and_bp import AndBloodPressureMonitor
from devices.drivers.ble_blood_pressure import BleBloodPressureMonitor
from devices.drivers.ble_instrument import BleBackend, BleInstrument
from devices.drivers.ble_pulse_oximeter import BlePulseOximeter
from devices.drivers.ble_thermometer import BleThermometer
from devices.drivers.cms50 import Cms50LegacyOximeter, Cms50RealtimeOximeter
from devices.drivers.ir_thermometer import IrThermometer
from devices.drivers.nonin import NoninAsciiOximeter, NoninDf8Oximeter
from devices.drivers.serial_instrument import SerialInstrument
from devices.errors import DeviceError
from devices.instrument import Instrument
from devices.models import PAIRING_MODELS, UNVERIFIED_MODELS, resolve_model
from devices.reading import ReadingKind

log = logging.getLogger(__name__)

KINDS = {
    "blood_pressure": ReadingKind.BLOOD_PRESSURE,
    "thermometer": ReadingKind.TEMPERATURE,
    "pulse_oximeter": ReadingKind.PULSE_OXIMETRY,
}

SERIAL_MODELS: dict[str, type[SerialInstrument]] = {
    "cms50d-plus": Cms50LegacyOximeter,  # the old generation, 19200 baud, streams
    "cms50d-plus-new": Cms50RealtimeOximeter,  # the new one, 115200 baud, on request
    "nonin-ascii": NoninAsciiOximeter,
    "nonin-9560": NoninDf8Oximeter,  # Onyx II 9560, Data Format 8 on its Bluetooth serial port
    "and-ua767": AndBloodPressureMonitor,
    "ir-uart": IrThermometer,
}
BLE_MODELS: dict[str, type[BleInstrument]] = {
    "bps": BleBloodPressureMonitor,  # any cuff of the Blood Pressure Profile
    "hts": BleThermometer,  # Health Thermometer Profile
    "plxs": BlePulseOximeter,  # Pulse Oximeter Profile
}


class ConfigurationRefused(DeviceError):
    """An instrument entry names a model the cabin cannot drive."""


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    id: str
    kind: str  # blood_pressure | thermometer | pulse_oximeter
    transport: str  # serial | ble
    address: str  # a serial device path, a BLE address or advertised name
    model: str = ""  # empty: the default model for the kind and transport

    @property
    def resolved_model(self) -> str:
        return resolve_model(self.kind, self.transport, self.model)


def build_instrument(spec: InstrumentSpec, *, ble_backend: BleBackend | None = None) -> Instrument:
    model = spec.resolved_model
    models: dict[str, type[SerialInstrument]] | dict[str, type[BleInstrument]]
    models = SERIAL_MODELS if spec.transport == "serial" else BLE_MODELS
    driver = models.get(model)
    if driver is None:
        known = ", ".join(sorted(models))
        raise ConfigurationRefused(
            f"instrument {spec.id!r}: no {spec.transport} model {model!r} (known: {known})"
        )
    if driver.kind is not KINDS.get(spec.kind):
        raise ConfigurationRefused(
            f"instrument {spec.id!r}: model {model!r} measures {driver.kind.value}, not {spec.kind}"
        )
    if model in UNVERIFIED_MODELS:
        log.warning("device.unverified_protocol device=%s model=%s", spec.id, model)
    if issubclass(driver, BleInstrument):
        return driver(spec.id, spec.address, backend=ble_backend, pair=model in PAIRING_MODELS)
    return driver(spec.id, spec.address)


def build_instruments(
    specs: Iterable[InstrumentSpec], *, ble_backend: BleBackend | None = None
) -> dict[str, Instrument]:
    return {spec.id: build_instrument(spec, ble_backend=ble_backend) for spec in specs}

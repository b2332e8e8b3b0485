"""The three BLE instruments on the virtual radio, each serving its Bluetooth SIG profile.

Like the real ones, they measure when their button is pressed: ``press_button()``, or by
themselves ``auto_press_s`` seconds after the cabin subscribes to their measurement (the
patient pressing the button the screen pointed to). The cuff notifies its rising pressure
(0x2A36), indicates the result (0x2A35) and drops the link, as an A&D UA-651BLE does; in
``stored_burst`` mode it indicates the readings it kept in memory right after the subscription.
Faults are committed on the device side, in the bytes it sends.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import math
import random
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Any

from devices.cancellation import cancel_and_wait
from devices.protocols import gatt
from devices.protocols.bp_quirks import BEURER_BM85, STRICT
from devices.protocols.ieee11073 import decode_date_time
from simulators.ble.peripheral import GattCharacteristic, GattService, VirtualPeripheral
from simulators.faults import Fault
from simulators.scenarios import Body, Physiology, Scenario

log = logging.getLogger(__name__)

READ = frozenset({"read"})
NOTIFY = frozenset({"notify"})
INDICATE = frozenset({"indicate"})


class BleInstrumentSimulator(abc.ABC):
    measurement_uuid: str
    default_name: str
    manufacturer_name = "Cabin Simulators"  # Device Information 0x2A29
    model_number: str | None = None  # 0x2A24; None: the simulator's class name

    def __init__(
        self,
        address: str,
        name: str | None = None,
        *,
        scenario: Scenario = Scenario.NORMAL,
        faults: frozenset[Fault] = frozenset(),
        time_scale: float = 1.0,
        auto_press_s: float | None = 1.0,
        pairing_required: bool = False,
        seed: int | None = None,
    ) -> None:
        self.body = Body(scenario, seed)
        self.faults = set(faults)
        self.time_scale = time_scale
        self.auto_press_s = auto_press_s
        self._rng = random.Random(seed)  # noqa: S311 - simulation, not secrets
        self._measuring: asyncio.Task[None] | None = None
        self._pressing: asyncio.Task[None] | None = None
        self.measurements = 0
        self.clock_set_to: datetime | None = None
        self.peripheral = VirtualPeripheral(
            address,
            name or self.default_name,
            [*self._profile(), *self._common_services()],
            pairing_required=pairing_required,
        )

    # --- what the subclasses define ----------------------------------------------------------
    @abc.abstractmethod
    def _profile(self) -> list[GattService]:
        """The instrument's own GATT services (its Bluetooth SIG profile)."""

    @abc.abstractmethod
    async def _measure(self) -> None:
        """One measurement, as the device sends it."""

    # --- the patient and the device ------------------------------------------------------------
    def press_button(self) -> None:
        """The patient presses the device's start button."""
        if self._measuring is None or self._measuring.done():
            self._measuring = asyncio.get_running_loop().create_task(self._run_measurement())

    @property
    def battery_percent(self) -> int:
        return 8 if Fault.LOW_BATTERY in self.faults else 85

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds * self.time_scale)

    async def send(self, char_uuid: str, value: bytes) -> None:
        """Send a measurement as the faults shape it."""
        if Fault.SILENCE in self.faults:
            return
        if Fault.GARBAGE in self.faults:
            value = self._rng.randbytes(len(value))
        elif Fault.TRUNCATED in self.faults:
            value = value[: max(1, len(value) // 2)]
        await self.peripheral.notify(char_uuid, value)

    async def close(self) -> None:
        for task in (self._measuring, self._pressing):
            if task is not None:
                await cancel_and_wait(task)

    async def _run_measurement(self) -> None:
        self.measurements += 1
        try:
            await self._measure()
        except asyncio.CancelledError:
            raise
        except ConnectionError:  # the cabin went away mid-measurement
            log.info("ble_sim.measurement_interrupted name=%s", self.peripheral.name)

    def _on_subscribe(self, enabled: bool) -> Awaitable[None] | None:
        if enabled and Fault.DROP_ON_START in self.faults:  # before any measurement
            self.faults.discard(Fault.DROP_ON_START)
            log.info("ble_sim.drop_on_start name=%s", self.peripheral.name)
            self.peripheral.drop_links("link lost as the measurement was asked for")
            return None
        if enabled and self.auto_press_s is not None:
            self._pressing = asyncio.get_running_loop().create_task(self._press_later())
        return None

    async def _press_later(self) -> None:
        assert self.auto_press_s is not None
        await self.sleep(self.auto_press_s)
        self.press_button()

    def _device_time(self) -> datetime:
        """The device's clock: what the cabin wrote to it, run on since; 2000-01-01 if never."""
        return self.clock_set_to or datetime(2000, 1, 1)

    def _on_date_time(self, value: bytes) -> None:
        self.clock_set_to = decode_date_time(value)

    def _common_services(self) -> list[GattService]:
        info = [
            (gatt.MANUFACTURER_NAME, gatt.encode_utf8_string(self.manufacturer_name)),
            (gatt.MODEL_NUMBER, gatt.encode_utf8_string(self.model_number or type(self).__name__)),
            (gatt.SERIAL_NUMBER, self.peripheral_serial().encode()),
            (gatt.FIRMWARE_REVISION, b"1.0.0"),
        ]
        return [
            GattService(
                gatt.DEVICE_INFORMATION_SERVICE,
                [GattCharacteristic(uuid, READ, value) for uuid, value in info],
            ),
            GattService(
                gatt.BATTERY_SERVICE,
                [
                    GattCharacteristic(
                        gatt.BATTERY_LEVEL,
                        frozenset({"read", "notify"}),
                        gatt.encode_battery_level(self.battery_percent),
                    )
                ],
            ),
        ]

    def peripheral_serial(self) -> str:
        return f"SIM-{self._rng.randrange(10**6):06d}"

    def refresh_battery(self) -> None:
        self.peripheral.set_value(
            gatt.BATTERY_LEVEL, gatt.encode_battery_level(self.battery_percent)
        )


class BleBloodPressureSimulator(BleInstrumentSimulator):
    measurement_uuid = gatt.BLOOD_PRESSURE_MEASUREMENT
    default_name = "SIM-BP"
    quirks = STRICT  # the shape of its Blood Pressure Measurement
    user_id = 1

    def __init__(
        self,
        address: str,
        name: str | None = None,
        *,
        stored_burst: bool = False,
        pairing_required: bool = True,  # a real cuff must be paired
        **kwargs: Any,
    ) -> None:
        self.stored: list[Physiology] = []
        self.stored_burst = stored_burst
        super().__init__(address, name, pairing_required=pairing_required, **kwargs)

    def _profile(self) -> list[GattService]:
        features = frozenset(gatt.BpFeature)
        return [
            GattService(
                gatt.BLOOD_PRESSURE_SERVICE,
                [
                    GattCharacteristic(
                        gatt.BLOOD_PRESSURE_MEASUREMENT, INDICATE, on_subscribe=self._subscribed
                    ),
                    GattCharacteristic(gatt.INTERMEDIATE_CUFF_PRESSURE, NOTIFY),
                    GattCharacteristic(
                        gatt.BLOOD_PRESSURE_FEATURE, READ, gatt.encode_bp_feature(features)
                    ),
                    GattCharacteristic(
                        gatt.DATE_TIME,
                        frozenset({"read", "write"}),
                        on_write=self._on_date_time,
                    ),
                ],
            )
        ]

    def _subscribed(self, enabled: bool) -> Awaitable[None] | None:
        if enabled and self.stored_burst and self.stored:
            return self._burst()
        return self._on_subscribe(enabled)

    async def _burst(self) -> None:
        """Readings taken earlier on the cuff, indicated one after the other, then goodbye."""
        when = self._device_time() - timedelta(minutes=10 * (len(self.stored) + 1))
        for body in self.stored:
            when += timedelta(minutes=10)
            await self.send(gatt.BLOOD_PRESSURE_MEASUREMENT, self._result(body, when))
        self.stored.clear()
        await self.sleep(0.2)
        await self.peripheral.disconnect_all()

    async def _measure(self) -> None:
        body = self.body.sample()
        top = body.systolic_mmhg + 30
        pressure = 0.0
        while pressure < top:  # inflating
            pressure = min(top, pressure + 20)
            await self._cuff(pressure)
        while pressure > body.diastolic_mmhg - 10:  # deflating, the monitor listening
            pressure -= 6
            await self._cuff(pressure)
        await self.send(gatt.BLOOD_PRESSURE_MEASUREMENT, self._result(body, self._device_time()))
        await self.sleep(0.5)
        await self.peripheral.disconnect_all()  # the cuff hangs up once it has said its piece

    async def _cuff(self, pressure: float) -> None:
        if Fault.SILENCE not in self.faults:
            cuff = gatt.BloodPressureMeasurement(round(pressure), math.nan, math.nan, "mmHg")
            await self.peripheral.notify(
                gatt.INTERMEDIATE_CUFF_PRESSURE, gatt.encode_blood_pressure_measurement(cuff)
            )
        await self.sleep(0.1)

    def _result(self, body: Physiology, when: datetime) -> bytes:
        status: set[gatt.BpStatus] = set()
        systolic, diastolic = body.systolic_mmhg, body.diastolic_mmhg
        if body.moving:
            status.add(gatt.BpStatus.BODY_MOVEMENT)
        if body.irregular_pulse:
            status.add(gatt.BpStatus.IRREGULAR_PULSE)
        if Fault.CUFF_ERROR in self.faults:
            status.add(gatt.BpStatus.CUFF_TOO_LOOSE)
            systolic = diastolic = math.nan
        if Fault.OUT_OF_RANGE in self.faults:
            systolic, diastolic = 390, 370
        mean = math.nan if math.isnan(systolic) else round(diastolic + (systolic - diastolic) / 3)
        if self.quirks.zero_mean_arterial_is_absent:
            mean = math.nan  # such a cuff sends none
        measurement = gatt.BloodPressureMeasurement(
            systolic,
            diastolic,
            mean,
            "mmHg",
            timestamp=when,
            pulse_rate_bpm=None if math.isnan(systolic) else body.pulse_bpm,
            user_id=self.user_id,
            status=frozenset(status),
        )
        return gatt.encode_blood_pressure_measurement(measurement, quirks=self.quirks)


class BeurerBm85Simulator(BleBloodPressureSimulator):
    """A cuff shaped like a Beurer BM85: its Device Information names it, and its Blood
    Pressure Measurement breaks the profile as the BM85's does (pulse rate and status
    big-endian, the user id byte without its flag, MAP 0, flag bit 6 set; see
    :mod:`devices.protocols.bp_quirks`). Everything else is the standard cuff's."""

    default_name = "BM85"
    manufacturer_name = "Beurer"
    model_number = "BM85"
    quirks = BEURER_BM85
    user_id = 0


class BleThermometerSimulator(BleInstrumentSimulator):
    measurement_uuid = gatt.TEMPERATURE_MEASUREMENT
    default_name = "SIM-THERMO"

    def _profile(self) -> list[GattService]:
        return [
            GattService(
                gatt.HEALTH_THERMOMETER_SERVICE,
                [
                    GattCharacteristic(
                        gatt.TEMPERATURE_MEASUREMENT, INDICATE, on_subscribe=self._on_subscribe
                    ),
                    GattCharacteristic(gatt.INTERMEDIATE_TEMPERATURE, NOTIFY),
                    GattCharacteristic(
                        gatt.TEMPERATURE_TYPE,
                        READ,
                        gatt.encode_temperature_type(gatt.TemperatureType.EAR),
                    ),
                    GattCharacteristic(
                        gatt.DATE_TIME, frozenset({"read", "write"}), on_write=self._on_date_time
                    ),
                ],
            )
        ]

    async def _measure(self) -> None:
        target = self.body.sample().temperature_c
        if Fault.OUT_OF_RANGE in self.faults:
            target = 47.5
        for step in (0.7, 0.9, 0.97):
            value = round(30 + (target - 30) * step, 1)
            if Fault.SILENCE not in self.faults:
                interim = gatt.TemperatureMeasurement(value, "C")
                await self.peripheral.notify(
                    gatt.INTERMEDIATE_TEMPERATURE, gatt.encode_temperature_measurement(interim)
                )
            await self.sleep(0.3)
        final = gatt.TemperatureMeasurement(
            target, "C", self._device_time(), gatt.TemperatureType.EAR
        )
        await self.send(gatt.TEMPERATURE_MEASUREMENT, gatt.encode_temperature_measurement(final))


class BlePulseOximeterSimulator(BleInstrumentSimulator):
    measurement_uuid = gatt.PLX_CONTINUOUS_MEASUREMENT
    default_name = "SIM-OXI"

    def _profile(self) -> list[GattService]:
        features = gatt.PlxFeatures(
            frozenset({gatt.PlxFeature.SPOT_CHECK_TIMESTAMP}),
            frozenset(gatt.PlxMeasurementStatus),
            frozenset(gatt.PlxDeviceStatus),
        )
        return [
            GattService(
                gatt.PULSE_OXIMETER_SERVICE,
                [
                    GattCharacteristic(
                        gatt.PLX_CONTINUOUS_MEASUREMENT, NOTIFY, on_subscribe=self._on_subscribe
                    ),
                    GattCharacteristic(gatt.PLX_SPOT_CHECK_MEASUREMENT, INDICATE),
                    GattCharacteristic(gatt.PLX_FEATURES, READ, gatt.encode_plx_features(features)),
                ],
            )
        ]

    async def _measure(self) -> None:
        """Stream once a second for as long as someone listens (a finger-clip oximeter)."""
        while self.peripheral.is_subscribed(gatt.PLX_CONTINUOUS_MEASUREMENT):
            body = self.body.sample()
            device: set[gatt.PlxDeviceStatus] = set()
            spo2, pulse = body.spo2_percent, body.pulse_bpm
            if Fault.NO_FINGER in self.faults:
                device.add(gatt.PlxDeviceStatus.SENSOR_NOT_ON_USER)
                spo2 = pulse = math.nan
            if body.moving:
                pulse += self._rng.randint(-30, 30)
                device.add(gatt.PlxDeviceStatus.ERRATIC_SIGNAL)
            if Fault.OUT_OF_RANGE in self.faults:
                spo2, pulse = 100, 340
            sample = gatt.PlxContinuous(spo2, pulse, device_status=frozenset(device))
            await self.send(gatt.PLX_CONTINUOUS_MEASUREMENT, gatt.encode_plx_continuous(sample))
            await self.sleep(1.0)

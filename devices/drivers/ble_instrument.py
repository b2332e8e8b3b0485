"""What every BLE instrument driver shares: finding the device, connecting through bleak,
subscribing for a measurement, and noticing when the device hangs up.

The cabin reaches Bluetooth only through ``bleak.BleakClient`` and ``BleakScanner``; the backend
(BlueZ on a cabin, the virtual radio without hardware) is chosen by the composition root and
handed in as a ``BleBackend``. The driver subscribes to the measurement characteristics only
while a measurement runs, as the screen asked for it.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError

from devices.cancellation import within
from devices.errors import DecodeError, TransportError
from devices.instrument import Backoff, Failure, Instrument, ProbeResult, Problem
from devices.protocols import gatt
from devices.protocols.ieee11073 import encode_date_time
from devices.reading import ReadingKind

log = logging.getLogger(__name__)

_MAC = re.compile(r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$")
LOW_BATTERY_PERCENT = 20
DISCONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 5.0  # one read of a characteristic at connection (Device Information)


@dataclass(frozen=True)
class BleBackend:
    """Which bleak backend to use; None means bleak's default for the platform (BlueZ)."""

    client: type[BaseBleakClient] | None = None
    scanner: type[BaseBleakScanner] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeviceInformation:
    """What the device says it is (Device Information 0x180A), read at each connection; None
    for a string it does not give (or gives unreadable)."""

    manufacturer: str | None
    model: str | None


@dataclass(frozen=True, slots=True)
class FoundDevice:
    """A health device heard advertising: what the assistant's pairing list shows."""

    address: str
    name: str | None
    rssi: int | None
    kinds: frozenset[ReadingKind]


SERVICE_KINDS = {
    gatt.BLOOD_PRESSURE_SERVICE: ReadingKind.BLOOD_PRESSURE,
    gatt.HEALTH_THERMOMETER_SERVICE: ReadingKind.TEMPERATURE,
    gatt.PULSE_OXIMETER_SERVICE: ReadingKind.PULSE_OXIMETRY,
}


async def scan_health_devices(backend: BleBackend, duration_s: float) -> list[FoundDevice]:
    """Listen for ``duration_s``: every device advertising a health profile, nearest first."""
    found: dict[str, FoundDevice] = {}

    def detected(device: BLEDevice, advertisement: AdvertisementData) -> None:
        kinds = frozenset(
            SERVICE_KINDS[uuid] for uuid in advertisement.service_uuids if uuid in SERVICE_KINDS
        )
        if kinds:
            name = advertisement.local_name or device.name
            found[device.address] = FoundDevice(device.address, name, advertisement.rssi, kinds)

    scanner = BleakScanner(detected, backend=backend.scanner, **backend.options)
    try:
        await scanner.start()
        try:
            await asyncio.sleep(duration_s)
        finally:
            await scanner.stop()
    except (BleakError, OSError) as exc:
        raise TransportError(f"cannot scan for Bluetooth devices ({exc})") from exc
    return sorted(found.values(), key=lambda d: -(d.rssi if d.rssi is not None else -999))


class BleInstrument(Instrument):
    measurement_characteristics: tuple[str, ...] = ()
    writes_date_time = False

    def __init__(
        self,
        device_id: str,
        address: str,
        *,
        backend: BleBackend | None = None,
        pair: bool = False,
        scan_timeout_s: float = 5.0,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(device_id, backoff=backoff)
        self.address = address
        self._backend = backend or BleBackend()
        self._pair = pair
        self._scan_timeout_s = scan_timeout_s
        self._client: BleakClient | None = None
        self._hung_up = asyncio.Event()
        self._subscribed: list[str] = []
        self._heard = False  # the device has sent something for the measurement under way
        self.device_information: DeviceInformation | None = None

    # --- the link ----------------------------------------------------------------------------
    async def _connect(self) -> None:
        device = await self._find()
        self._hung_up = asyncio.Event()
        client = BleakClient(
            device,
            disconnected_callback=lambda _client: self._hung_up.set(),
            backend=self._backend.client,
            **self._backend.options,
        )
        try:
            await client.connect()
            if self._pair:
                await client.pair()
            await self._prepare(client)
        except (BleakError, TimeoutError, OSError) as exc:
            with contextlib.suppress(BleakError, TimeoutError, OSError):
                await client.disconnect()
            raise TransportError(f"{self.device_id}: cannot connect ({exc})") from exc
        self._client = client

    async def _find(self) -> BLEDevice:
        found: asyncio.Future[BLEDevice] = asyncio.get_running_loop().create_future()
        by_address = bool(_MAC.match(self.address))

        def detected(device: BLEDevice, advertisement: AdvertisementData) -> None:
            name = advertisement.local_name or device.name
            matches = (
                device.address.upper() == self.address.upper()
                if by_address
                else name == self.address
            )
            if matches and not found.done():
                found.set_result(device)

        scanner = BleakScanner(detected, backend=self._backend.scanner, **self._backend.options)
        try:
            await scanner.start()
            try:
                return await within(found, self._scan_timeout_s)
            finally:
                await scanner.stop()
        except TimeoutError:
            raise TransportError(f"{self.device_id}: {self.address} is not advertising") from None
        except (BleakError, OSError) as exc:
            raise TransportError(f"{self.device_id}: cannot scan ({exc})") from exc

    async def _prepare(self, client: BleakClient) -> None:
        """Once connected: read what the device is, set its clock, read its battery."""
        self.device_information = DeviceInformation(
            await self._read_string(client, gatt.MANUFACTURER_NAME),
            await self._read_string(client, gatt.MODEL_NUMBER),
        )
        if self.writes_date_time and client.services.get_characteristic(gatt.DATE_TIME):
            await client.write_gatt_char(gatt.DATE_TIME, encode_date_time(datetime.now()), True)
        if client.services.get_characteristic(gatt.BATTERY_LEVEL):
            try:
                percent = gatt.decode_battery_level(
                    bytes(await client.read_gatt_char(gatt.BATTERY_LEVEL))
                )
            except DecodeError:
                log.warning("device.bad_battery_level device=%s", self.device_id)
            else:
                self._set_status(battery_percent=percent)

    async def _read_string(self, client: BleakClient, uuid: str) -> str | None:
        if not client.services.get_characteristic(uuid):
            return None
        try:
            value = await within(client.read_gatt_char(uuid), READ_TIMEOUT_S)
            return gatt.decode_utf8_string(bytes(value))
        except DecodeError:
            log.warning("device.bad_device_information device=%s char=%s", self.device_id, uuid)
            return None

    async def _serve(self) -> None:
        await self._hung_up.wait()

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        self._subscribed.clear()
        if client is not None and client.is_connected:
            with contextlib.suppress(BleakError, TimeoutError, OSError):
                # bounded: a device (or radio) that never answers must not hold the cabin's
                # shutdown, nor the reconnection
                await within(client.disconnect(), DISCONNECT_TIMEOUT_S)

    # --- the self-test's probe -----------------------------------------------------------------
    async def probe(self, timeout_s: float) -> ProbeResult:
        """Connected, and a read answered: the battery level where the device has one (it is
        then known afresh), else its manufacturer's name (Device Information)."""
        if not await self.wait_connected(timeout_s):
            return ProbeResult(False, self._not_connected_detail(timeout_s), self.battery_percent)
        client = self._client
        if client is None or not client.is_connected:
            return ProbeResult(False, "the link dropped during the probe", self.battery_percent)
        try:
            if client.services.get_characteristic(gatt.BATTERY_LEVEL):
                data = await within(client.read_gatt_char(gatt.BATTERY_LEVEL), timeout_s)
                percent = gatt.decode_battery_level(bytes(data))
                self._set_status(battery_percent=percent)
                return ProbeResult(True, f"connected; battery {percent} %", percent)
            if client.services.get_characteristic(gatt.MANUFACTURER_NAME):
                data = await within(client.read_gatt_char(gatt.MANUFACTURER_NAME), timeout_s)
                name = gatt.decode_utf8_string(bytes(data))
                return ProbeResult(True, f"connected; device information read ({name})")
        except TimeoutError:
            return ProbeResult(False, f"connected, but a read got no answer in {timeout_s:.0f} s")
        except (BleakError, OSError) as exc:
            return ProbeResult(False, f"connected, but a read failed ({exc})"[:300])
        except DecodeError as exc:
            return ProbeResult(False, f"connected, but it answered garbage ({exc})"[:300])
        return ProbeResult(True, "connected (the device offers no battery nor information to read)")

    # --- a measurement -------------------------------------------------------------------------
    def _reset_measurement(self) -> None:
        self._heard = False

    def _has_progressed(self) -> bool:
        # Heard is progress, emitted or not (a cuff's pressure skipped, a reading kept in its
        # memory). Not heard: it hung up before measuring (a cuff after its last result, or a
        # link that dropped): the measurement starts again once it is back.
        return self._heard or super()._has_progressed()

    async def _begin_measurement(self) -> None:
        client = self._client
        if client is None:
            raise TransportError(f"{self.device_id}: not connected")
        try:
            for uuid in self.measurement_characteristics:
                await client.start_notify(uuid, self._receiver(uuid))
                self._subscribed.append(uuid)
        except (BleakError, TimeoutError, OSError) as exc:
            raise TransportError(f"{self.device_id}: cannot subscribe ({exc})") from exc

    async def _end_measurement(self) -> None:
        client = self._client
        for uuid in self._subscribed:
            if client is not None and client.is_connected:
                with contextlib.suppress(BleakError, TimeoutError, OSError):
                    await client.stop_notify(uuid)
        self._subscribed.clear()

    def _receiver(self, uuid: str) -> Callable[[BleakGATTCharacteristic, bytearray], None]:
        def receive(_characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
            self._heard = True
            try:
                self._on_value(uuid, bytes(data))
            except DecodeError as exc:
                log.warning(
                    "device.undecodable device=%s char=%s error=%s", self.device_id, uuid, exc
                )
                self._on_undecodable(uuid)

        return receive

    @abc.abstractmethod
    def _on_value(self, uuid: str, data: bytes) -> None:
        """Decode a value of one of ``measurement_characteristics`` (each profile its own)."""

    def _on_undecodable(self, uuid: str) -> None:
        """A measurement the driver cannot read must not pass for one: it fails, to be retried."""
        self._emit(Failure(Problem.DEVICE_ERROR, "the device sent an unreadable measurement"))

    async def rebind(self, address: str) -> None:
        """Talk to another device from now on (the assistant paired a new cuff)."""
        await self.close()
        self.address = address
        await self.start()

    async def forget(self) -> None:
        """Remove the bond with the device, if it is connected now."""
        client = self._client
        if client is not None and client.is_connected:
            # Some bleak backends cannot unpair (Core Bluetooth raises NotImplementedError):
            # the bond then stays in the OS; the cabin forgets the address all the same.
            with contextlib.suppress(BleakError, TimeoutError, OSError, NotImplementedError):
                await within(client.unpair(), DISCONNECT_TIMEOUT_S)

    @property
    def low_battery(self) -> bool:
        return self.battery_percent is not None and self.battery_percent < LOW_BATTERY_PERCENT

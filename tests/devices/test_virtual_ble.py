"""The real ``bleak.BleakClient``/``BleakScanner`` over the virtual radio, end to end.

Each test runs its own event loop (``run``), serves a ``VirtualRadio`` on a short temporary
Unix socket, and checks at the end that no task is left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import msgspec
import pytest
from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bleak.uuids import normalize_uuid_16
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.cancellation import within
from devices.errors import DecodeError
from devices.protocols import radio_link
from devices.protocols.radio_link import AttErrorCode
from devices.transports.virtual_ble import (
    RADIO_PATH_ENV,
    VirtualBleakClient,
    VirtualBleakScanner,
    VirtualDeviceDetails,
    VirtualRadioError,
)
from simulators.ble.peripheral import (
    GattCharacteristic,
    GattRefused,
    GattService,
    VirtualPeripheral,
)
from simulators.ble.radio import VirtualRadio

# Hypothesis times each example (200 ms) and its data generation: no clock may fail a test.
UNTIMED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
THERMO = "C0:FF:EE:00:00:01"
OXI = "C0:FF:EE:00:00:02"
HTS = normalize_uuid_16(0x1809)
TEMPERATURE_MEASUREMENT = normalize_uuid_16(0x2A1C)
INTERMEDIATE_TEMPERATURE = normalize_uuid_16(0x2A1E)
DATE_TIME = normalize_uuid_16(0x2A08)
BATTERY_LEVEL = normalize_uuid_16(0x2A19)
MANUFACTURER = normalize_uuid_16(0x2A29)
MODEL = normalize_uuid_16(0x2A24)
CCCD = normalize_uuid_16(0x2902)
PATIENCE_S = 30.0
"""How long a test waits for what the virtual radio does in milliseconds: only a real failure
(or a hang) runs into it, never a loaded machine. Latencies are measured in
``bench/bench_devices.py``."""
MEASUREMENT_36_6 = bytes.fromhex("066e0100ffe807030f0a1e0006")  # PROTOCOLS.md §2 example


def run(test: Callable[[], Awaitable[None]], timeout_s: float = 2 * PATIENCE_S) -> None:
    """Run one test in a fresh loop; fail if it hangs or leaves a task behind."""

    async def main() -> None:
        async with asyncio.timeout(timeout_s):
            await test()
        for _ in range(3):
            await asyncio.sleep(0)
        current = asyncio.current_task()
        leftover = [t for t in asyncio.all_tasks() if t is not current]
        assert leftover == [], f"tasks left running: {leftover}"

    asyncio.run(main())


@pytest.fixture
def radio_path() -> Iterator[Path]:
    # pytest's tmp_path can exceed the 107 bytes a Unix socket path may have
    folder = Path(tempfile.mkdtemp(prefix="radio", dir="/tmp"))
    yield folder / "radio.sock"
    shutil.rmtree(folder, ignore_errors=True)


class Thermometer:
    """A Health Thermometer-like peripheral that records what the cabin does to it."""

    def __init__(self, address: str = THERMO, name: str = "VirtualThermo", **kwargs: object):
        self.written: list[bytes] = []
        self.subscriptions: list[bool] = []
        services = [
            GattService(
                "1809",
                [
                    GattCharacteristic(
                        "2a1c", frozenset({"indicate"}), on_subscribe=self.subscriptions.append
                    ),
                    GattCharacteristic("2a1e", frozenset({"notify"})),
                    GattCharacteristic(
                        "2a08",
                        frozenset({"read", "write", "write-without-response"}),
                        value=bytes(7),
                        on_write=self.written.append,
                    ),
                ],
            ),
            GattService("180f", [GattCharacteristic("2a19", frozenset({"read"}), value=b"\x5a")]),
            GattService(
                "180a",
                [
                    GattCharacteristic("2a29", frozenset({"read"}), value=b"Cabin Labs"),
                    GattCharacteristic("2a24", frozenset({"read"}), value="TH-1 é".encode()),
                ],
            ),
        ]
        self.peripheral = VirtualPeripheral(
            address,
            name,
            services,
            manufacturer_data={0xFFFF: b"\x01\x02"},
            rssi=-61,
            **kwargs,  # type: ignore[arg-type]
        )


def oximeter(address: str = OXI) -> VirtualPeripheral:
    return VirtualPeripheral(
        address,
        "VirtualOxi",
        [
            GattService(
                "1822",
                [GattCharacteristic("2a5f", frozenset({"notify"}))],
            )
        ],
    )


async def until(predicate: Callable[[], bool], what: str) -> None:
    """Wait for what the radio delivers on its own time; fail, saying what, after a long while."""
    try:
        async with asyncio.timeout(PATIENCE_S):
            while not predicate():  # noqa: ASYNC110 - the peripheral's record, no event to wait on
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"timed out after {PATIENCE_S} s waiting for {what}") from None


async def discover_until(
    want: set[str], service_uuids: list[str] | None = None
) -> tuple[dict[str, tuple[BLEDevice, AdvertisementData]], set[str]]:
    """Scan 0.35 s at a time until one scan heard every address of ``want`` (a short scan on a
    busy machine may hear no advertisement of one): that scan, and every address any scan
    heard (for the test to check that no scan heard what it must not)."""
    heard: set[str] = set()
    deadline = asyncio.get_running_loop().time() + PATIENCE_S
    while True:
        if service_uuids is None:
            found = await BleakScanner.discover(
                timeout=0.35, return_adv=True, backend=VirtualBleakScanner
            )
        else:
            found = await BleakScanner.discover(
                timeout=0.35,
                return_adv=True,
                service_uuids=service_uuids,
                backend=VirtualBleakScanner,
            )
        heard |= set(found)
        if want <= set(found):
            return found, heard
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no scan heard all of {want} in {PATIENCE_S} s: {heard}")


class Received:
    """A notification callback that keeps the values and lets a test wait for a count."""

    def __init__(self) -> None:
        self.values: list[bytes] = []
        self.senders: list[str] = []
        self._changed = asyncio.Event()

    def __call__(self, sender: BleakGATTCharacteristic, data: bytearray) -> None:
        assert isinstance(data, bytearray)  # what bleak promises its callbacks
        self.senders.append(sender.uuid)
        self.values.append(bytes(data))
        self._changed.set()

    async def wait_for(self, count: int, timeout_s: float = PATIENCE_S) -> None:
        async with asyncio.timeout(timeout_s):
            while len(self.values) < count:
                self._changed.clear()
                await self._changed.wait()


def client_for(
    target: str | BLEDevice, path: Path, **kwargs: object
) -> tuple[BleakClient, asyncio.Event]:
    lost = asyncio.Event()
    client = BleakClient(
        target,
        disconnected_callback=lambda _c: lost.set(),
        backend=VirtualBleakClient,
        radio_path=path,
        timeout=PATIENCE_S,
        **kwargs,  # type: ignore[arg-type]
    )
    return client, lost


# ---- the link format ---------------------------------------------------------------------------


@UNTIMED
@given(st.binary(max_size=600), st.integers(min_value=1, max_value=2**31))
def test_values_round_trip_exactly(value: bytes, request_id: int) -> None:
    frame = radio_link.encode_frame(
        radio_link.Write(id=request_id, handle=7, value=value, response=True)
    )
    length = radio_link.body_length(frame[: radio_link.HEADER_BYTES])
    assert length == len(frame) - radio_link.HEADER_BYTES
    message = radio_link.decode_central_message(frame[radio_link.HEADER_BYTES :])
    assert message == radio_link.Write(id=request_id, handle=7, value=value, response=True)


@UNTIMED
@given(st.binary(max_size=64))
def test_garbage_raises_decode_error(body: bytes) -> None:
    for decode in (radio_link.decode_central_message, radio_link.decode_radio_message):
        with contextlib.suppress(DecodeError):
            decode(body)


def test_bad_frames_raise_decode_error() -> None:
    with pytest.raises(DecodeError):
        radio_link.body_length(b"\x00\x00\x00\x00")
    with pytest.raises(DecodeError):
        radio_link.body_length(b"\xff\xff\xff\xff")
    with pytest.raises(DecodeError):
        radio_link.decode_radio_message(msgspec.msgpack.encode({"op": "write"}))
    # a central's message is not something the radio sends, and the other way round
    ok = radio_link.encode_frame(radio_link.Ok(id=1))[radio_link.HEADER_BYTES :]
    with pytest.raises(DecodeError):
        radio_link.decode_central_message(ok)
    advertisement = radio_link.Advertisement(
        address=THERMO, name="x", rssi=-40, manufacturer_data={0x1234: b"\x00\xff"}
    )
    body = radio_link.encode_frame(advertisement)[radio_link.HEADER_BYTES :]
    assert radio_link.decode_radio_message(body) == advertisement


def test_uuid_spellings() -> None:
    assert radio_link.normalize_uuid("2A1C") == TEMPERATURE_MEASUREMENT
    assert radio_link.normalize_uuid("0x2a1c") == TEMPERATURE_MEASUREMENT
    assert radio_link.normalize_uuid(TEMPERATURE_MEASUREMENT.upper()) == TEMPERATURE_MEASUREMENT
    with pytest.raises(ValueError, match="not a Bluetooth UUID"):
        radio_link.normalize_uuid("zz")


# ---- scanning ----------------------------------------------------------------------------------


def test_find_device_by_name_and_address(radio_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RADIO_PATH_ENV, str(radio_path))

    async def test() -> None:
        async with VirtualRadio(radio_path) as radio:
            radio.add(Thermometer().peripheral)
            device = await BleakScanner.find_device_by_name(
                "VirtualThermo", timeout=PATIENCE_S, backend=VirtualBleakScanner
            )
            assert device is not None
            assert device.address == THERMO
            assert device.name == "VirtualThermo"
            assert isinstance(device.details, VirtualDeviceDetails)
            assert device.details.radio_path == radio_path
            again = await BleakScanner.find_device_by_address(
                THERMO.lower(), timeout=PATIENCE_S, backend=VirtualBleakScanner
            )
            assert again is not None
            assert again.address == THERMO

    run(test)


def test_discover_filters_by_service_and_carries_advertising_data(
    radio_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RADIO_PATH_ENV, str(radio_path))

    async def test() -> None:
        async with VirtualRadio(radio_path) as radio:
            radio.add(Thermometer().peripheral)
            radio.add(oximeter())
            found, heard = await discover_until({THERMO}, service_uuids=[HTS])  # 128-bit, as
            assert list(found) == [THERMO] and heard == {THERMO}  # BlueZ's backend needs too
            device, advertisement = found[THERMO]
            assert device.name == "VirtualThermo"
            assert advertisement.local_name == "VirtualThermo"
            assert advertisement.service_uuids == [
                HTS,
                normalize_uuid_16(0x180F),
                normalize_uuid_16(0x180A),
            ]
            assert advertisement.manufacturer_data == {0xFFFF: b"\x01\x02"}
            assert advertisement.rssi == -61
            everything, heard = await discover_until({THERMO, OXI})
            assert sorted(everything) == [THERMO, OXI] and heard == {THERMO, OXI}

    run(test)


def test_detection_callback_with_radio_path_keyword(radio_path: Path) -> None:
    async def test() -> None:
        async with VirtualRadio(radio_path) as radio:
            radio.add(oximeter())
            seen: list[tuple[BLEDevice, AdvertisementData]] = []
            three = asyncio.Event()

            def detected(device: BLEDevice, advertisement: AdvertisementData) -> None:
                seen.append((device, advertisement))
                if len(seen) >= 3:  # it keeps advertising
                    three.set()

            scanner = BleakScanner(detected, backend=VirtualBleakScanner, radio_path=radio_path)
            async with scanner:
                await within(three.wait(), PATIENCE_S)
            count = len(seen)
            await asyncio.sleep(0.25)
            assert len(seen) == count  # nothing after stop
            assert {d.address for d, _ in seen} == {OXI}
            assert seen[0][1].service_uuids == [normalize_uuid_16(0x1822)]

    run(test)


# ---- connection and GATT -----------------------------------------------------------------------


def test_services_tree(radio_path: Path) -> None:
    async def test() -> None:
        async with VirtualRadio(radio_path) as radio:
            radio.add(Thermometer().peripheral)
            client, _lost = client_for(THERMO, radio_path)
            async with client:
                assert client.is_connected
                assert client.mtu_size == 247
                assert client.name == "VirtualThermo"
                services = client.services
                assert [s.uuid for s in services] == [
                    HTS,
                    normalize_uuid_16(0x180F),
                    normalize_uuid_16(0x180A),
                ]
                hts = services.get_service("1809")
                assert hts is not None
                assert [c.uuid for c in hts.characteristics] == [
                    TEMPERATURE_MEASUREMENT,
                    INTERMEDIATE_TEMPERATURE,
                    DATE_TIME,
                ]
                measurement = services.get_characteristic(TEMPERATURE_MEASUREMENT)
                assert measurement is not None
                assert measurement.properties == ["indicate"]
                assert [d.uuid for d in measurement.descriptors] == [CCCD]
                assert measurement.service_uuid == HTS
                date_time = services.get_characteristic(DATE_TIME)
                assert date_time is not None
                assert date_time.properties == ["read", "write-without-response", "write"]
                assert date_time.descriptors == []
                assert date_time.max_write_without_response_size == 244
                handles = [s.handle for s in services]
                handles += list(services.characteristics) + list(services.descriptors)
                assert len(handles) == len(set(handles))
            assert not client.is_connected

    run(test)


def test_service_filter(radio_path: Path) -> None:
    async def test() -> None:
        async with VirtualRadio(radio_path) as radio:
            radio.add(Thermometer().peripheral)
            client, _lost = client_for(THERMO, radio_path, services=["180f"])
            async with client:
                assert [s.uuid for s in client.services] == [normalize_uuid_16(0x180F)]

    run(test)


def test_connect_with_a_scanned_device_uses_its_radio(radio_path: Path) -> None:
    async def test() -> None:
        async with VirtualRadio(radio_path) as radio:
            radio.add(Thermometer().peripheral)
            async with BleakScanner(backend=VirtualBleakScanner, radio_path=radio_path) as scanner:
                async with asyncio.timeout(PATIENCE_S):
                    async with contextlib.aclosing(scanner.advertisement_data()) as advertised:
                        device, _adv = await anext(advertised)
            client = BleakClient(device, backend=VirtualBleakClient)  # no radio_path here
            async with client:
                assert await client.read_gatt_char(BATTERY_LEVEL) == bytearray(b"\x5a")

    run(test)


def test_read_and_write(radio_path: Path) -> None:
    async def test() -> None:
        async with VirtualRadio(radio_path) as radio:
            thermo = Thermometer()
            radio.add(thermo.peripheral)
            client, _lost = client_for(THERMO, radio_path)
            async with client:
                assert await client.read_gatt_char(BATTERY_LEVEL) == bytearray(b"\x5a")
                assert await client.read_gatt_char(MANUFACTURER) == bytearray(b"Cabin Labs")
                assert (await client.read_gatt_char(MODEL)).decode() == "TH-1 é"
                thermo.peripheral.set_value("2A19", b"\x07")
                assert await client.read_gatt_char("2a19") == bytearray(b"\x07")

                now = bytes.fromhex("e807030f0a1e00")
                await client.write_gatt_char(DATE_TIME, now, response=True)
                assert thermo.written == [now]
                assert await client.read_gatt_char(DATE_TIME) == bytearray(now)
                later = bytes.fromhex("e807030f0a1f00")
                await client.write_gatt_char(DATE_TIME, later, response=False)
                await client.read_gatt_char(BATTERY_LEVEL)  # requests are answered in order
                assert thermo.written == [now, later]

                with pytest.raises(BleakGATTProtocolError) as refused:
                    await client.write_gatt_char(BATTERY_LEVEL, b"\x01", response=True)
                assert refused.value.code == AttErrorCode.WRITE_NOT_PERMITTED
                assert "not allow write" in str(refused.value)
                with pytest.raises(BleakGATTProtocolError) as refused:
                    await client.read_gatt_char(INTERMEDIATE_TEMPERATURE)
                assert refused.value.code == AttErrorCode.READ_NOT_PERMITTED
                with pytest.raises(BleakGATTProtocolError) as refused:
                    await client.write_gatt_char(DATE_TIME, bytes(513), response=True)
                assert refused.value.code == AttErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH

    run(test)


def test_notify_and_stop_notify(radio_path: Path) -> None:
    async def test() -> None:
        async with VirtualRadio(radio_path) as radio:
            thermo = Thermometer()
            peripheral = thermo.peripheral
            radio.add(peripheral)
            client, _lost = client_for(THERMO, radio_path)
            received = Received()
            async with client:
                await client.start_notify(INTERMEDIATE_TEMPERATURE, received)
                assert peripheral.is_subscribed("2a1e")
                cccd = client.services.get_characteristic("2a1e").get_descriptor(CCCD)  # type: ignore[union-attr]
                assert cccd is not None
                assert await client.read_gatt_descriptor(cccd) == bytearray(b"\x01\x00")
                assert await peripheral.notify("2a1e", b"\x00\x6e\x01\x00\xff") == 1
                await received.wait_for(1)
                assert received.values == [b"\x00\x6e\x01\x00\xff"]
                assert received.senders == [INTERMEDIATE_TEMPERATURE]
                await client.stop_notify(INTERMEDIATE_TEMPERATURE)
                assert not peripheral.is_subscribed("2a1e")
                assert await peripheral.notify("2a1e", b"\x01") == 0
                await asyncio.sleep(0.05)
                assert len(received.values) == 1

    run(test)


def test_indication_is_confirmed(radio_path: Path) -> None:
    async def test() -> None:
        async with VirtualRadio(radio_path) as radio:
            thermo = Thermometer()
            peripheral = thermo.peripheral
            radio.add(peripheral)
            client, lost = client_for(THERMO, radio_path)
            received: list[bytearray] = []
            async with client:
                await client.start_notify(TEMPERATURE_MEASUREMENT, lambda _c, d: received.append(d))
                measurement = client.services.get_characteristic(TEMPERATURE_MEASUREMENT)
                assert measurement is not None
                cccd = measurement.get_descriptor(CCCD)
                assert cccd is not None
                assert await client.read_gatt_descriptor(cccd.handle) == bytearray(b"\x02\x00")
                # notify() returns once the central confirmed, so the value is already there
                assert await peripheral.notify("2a1c", MEASUREMENT_36_6) == 1
                assert received == [bytearray(MEASUREMENT_36_6)]
                await client.stop_notify(measurement)
                await until(lambda: len(thermo.subscriptions) == 2, "the unsubscription")
                assert thermo.subscriptions == [True, False]
            assert lost.is_set()  # like BlueZ, the callback also follows disconnect()

    run(test)


def test_burst_of_notifications_arrives_in_order(radio_path: Path) -> None:
    async def test() -> None:
        async with VirtualRadio(radio_path) as radio:
            peripheral = oximeter()
            radio.add(peripheral)
            client, _lost = client_for(OXI, radio_path)
            received = Received()
            sent = [i.to_bytes(2, "little") + bytes([i % 256] * (i % 20)) for i in range(500)]
            async with client:
                await client.start_notify("2a5f", received)
                for value in sent:
                    assert await peripheral.notify("2a5f", value) == 1
                await received.wait_for(len(sent))
            assert received.values == sent

    run(test)


def test_cuff_style_burst_of_indications_then_device_disconnects(radio_path: Path) -> None:
    """As a paired cuff does: readings as indications right after subscribing, then it hangs up."""

    async def test() -> None:
        readings = [bytes([0x1E, 0x78 + i, 0x00, 0x50, 0x00, 0x5D, 0x00]) for i in range(5)]
        delivered: list[int] = []

        async with VirtualRadio(radio_path) as radio:
            thermo = Thermometer(pairing_required=True)
            peripheral = thermo.peripheral

            async def send_stored(enabled: bool) -> None:
                if not enabled:
                    return
                for reading in readings:
                    delivered.append(await peripheral.notify("2a1c", reading))
                await peripheral.disconnect_all()

            peripheral.characteristic("2a1c").on_subscribe = send_stored
            radio.add(peripheral)
            client, lost = client_for(THERMO, radio_path, pair=True)
            received: list[bytearray] = []
            await client.connect()
            await client.write_gatt_char(DATE_TIME, bytes.fromhex("e807030f0a1e00"), response=True)
            await client.start_notify(TEMPERATURE_MEASUREMENT, lambda _c, d: received.append(d))
            await within(lost.wait(), PATIENCE_S)
            assert not client.is_connected
            assert [bytes(r) for r in received] == readings
            assert delivered == [1] * len(readings)
            assert peripheral.connected_centrals == 0
            await client.disconnect()  # harmless once the device has hung up

    run(test)


# ---- disconnections and faults -----------------------------------------------------------------


def test_peripheral_disconnect_fires_disconnected_callback(radio_path: Path) -> None:
    async def test() -> None:
        async with VirtualRadio(radio_path) as radio:
            peripheral = Thermometer().peripheral
            disconnects: list[str] = []
            peripheral.on_disconnect = lambda: disconnects.append("gone")
            radio.add(peripheral)
            client, lost = client_for(THERMO, radio_path)
            await client.connect()
            assert peripheral.connected_centrals == 1
            await peripheral.disconnect_all()
            await within(lost.wait(), PATIENCE_S)
            assert not client.is_connected
            with pytest.raises(BleakError):
                await client.read_gatt_char(BATTERY_LEVEL)
            assert disconnects == ["gone"]
            # the device advertises again and the cabin can come back
            lost.clear()
            await client.connect()
            assert await client.read_gatt_char(BATTERY_LEVEL) == bytearray(b"\x5a")
            await client.disconnect()
            assert lost.is_set()

    run(test)


def test_power_off_mid_subscription_is_a_link_loss(
    radio_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RADIO_PATH_ENV, str(radio_path))

    async def test() -> None:
        async with VirtualRadio(radio_path) as radio:
            thermo = Thermometer()
            peripheral = thermo.peripheral
            radio.add(peripheral)
            client, lost = client_for(THERMO, radio_path)
            await client.connect()
            await client.start_notify(TEMPERATURE_MEASUREMENT, lambda _c, _d: None)
            peripheral.powered = False
            await within(lost.wait(), PATIENCE_S)
            assert not client.is_connected
            await until(lambda: len(thermo.subscriptions) == 2, "the link loss's unsubscription")
            assert thermo.subscriptions == [True, False]
            assert (
                await BleakScanner.find_device_by_name(
                    "VirtualThermo", timeout=0.3, backend=VirtualBleakScanner
                )
                is None
            )
            with pytest.raises(BleakDeviceNotFoundError):
                await client.connect()
            peripheral.powered = True
            assert (
                await BleakScanner.find_device_by_name(
                    "VirtualThermo", timeout=PATIENCE_S, backend=VirtualBleakScanner
                )
                is not None
            )
            async with client:
                assert client.is_connected

    run(test)


def test_link_loss_knob(radio_path: Path) -> None:
    async def test() -> None:
        async with VirtualRadio(radio_path) as radio:
            radio.add(Thermometer().peripheral)
            client, lost = client_for(THERMO, radio_path)
            await client.connect()
            radio.set_link_loss(THERMO)
            await within(lost.wait(), PATIENCE_S)
            with pytest.raises(BleakDeviceNotFoundError, match="out of range"):
                await client.connect()
            radio.set_link_loss(THERMO, lost=False)
            async with client:
                assert await client.read_gatt_char(BATTERY_LEVEL) == bytearray(b"\x5a")

    run(test)


def test_radio_stopping_disconnects_the_client(radio_path: Path) -> None:
    async def test() -> None:
        radio = VirtualRadio(radio_path)
        await radio.start()
        radio.add(Thermometer().peripheral)
        client, lost = client_for(THERMO, radio_path)
        await client.connect()
        await radio.stop()
        await within(lost.wait(), PATIENCE_S)
        assert not client.is_connected

    run(test)
    assert not radio_path.exists()


def test_connect_to_an_absent_address_fails_clearly(radio_path: Path) -> None:
    async def test() -> None:
        async with VirtualRadio(radio_path) as radio:
            radio.add(Thermometer().peripheral)
            client, lost = client_for("AA:BB:CC:DD:EE:FF", radio_path)
            with pytest.raises(BleakDeviceNotFoundError) as error:
                await client.connect()
            # the radio's own refusal, at once: not the client's connect timeout running out
            assert "no device is advertising at AA:BB:CC:DD:EE:FF" in str(error.value)
            assert not client.is_connected
            assert not lost.is_set()

    run(test)


def test_one_link_at_a_time(radio_path: Path) -> None:
    async def test() -> None:
        async with VirtualRadio(radio_path) as radio:
            radio.add(Thermometer().peripheral)
            first, _ = client_for(THERMO, radio_path)
            second, _ = client_for(THERMO, radio_path)
            async with first:
                with pytest.raises(BleakDeviceNotFoundError, match="already connected"):
                    await second.connect()
                assert first.is_connected
            async with second:
                assert second.is_connected

    run(test)


def test_pairing_required(radio_path: Path) -> None:
    async def test() -> None:
        async with VirtualRadio(radio_path) as radio:
            thermo = Thermometer(pairing_required=True)
            radio.add(thermo.peripheral)
            client, _lost = client_for(THERMO, radio_path)
            async with client:
                with pytest.raises(BleakGATTProtocolError) as refused:
                    await client.read_gatt_char(BATTERY_LEVEL)
                assert refused.value.code == AttErrorCode.INSUFFICIENT_AUTHENTICATION
                assert "requires pairing" in str(refused.value)
                with pytest.raises(BleakGATTProtocolError):
                    await client.start_notify(TEMPERATURE_MEASUREMENT, lambda _c, _d: None)
                await client.pair()
                assert await client.read_gatt_char(BATTERY_LEVEL) == bytearray(b"\x5a")
            # the bond outlives the connection, as on a real device
            again, _ = client_for(THERMO, radio_path)
            async with again:
                assert await again.read_gatt_char(BATTERY_LEVEL) == bytearray(b"\x5a")
                await again.unpair()
                assert not again.is_connected
            assert thermo.peripheral.bonded_centrals == frozenset()
            third, _ = client_for(THERMO, radio_path)
            async with third:
                with pytest.raises(BleakGATTProtocolError):
                    await third.read_gatt_char(BATTERY_LEVEL)

    run(test)


def test_pairing_refused(radio_path: Path) -> None:
    async def test() -> None:
        async with VirtualRadio(radio_path) as radio:
            radio.add(Thermometer(pairing_required=True, pairable=False).peripheral)
            client, _lost = client_for(THERMO, radio_path, pair=True)
            with pytest.raises(BleakError, match="not accepting pairing"):
                await client.connect()
            assert not client.is_connected

    run(test)


def test_missing_radio_fails_clearly(radio_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RADIO_PATH_ENV, raising=False)

    async def test() -> None:
        client, _lost = client_for(THERMO, radio_path)
        with pytest.raises(BleakError, match=r"no virtual radio at .*radio\.sock"):
            await client.connect()
        scanner = BleakScanner(backend=VirtualBleakScanner, radio_path=radio_path)
        with pytest.raises(BleakError, match="is the simulator running"):
            await scanner.start()
        unconfigured = BleakClient(THERMO, backend=VirtualBleakClient)
        with pytest.raises(VirtualRadioError, match=RADIO_PATH_ENV):
            await unconfigured.connect()

    run(test)


def test_silent_radio_times_out(radio_path: Path) -> None:
    async def test() -> None:
        connections: list[asyncio.StreamWriter] = []

        async def accept_and_say_nothing(
            _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            connections.append(writer)

        server = await asyncio.start_unix_server(accept_and_say_nothing, path=str(radio_path))
        try:
            client, _lost = client_for(THERMO, radio_path, request_timeout_s=0.2)
            with pytest.raises(VirtualRadioError, match=r"did not answer 'connect' within 0\.2 s"):
                await client.connect()
        finally:
            for writer in connections:
                writer.close()
            server.close()
            await server.wait_closed()

    run(test)


def test_garbage_from_the_radio_fails_clearly(radio_path: Path) -> None:
    async def test() -> None:
        async def babble(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"\x00\x00\x00\x05hello")
            await writer.drain()
            writer.close()

        server = await asyncio.start_unix_server(babble, path=str(radio_path))
        try:
            client, _lost = client_for(THERMO, radio_path)
            with pytest.raises(VirtualRadioError, match="bad frame"):
                await client.connect()
        finally:
            server.close()
            await server.wait_closed()

    run(test)


def test_two_centrals_with_two_peripherals(radio_path: Path) -> None:
    async def test() -> None:
        async with VirtualRadio(radio_path) as radio:
            thermo = Thermometer()
            oxi = oximeter()
            radio.add(thermo.peripheral)
            radio.add(oxi)
            thermo_client, thermo_lost = client_for(THERMO, radio_path)
            oxi_client, oxi_lost = client_for(OXI, radio_path)
            await asyncio.gather(thermo_client.connect(), oxi_client.connect())
            temperatures = Received()
            pulses = Received()
            await thermo_client.start_notify("2a1c", temperatures)
            await oxi_client.start_notify("2a5f", pulses)
            assert await thermo.peripheral.notify("2a1c", MEASUREMENT_36_6) == 1
            assert await oxi.notify("2a5f", bytes.fromhex("00620048")) == 1
            await pulses.wait_for(1)
            assert temperatures.values == [MEASUREMENT_36_6]
            assert pulses.values == [bytes.fromhex("00620048")]
            await oxi.disconnect_all()
            await within(oxi_lost.wait(), PATIENCE_S)
            assert thermo_client.is_connected
            assert not thermo_lost.is_set()
            await thermo_client.disconnect()

    run(test)


def test_unconfirmed_indication_drops_the_link(
    radio_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A central that never confirms: ATT's transaction timeout ends the link."""

    async def test() -> None:
        async with VirtualRadio(radio_path) as radio:
            peripheral = Thermometer(indication_timeout_s=0.1).peripheral
            radio.add(peripheral)
            client, lost = client_for(THERMO, radio_path)
            await client.connect()
            await client.start_notify(TEMPERATURE_MEASUREMENT, lambda _c, _d: None)
            backend = client._backend
            assert isinstance(backend, VirtualBleakClient)
            connection = backend._connection
            assert connection is not None
            monkeypatch.setattr(connection, "send_nowait", lambda _message: None)
            assert await peripheral.notify("2a1c", MEASUREMENT_36_6) == 0
            await within(lost.wait(), PATIENCE_S)

    run(test)


def test_removed_device_drops_its_link_and_goes_silent(
    radio_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RADIO_PATH_ENV, str(radio_path))

    async def test() -> None:
        async with VirtualRadio(radio_path) as radio:
            radio.add(Thermometer().peripheral)
            client, lost = client_for(THERMO, radio_path)
            await client.connect()
            radio.remove(THERMO)
            await within(lost.wait(), PATIENCE_S)
            found = await BleakScanner.discover(timeout=0.25, backend=VirtualBleakScanner)
            assert found == []

    run(test)


def test_device_refusals_in_on_write(radio_path: Path) -> None:
    async def test() -> None:
        def refuse(value: bytes) -> None:
            if value[:2] == b"\x00\x00":
                raise GattRefused(AttErrorCode.VALUE_NOT_ALLOWED, "year 0 is not a date")
            raise RuntimeError("simulator bug")

        async with VirtualRadio(radio_path) as radio:
            thermo = Thermometer()
            thermo.peripheral.characteristic(DATE_TIME).on_write = refuse
            radio.add(thermo.peripheral)
            client, _lost = client_for(THERMO, radio_path)
            async with client:
                with pytest.raises(BleakGATTProtocolError) as refused:
                    await client.write_gatt_char(DATE_TIME, bytes(7), response=True)
                assert refused.value.code == AttErrorCode.VALUE_NOT_ALLOWED
                assert "year 0 is not a date" in str(refused.value)
                with pytest.raises(BleakGATTProtocolError) as refused:
                    await client.write_gatt_char(DATE_TIME, b"\xe8\x07" + bytes(5), response=True)
                assert refused.value.code == AttErrorCode.UNLIKELY_ERROR
                assert await client.read_gatt_char(DATE_TIME) == bytearray(7)  # unchanged
                # a refused write without response is lost silently, as on air
                await client.write_gatt_char(DATE_TIME, bytes(7), response=False)
                assert await client.read_gatt_char(BATTERY_LEVEL) == bytearray(b"\x5a")

    run(test)

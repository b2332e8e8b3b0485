"""A bleak backend that reaches the virtual BLE radio instead of BlueZ.

The cabin only ever uses ``bleak.BleakClient`` and ``bleak.BleakScanner``. Without hardware, the
composition root passes ``backend=VirtualBleakClient`` / ``backend=VirtualBleakScanner``; they
speak ``devices.protocols.radio_link`` over the radio's Unix socket, where the simulators'
peripherals advertise and serve GATT with the profiles' UUIDs and bytes.

Where the radio is: the ``radio_path=`` keyword (bleak passes unknown keywords through to the
backend), else the radio a ``BLEDevice`` from ``VirtualBleakScanner`` was seen on, else the
environment variable ``CABIN_VIRTUAL_RADIO``.

Each client link and each scanner owns one socket connection and one reader task; every
request has a timeout and fails with a ``BleakError`` saying what happened. A dropped socket or
a peripheral's disconnection marks the client disconnected and calls bleak's disconnected
callback (as the BlueZ backend does, also after ``disconnect()``); nothing is left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeAlias, cast

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import (
    PROTOCOL_ERROR_CODES,
    BleakDeviceNotFoundError,
    BleakError,
    BleakGATTProtocolError,
)

from devices.cancellation import cancel_and_wait
from devices.errors import DecodeError
from devices.protocols.radio_link import (
    CCCD_INDICATE,
    CCCD_NOTIFY,
    CCCD_UUID,
    HEADER_BYTES,
    NO_REPLY_ID,
    Advertisement,
    CentralMessage,
    Confirm,
    Connect,
    Connected,
    Disconnect,
    Disconnected,
    Discover,
    Failure,
    FailureKind,
    Indication,
    Notification,
    Ok,
    Pair,
    RadioMessage,
    Read,
    Reply,
    ScanStart,
    ScanStop,
    Services,
    Unpair,
    Value,
    Write,
    body_length,
    decode_radio_message,
    encode_frame,
)

logger = logging.getLogger(__name__)

RADIO_PATH_ENV: Final = "CABIN_VIRTUAL_RADIO"
DEFAULT_CENTRAL_ADDRESS: Final = "02:CA:B1:00:00:01"
"""The cabin's adapter address on the virtual radio (locally administered); bonds use it."""
DEFAULT_REQUEST_TIMEOUT_S: Final = 5.0
_MIN_MTU: Final = 23

_Request: TypeAlias = (
    ScanStart | ScanStop | Connect | Disconnect | Discover | Read | Write | Pair | Unpair
)


class VirtualRadioError(BleakError):
    """The virtual radio is unreachable, did not answer in time, or refused a request."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "virtual radio error"


class VirtualGattError(BleakGATTProtocolError):
    """The virtual peripheral answered with an ATT error; ``detail`` says why."""

    def __init__(self, error_code: int, detail: str) -> None:
        super().__init__(error_code)
        self.detail = detail

    def __str__(self) -> str:
        name = PROTOCOL_ERROR_CODES.get(int(self.code), "Unknown code")
        return f"GATT protocol error {int(self.code):#04x} ({name}): {self.detail}"


@dataclass(frozen=True, slots=True)
class VirtualDeviceDetails:
    """``BLEDevice.details`` of a device seen on the virtual radio."""

    radio_path: Path
    advertisement: Advertisement


def resolve_radio_path(explicit: str | os.PathLike[str] | None) -> Path:
    """The radio's socket: the explicit path, else ``$CABIN_VIRTUAL_RADIO``."""
    if explicit is not None:
        return Path(explicit)
    from_env = os.environ.get(RADIO_PATH_ENV)
    if from_env:
        return Path(from_env)
    raise VirtualRadioError(
        "no virtual radio configured: pass radio_path=... to BleakClient/BleakScanner "
        f"or set {RADIO_PATH_ENV}"
    )


def _failure_error(failure: Failure, address: str) -> BleakError:
    if failure.kind is FailureKind.ATT and failure.att_code is not None:
        return VirtualGattError(failure.att_code, failure.message)
    if failure.kind is FailureKind.NOT_ADVERTISING:
        return BleakDeviceNotFoundError(address, failure.message)
    return VirtualRadioError(failure.message)


class _RadioConnection:
    """One socket connection to the radio: frames out, a reader task, replies matched by id.

    Unsolicited messages go to ``on_message``; if the socket drops, ``on_lost(reason)`` is
    called once (not after ``abort``/``close``, which the owner calls on purpose).
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_message: Callable[[RadioMessage], None],
        on_lost: Callable[[str], None],
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._on_message = on_message
        self._on_lost = on_lost
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Reply]] = {}
        self.closed = False
        self._task = asyncio.create_task(self._read(), name="virtual-ble-reader")

    @classmethod
    async def open(
        cls,
        path: Path,
        on_message: Callable[[RadioMessage], None],
        on_lost: Callable[[str], None],
        timeout_s: float,
    ) -> _RadioConnection:
        try:
            async with asyncio.timeout(timeout_s):
                reader, writer = await asyncio.open_unix_connection(str(path))
        except TimeoutError as exc:
            raise VirtualRadioError(
                f"the virtual radio at {path} did not accept a connection within {timeout_s} s"
            ) from exc
        except OSError as exc:
            raise VirtualRadioError(
                f"no virtual radio at {path} ({exc.strerror or exc}): is the simulator running?"
            ) from exc
        return cls(reader, writer, on_message, on_lost)

    def new_id(self) -> int:
        return next(self._ids)

    async def request(self, message: _Request, timeout_s: float) -> Reply:
        """Send a request and wait for the reply with the same id."""
        if self.closed:
            raise VirtualRadioError("the link to the virtual radio is closed")
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[message.id] = future
        op = type(message).__name__.lower()
        try:
            async with asyncio.timeout(timeout_s):
                self._writer.write(encode_frame(message))
                await self._writer.drain()
                return await future
        except TimeoutError as exc:
            raise VirtualRadioError(
                f"the virtual radio did not answer '{op}' within {timeout_s} s"
            ) from exc
        except ConnectionError as exc:
            raise VirtualRadioError(f"the virtual radio connection broke during '{op}'") from exc
        finally:
            self._pending.pop(message.id, None)

    async def send(self, message: CentralMessage, timeout_s: float) -> None:
        """Send a message that gets no reply."""
        if self.closed:
            raise VirtualRadioError("the link to the virtual radio is closed")
        try:
            async with asyncio.timeout(timeout_s):
                self._writer.write(encode_frame(message))
                await self._writer.drain()
        except TimeoutError as exc:
            raise VirtualRadioError(
                f"the virtual radio did not take a frame in {timeout_s} s"
            ) from exc
        except ConnectionError as exc:
            raise VirtualRadioError("the virtual radio connection broke") from exc

    def send_nowait(self, message: CentralMessage) -> None:
        if not self.closed and not self._writer.is_closing():
            self._writer.write(encode_frame(message))

    async def _read(self) -> None:
        reason = "the virtual radio closed the connection"
        try:
            while not self.closed:
                header = await self._reader.readexactly(HEADER_BYTES)
                body = await self._reader.readexactly(body_length(header))
                message = decode_radio_message(body)
                if isinstance(message, Ok | Connected | Services | Value | Failure):
                    future = self._pending.get(message.id)
                    if future is not None and not future.done():
                        future.set_result(message)
                    continue
                try:
                    self._on_message(message)
                except Exception:
                    logger.exception("virtual_ble.callback_failed")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except DecodeError as exc:
            reason = f"the virtual radio sent a bad frame ({exc})"
            logger.warning("virtual_ble.bad_frame error=%s", exc)
        if not self.closed:
            self.abort(reason)
            self._on_lost(reason)

    def abort(self, reason: str) -> None:
        """Close at once (no await): pending requests fail with ``reason``."""
        if self.closed:
            return
        self.closed = True
        for future in self._pending.values():
            if not future.done():
                future.set_exception(VirtualRadioError(reason))
        self._writer.close()

    async def close(self) -> None:
        """Close and wait for the reader task to end (unless called from it)."""
        self.abort("the connection to the virtual radio was closed")
        if self._task is not asyncio.current_task():
            await cancel_and_wait(self._task)
        with contextlib.suppress(ConnectionError, TimeoutError):
            async with asyncio.timeout(1.0):
                await self._writer.wait_closed()


class VirtualBleakClient(BaseBleakClient):
    """``BaseBleakClient`` over the virtual radio: one socket connection per link."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        radio_path: str | os.PathLike[str] | None = None,
        central_address: str = DEFAULT_CENTRAL_ADDRESS,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
        **kwargs: Any,
    ) -> None:
        """
        Args:
            radio_path: the radio's socket (else the scanned device's radio, else the env var).
            central_address: this central's adapter address, which bonds are remembered by.
            request_timeout_s: limit of each GATT request (connect as a whole uses ``timeout``).
            kwargs: bleak's own (``services``, ``bluez``, ``winrt``); ``services`` filters
                discovery.
        """
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._radio_path: Path | None = Path(radio_path) if radio_path is not None else None
        self._device_name: str | None = None
        if isinstance(address_or_ble_device, BLEDevice):
            self._device_name = address_or_ble_device.name
            details = address_or_ble_device.details
            if self._radio_path is None and isinstance(details, VirtualDeviceDetails):
                self._radio_path = details.radio_path
        requested = kwargs.get("services")
        self._requested_services: set[str] | None = set(requested) if requested else None
        self._central_address = central_address
        self._request_timeout_s = request_timeout_s
        self._connection: _RadioConnection | None = None
        self._link_up = False
        self._mtu = _MIN_MTU
        self._callbacks: dict[int, NotifyCallback] = {}

    # ---- state ------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._device_name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._mtu

    @property
    def is_connected(self) -> bool:
        return self._link_up

    # ---- connectivity -----------------------------------------------------------------------

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if self._link_up:
            return
        path = self._radio_path if self._radio_path is not None else resolve_radio_path(None)
        timeout_s = float(kwargs.get("timeout", self._timeout))
        try:
            async with asyncio.timeout(timeout_s):
                connection = await _RadioConnection.open(
                    path, self._on_message, self._on_lost, timeout_s
                )
                self._connection = connection
                reply = await self._request(
                    Connect(
                        id=connection.new_id(),
                        address=self.address,
                        central_address=self._central_address,
                    )
                )
                if not isinstance(reply, Connected):
                    raise VirtualRadioError(f"unexpected answer to connect: {type(reply).__name__}")
                self._device_name = reply.name
                self._mtu = reply.mtu
                self._link_up = True
                logger.info("virtual_ble.connected address=%s", self.address)
                if pair:
                    await self.pair()
                await self._discover()
        except TimeoutError as exc:
            await self._abandon()
            raise VirtualRadioError(
                f"connecting to {self.address} on the virtual radio timed out after {timeout_s} s"
            ) from exc
        except BaseException:
            await self._abandon()
            raise

    async def _abandon(self) -> None:
        """Undo a connect that failed: no callback, since the link never came up for the user."""
        self._link_up = False
        self._callbacks.clear()
        self.services = None
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        if self._link_up:
            with contextlib.suppress(BleakError):
                await self._request(Disconnect(id=connection.new_id()))
        self._end_link("disconnected by the cabin")
        await connection.close()

    def _end_link(self, reason: str) -> None:
        """Mark the link down once, drop its state, call bleak's disconnected callback."""
        connection, self._connection = self._connection, None
        was_up, self._link_up = self._link_up, False
        self._callbacks.clear()
        self.services = None
        if connection is not None:
            connection.abort(reason)
        if not was_up:
            return
        logger.info("virtual_ble.disconnected address=%s reason=%s", self.address, reason)
        if self._disconnected_callback is not None:
            try:
                self._disconnected_callback()
            except Exception:
                logger.exception("virtual_ble.disconnected_callback_failed")

    def _on_lost(self, reason: str) -> None:
        self._end_link(reason)

    def _on_message(self, message: RadioMessage) -> None:
        match message:
            case Notification(handle=handle, value=value):
                self._deliver(handle, value)
            case Indication(handle=handle, value=value, seq=seq):
                if self._connection is not None:
                    self._connection.send_nowait(Confirm(seq=seq))
                self._deliver(handle, value)
            case Disconnected(reason=reason):
                self._end_link(reason)
            case _:
                pass

    def _deliver(self, handle: int, value: bytes) -> None:
        callback = self._callbacks.get(handle)
        if callback is None:
            return
        try:
            callback(bytearray(value))
        except Exception:
            logger.exception("virtual_ble.notify_callback_failed handle=%d", handle)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        connection = self._require_link()
        await self._request(Pair(id=connection.new_id()))

    async def unpair(self) -> None:
        """Forget the bond on both sides; like BlueZ, this also ends the link."""
        if self._connection is not None:
            connection = self._connection
            await self._request(
                Unpair(
                    id=connection.new_id(),
                    address=self.address,
                    central_address=self._central_address,
                )
            )
            await self.disconnect()
            return
        path = self._radio_path if self._radio_path is not None else resolve_radio_path(None)
        connection = await _RadioConnection.open(
            path, lambda _m: None, lambda _r: None, self._request_timeout_s
        )
        try:
            reply = await connection.request(
                Unpair(
                    id=connection.new_id(),
                    address=self.address,
                    central_address=self._central_address,
                ),
                self._request_timeout_s,
            )
            if isinstance(reply, Failure):
                raise _failure_error(reply, self.address)
        finally:
            await connection.close()

    # ---- GATT -------------------------------------------------------------------------------

    async def _discover(self) -> None:
        connection = self._require_link()
        reply = await self._request(Discover(id=connection.new_id()))
        if not isinstance(reply, Services):
            raise VirtualRadioError(f"unexpected answer to discover: {type(reply).__name__}")
        collection = BleakGATTServiceCollection()
        mtu = self._mtu
        for service_info in reply.services:
            if (
                self._requested_services is not None
                and service_info.uuid not in self._requested_services
            ):
                continue
            service = BleakGATTService(service_info, service_info.handle, service_info.uuid)
            collection.add_service(service)
            for char_info in service_info.characteristics:
                characteristic = BleakGATTCharacteristic(
                    char_info,
                    char_info.handle,
                    char_info.uuid,
                    cast("list[CharacteristicPropertyName]", list(char_info.properties)),
                    lambda: mtu - 3,
                    service,
                )
                collection.add_characteristic(characteristic)
                for descriptor_info in char_info.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(
                            descriptor_info,
                            descriptor_info.handle,
                            descriptor_info.uuid,
                            characteristic,
                        )
                    )
        self.services = collection

    async def read_gatt_char(
        self,
        characteristic: BleakGATTCharacteristic,
        *,
        use_cached: bool = False,
        **kwargs: Any,
    ) -> bytearray:
        return await self._read(characteristic.handle)

    async def read_gatt_descriptor(
        self,
        descriptor: BleakGATTDescriptor,
        *,
        use_cached: bool = False,
        **kwargs: Any,
    ) -> bytearray:
        return await self._read(descriptor.handle)

    async def _read(self, handle: int) -> bytearray:
        connection = self._require_link()
        reply = await self._request(Read(id=connection.new_id(), handle=handle))
        if not isinstance(reply, Value):
            raise VirtualRadioError(f"unexpected answer to read: {type(reply).__name__}")
        return bytearray(reply.value)

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool
    ) -> None:
        await self._write(characteristic.handle, bytes(data), response)

    async def write_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, data: SizedBuffer
    ) -> None:
        await self._write(descriptor.handle, bytes(data), True)

    async def _write(self, handle: int, value: bytes, response: bool) -> None:
        connection = self._require_link()
        if response:
            await self._request(
                Write(id=connection.new_id(), handle=handle, value=value, response=True)
            )
        else:
            await connection.send(
                Write(id=NO_REPLY_ID, handle=handle, value=value, response=False),
                self._request_timeout_s,
            )

    async def start_notify(
        self,
        characteristic: BleakGATTCharacteristic,
        callback: NotifyCallback,
        **kwargs: Any,
    ) -> None:
        """Enable notifications (preferred, as bleak asks) or indications through the CCCD."""
        if "notify" in characteristic.properties:
            bits = CCCD_NOTIFY
        elif "indicate" in characteristic.properties:
            bits = CCCD_INDICATE
        else:
            raise BleakError(
                f"characteristic {characteristic.uuid} supports neither notify nor indicate"
            )
        cccd = self._cccd(characteristic)
        self._callbacks[characteristic.handle] = callback
        try:
            await self._write(cccd.handle, bits.to_bytes(2, "little"), True)
        except BaseException:
            self._callbacks.pop(characteristic.handle, None)
            raise

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        cccd = self._cccd(characteristic)
        await self._write(cccd.handle, (0).to_bytes(2, "little"), True)
        self._callbacks.pop(characteristic.handle, None)

    @staticmethod
    def _cccd(characteristic: BleakGATTCharacteristic) -> BleakGATTDescriptor:
        cccd = characteristic.get_descriptor(CCCD_UUID)
        if cccd is None:
            raise BleakError(f"characteristic {characteristic.uuid} has no CCCD (0x2902)")
        return cccd

    # ---- plumbing ---------------------------------------------------------------------------

    def _require_link(self) -> _RadioConnection:
        if not self._link_up or self._connection is None:
            raise BleakError(f"Not connected to {self.address}")
        return self._connection

    async def _request(self, message: _Request) -> Reply:
        connection = self._connection
        if connection is None:
            raise BleakError(f"Not connected to {self.address}")
        reply = await connection.request(message, self._request_timeout_s)
        if isinstance(reply, Failure):
            raise _failure_error(reply, self.address)
        return reply


class VirtualBleakScanner(BaseBleakScanner):
    """``BaseBleakScanner`` over the virtual radio: advertisements arrive on one socket."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        *,
        radio_path: str | os.PathLike[str] | None = None,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
        **kwargs: Any,
    ) -> None:
        """``scanning_mode`` and bleak's platform arguments (``bluez``, ``cb``) are ignored."""
        super().__init__(detection_callback, service_uuids)
        self._radio_path = Path(radio_path) if radio_path is not None else None
        self._request_timeout_s = request_timeout_s
        self._connection: _RadioConnection | None = None
        self._scan_path: Path | None = None

    async def start(self) -> None:
        if self._connection is not None:
            raise BleakError("the virtual scanner is already scanning")
        path = self._radio_path if self._radio_path is not None else resolve_radio_path(None)
        self.seen_devices = {}
        self._scan_path = path
        connection = await _RadioConnection.open(
            path, self._on_message, self._on_lost, self._request_timeout_s
        )
        try:
            reply = await connection.request(
                ScanStart(id=connection.new_id()), self._request_timeout_s
            )
            if isinstance(reply, Failure):
                raise _failure_error(reply, "")
        except BaseException:
            await connection.close()
            raise
        self._connection = connection

    async def stop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if not connection.closed:
            try:
                await connection.request(ScanStop(id=connection.new_id()), self._request_timeout_s)
            except BleakError as exc:
                logger.info("virtual_ble.scan_stop_unanswered error=%s", exc)
        await connection.close()

    def _on_lost(self, reason: str) -> None:
        logger.warning("virtual_ble.scan_interrupted reason=%s", reason)

    def _on_message(self, message: RadioMessage) -> None:
        if not isinstance(message, Advertisement) or self._scan_path is None:
            return
        if not self.is_allowed_uuid(message.service_uuids):
            return
        advertisement_data = AdvertisementData(
            local_name=message.name,
            manufacturer_data=dict(message.manufacturer_data),
            service_data=dict(message.service_data),
            service_uuids=list(message.service_uuids),
            tx_power=message.tx_power,
            rssi=message.rssi,
            platform_data=(message,),
        )
        device = self.create_or_update_device(
            message.address,
            message.address,
            message.name,
            VirtualDeviceDetails(radio_path=self._scan_path, advertisement=message),
            advertisement_data,
        )
        self.call_detection_callbacks(device, advertisement_data)

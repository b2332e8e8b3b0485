"""The device side of a virtual BLE instrument: a GATT server with its advertising data.

A simulator builds a ``VirtualPeripheral`` from ``GattService``/``GattCharacteristic`` values
(the Bluetooth SIG UUIDs and the bytes the profile defines), adds it to a ``VirtualRadio`` and
drives it: ``set_value``, ``await notify`` (an indication waits for the central's confirmation,
as an ATT indication does), ``await disconnect_all`` (the device drops the link, as a cuff does
after its burst), ``powered`` (off: no advertising, links lost). Handles are assigned in
declaration order (service, characteristic declaration, value, CCCD, other descriptors); each
notify/indicate characteristic gets its CCCD (0x2902), written by a central to subscribe.

The radio reaches the peripheral through the ``CentralLink`` protocol (one per connected central)
and the methods under "radio side". Hooks (``on_connect``, ``on_disconnect``, ``on_subscribe``)
run as tasks the peripheral owns, after the radio has answered the request that caused them;
``on_write`` is awaited before the write is acknowledged and may raise ``GattRefused``.
Everything runs on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias

from devices.protocols.radio_link import (
    CCCD_INDICATE,
    CCCD_NOTIFY,
    CCCD_UUID,
    CHARACTERISTIC_PROPERTIES,
    CHARACTERISTIC_PROPERTY_ORDER,
    DEFAULT_MTU,
    MAX_ATTRIBUTE_BYTES,
    Advertisement,
    AttErrorCode,
    CharacteristicInfo,
    DescriptorInfo,
    ServiceInfo,
    normalize_uuid,
)

logger = logging.getLogger(__name__)

WriteHook: TypeAlias = Callable[[bytes], Awaitable[None] | None]
SubscribeHook: TypeAlias = Callable[[bool], Awaitable[None] | None]
LinkHook: TypeAlias = Callable[[], Awaitable[None] | None]

_PROPERTY_ORDER = CHARACTERISTIC_PROPERTY_ORDER


class GattRefused(Exception):
    """The peripheral answers a request with an ATT error (``on_write`` may raise it too)."""

    def __init__(self, code: AttErrorCode, detail: str) -> None:
        super().__init__(f"{code.name}: {detail}")
        self.code = code
        self.detail = detail


class PairingRefused(Exception):
    """The peripheral does not accept pairing (``pairable`` is False)."""


class CentralLink(Protocol):
    """One connected central, as the radio presents it to the peripheral."""

    @property
    def central_address(self) -> str: ...

    async def send_notification(self, handle: int, value: bytes) -> bool:
        """Send a notification; False if the link is gone."""
        ...

    async def indicate(self, handle: int, value: bytes, timeout_s: float) -> bool:
        """Send an indication and wait for its confirmation; False if unconfirmed (link dropped)."""
        ...

    def drop(self, reason: str) -> None:
        """End the link from the peripheral's side; the central is told ``reason``."""
        ...


@dataclass(eq=False)
class GattDescriptor:
    """A descriptor other than the CCCD (e.g. 0x2901 user description); readable and writable."""

    uuid: str
    value: bytes = b""

    def __post_init__(self) -> None:
        self.uuid = normalize_uuid(self.uuid)
        if self.uuid == CCCD_UUID:
            raise ValueError("the CCCD (0x2902) is added by the peripheral for notify/indicate")


@dataclass(eq=False)
class GattCharacteristic:
    """One characteristic; ``properties`` use bleak's names ("read", "write", "notify", ...)."""

    uuid: str
    properties: frozenset[str]
    value: bytes = b""
    on_write: WriteHook | None = None
    on_subscribe: SubscribeHook | None = None
    descriptors: list[GattDescriptor] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.uuid = normalize_uuid(self.uuid)
        self.properties = frozenset(self.properties)
        unknown = self.properties - CHARACTERISTIC_PROPERTIES
        if unknown:
            raise ValueError(f"unknown characteristic properties {sorted(unknown)}")
        self.value = bytes(self.value)

    @property
    def subscribable(self) -> bool:
        return bool(self.properties & {"notify", "indicate"})


@dataclass(eq=False)
class GattService:
    uuid: str
    characteristics: list[GattCharacteristic]

    def __post_init__(self) -> None:
        self.uuid = normalize_uuid(self.uuid)


@dataclass(eq=False)
class _LinkState:
    link: CentralLink
    cccd: dict[int, int] = field(default_factory=dict)
    """value handle -> CCCD bits (CCCD_NOTIFY / CCCD_INDICATE) for this central."""
    indication_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """ATT allows one outstanding indication per link."""


class VirtualPeripheral:
    """A virtual BLE peripheral: advertising data, a static GATT database, per-central state."""

    def __init__(
        self,
        address: str,
        name: str,
        services: list[GattService],
        manufacturer_data: dict[int, bytes] | None = None,
        rssi: int = -50,
        *,
        advertised_services: Iterable[str] | None = None,
        service_data: dict[str, bytes] | None = None,
        tx_power: int | None = None,
        pairing_required: bool = False,
        pairable: bool = True,
        max_connections: int = 1,
        mtu: int = DEFAULT_MTU,
        indication_timeout_s: float = 1.0,
    ) -> None:
        """
        Args:
            advertised_services: service UUIDs in the advertisement (default: every service).
            pairing_required: reads, writes and subscriptions from a central without a bond
                are refused with ATT "Insufficient Authentication" (a real cuff needs pairing).
            pairable: False makes ``pair()`` fail (a device not in pairing mode).
            max_connections: the device stops advertising (and refuses connections) at this
                many links; health devices accept one.
            indication_timeout_s: an unconfirmed indication drops the link after this long
                (ATT's transaction timeout, shortened).
        """
        self.address = address.upper()
        self.name = name
        self.services = services
        self.manufacturer_data = dict(manufacturer_data or {})
        self.rssi = rssi
        self.advertised_services = [
            normalize_uuid(u)
            for u in (
                advertised_services
                if advertised_services is not None
                else (s.uuid for s in services)
            )
        ]
        self.service_data = {normalize_uuid(k): v for k, v in (service_data or {}).items()}
        self.tx_power = tx_power
        self.pairing_required = pairing_required
        self.pairable = pairable
        self.max_connections = max_connections
        self.mtu = mtu
        self.indication_timeout_s = indication_timeout_s
        self.on_connect: LinkHook | None = None
        self.on_disconnect: LinkHook | None = None

        self._powered = True
        self._bonds: set[str] = set()
        self._links: dict[CentralLink, _LinkState] = {}
        self._hook_tasks: set[asyncio.Task[None]] = set()
        self._values: dict[int, GattCharacteristic] = {}
        self._cccds: dict[int, GattCharacteristic] = {}
        self._descriptors: dict[int, GattDescriptor] = {}
        self._handle_of: dict[int, int] = {}  # id(characteristic) -> value handle
        self._tree = self._assign_handles()

    def _assign_handles(self) -> list[ServiceInfo]:
        tree: list[ServiceInfo] = []
        handle = 1
        for service in self.services:
            service_handle = handle
            handle += 1
            chars: list[CharacteristicInfo] = []
            for char in service.characteristics:
                handle += 1  # the characteristic declaration
                value_handle = handle
                handle += 1
                self._values[value_handle] = char
                self._handle_of[id(char)] = value_handle
                descriptors: list[DescriptorInfo] = []
                if char.subscribable:
                    self._cccds[handle] = char
                    descriptors.append(DescriptorInfo(uuid=CCCD_UUID, handle=handle))
                    handle += 1
                for descriptor in char.descriptors:
                    self._descriptors[handle] = descriptor
                    descriptors.append(DescriptorInfo(uuid=descriptor.uuid, handle=handle))
                    handle += 1
                properties = [p for p in _PROPERTY_ORDER if p in char.properties]
                chars.append(
                    CharacteristicInfo(
                        uuid=char.uuid,
                        handle=value_handle,
                        properties=properties,
                        descriptors=descriptors,
                    )
                )
            tree.append(
                ServiceInfo(uuid=service.uuid, handle=service_handle, characteristics=chars)
            )
        return tree

    # ---- simulator side ---------------------------------------------------------------------

    @property
    def powered(self) -> bool:
        return self._powered

    @powered.setter
    def powered(self, on: bool) -> None:
        """Off: stop advertising and lose every link. On: advertise again."""
        self._powered = on
        if not on:
            self.drop_links("link lost: the device powered off")

    @property
    def connected_centrals(self) -> int:
        return len(self._links)

    @property
    def bonded_centrals(self) -> frozenset[str]:
        return frozenset(self._bonds)

    @property
    def connectable(self) -> bool:
        """Powered and below ``max_connections``: it advertises and accepts a connection."""
        return self._powered and len(self._links) < self.max_connections

    def characteristic(self, char_uuid: str) -> GattCharacteristic:
        """The first characteristic with this UUID (16-bit or 128-bit spelling)."""
        wanted = normalize_uuid(char_uuid)
        for service in self.services:
            for char in service.characteristics:
                if char.uuid == wanted:
                    return char
        raise KeyError(f"{self.name} has no characteristic {char_uuid}")

    def handle(self, char_uuid: str) -> int:
        """The value handle of a characteristic."""
        return self._handle_of[id(self.characteristic(char_uuid))]

    def set_value(self, char_uuid: str, value: bytes) -> None:
        """Change what a read returns, without notifying."""
        self.characteristic(char_uuid).value = bytes(value)

    def is_subscribed(self, char_uuid: str) -> bool:
        """Whether any connected central has enabled notifications or indications."""
        handle = self.handle(char_uuid)
        return any(state.cccd.get(handle, 0) for state in self._links.values())

    async def notify(self, char_uuid: str, value: bytes) -> int:
        """Set the value and send it to every subscribed central.

        Returns how many centrals received it: for an indication, how many confirmed it
        (an unconfirmed indication drops that link, as ATT's transaction timeout does).
        """
        char = self.characteristic(char_uuid)
        if not char.subscribable:
            raise ValueError(f"{char.uuid} has neither the notify nor the indicate property")
        char.value = bytes(value)
        handle = self._handle_of[id(char)]
        sends = [
            self._deliver(state, handle, char.value)
            for state in list(self._links.values())
            if state.cccd.get(handle, 0)
        ]
        delivered = await asyncio.gather(*sends)
        return sum(delivered)

    async def _deliver(self, state: _LinkState, handle: int, value: bytes) -> bool:
        bits = state.cccd.get(handle, 0)
        if bits & CCCD_NOTIFY:
            return await state.link.send_notification(handle, value)
        async with state.indication_lock:
            return await state.link.indicate(handle, value, self.indication_timeout_s)

    async def disconnect_all(self) -> None:
        """The device ends every link (a cuff does so after sending its readings)."""
        self.drop_links("the device disconnected")
        await asyncio.sleep(0)

    def forget_bonds(self) -> None:
        """Erase every pairing, as a device reset does."""
        self._bonds.clear()

    # ---- radio side -------------------------------------------------------------------------

    def advertisement(self) -> Advertisement:
        return Advertisement(
            address=self.address,
            name=self.name,
            rssi=self.rssi,
            service_uuids=list(self.advertised_services),
            manufacturer_data=dict(self.manufacturer_data),
            service_data=dict(self.service_data),
            tx_power=self.tx_power,
        )

    def gatt_tree(self) -> list[ServiceInfo]:
        return list(self._tree)

    def attach(self, link: CentralLink) -> None:
        """A central connected (the radio checked ``connectable``)."""
        if not self.connectable:
            raise RuntimeError(f"{self.address} is not connectable")
        self._links[link] = _LinkState(link)
        if self.on_connect is not None:
            self._run_hook(self.on_connect)

    def detach(self, link: CentralLink) -> None:
        """The link ended (either side); idempotent."""
        state = self._links.pop(link, None)
        if state is None:
            return
        for handle, bits in state.cccd.items():
            char = self._values[handle]
            if bits and char.on_subscribe is not None:
                self._run_hook(char.on_subscribe, False)
        if self.on_disconnect is not None:
            self._run_hook(self.on_disconnect)

    def drop_links(self, reason: str) -> None:
        """End every link from the device's side (power off, link loss, disconnect)."""
        for link in list(self._links):
            link.drop(reason)
            self.detach(link)

    def close(self, reason: str) -> None:
        """Removed from the radio: drop the links, cancel the hooks still running."""
        self.drop_links(reason)
        for task in list(self._hook_tasks):
            task.cancel()

    def pair(self, link: CentralLink) -> None:
        if not self.pairable:
            raise PairingRefused(f"{self.name} is not accepting pairing now")
        self._bonds.add(link.central_address)

    def unpair(self, central_address: str) -> None:
        self._bonds.discard(central_address)

    async def read(self, link: CentralLink, handle: int) -> bytes:
        state = self._state(link)
        if handle in self._values:
            self._check_security(link)
            char = self._values[handle]
            if "read" not in char.properties:
                raise GattRefused(AttErrorCode.READ_NOT_PERMITTED, f"{char.uuid} is not readable")
            return char.value
        if handle in self._cccds:
            return state.cccd.get(self._handle_of[id(self._cccds[handle])], 0).to_bytes(2, "little")
        if handle in self._descriptors:
            return self._descriptors[handle].value
        raise GattRefused(AttErrorCode.INVALID_HANDLE, f"no attribute at handle {handle}")

    async def write(self, link: CentralLink, handle: int, value: bytes, response: bool) -> None:
        state = self._state(link)
        if len(value) > MAX_ATTRIBUTE_BYTES:
            raise GattRefused(
                AttErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH,
                f"{len(value)} bytes exceed the {MAX_ATTRIBUTE_BYTES}-byte attribute limit",
            )
        if handle in self._values:
            self._check_security(link)
            await self._write_value(self._values[handle], value, response)
        elif handle in self._cccds:
            self._check_security(link)
            self._write_cccd(state, self._cccds[handle], value)
        elif handle in self._descriptors:
            self._descriptors[handle].value = value
        else:
            raise GattRefused(AttErrorCode.INVALID_HANDLE, f"no attribute at handle {handle}")

    async def _write_value(self, char: GattCharacteristic, value: bytes, response: bool) -> None:
        needed = "write" if response else "write-without-response"
        if needed not in char.properties:
            raise GattRefused(
                AttErrorCode.WRITE_NOT_PERMITTED, f"{char.uuid} does not allow {needed}"
            )
        if char.on_write is not None:
            try:
                result = char.on_write(value)
                if inspect.isawaitable(result):
                    await result
            except GattRefused:
                raise
            except Exception as exc:
                logger.exception("virtual_peripheral.on_write_failed address=%s", self.address)
                raise GattRefused(AttErrorCode.UNLIKELY_ERROR, f"the device failed: {exc}") from exc
        char.value = value  # kept only once the device accepted it

    def _write_cccd(self, state: _LinkState, char: GattCharacteristic, value: bytes) -> None:
        if len(value) != 2:
            raise GattRefused(
                AttErrorCode.INVALID_ATTRIBUTE_VALUE_LENGTH, "a CCCD value is 2 bytes"
            )
        bits = int.from_bytes(value, "little")
        allowed = (CCCD_NOTIFY if "notify" in char.properties else 0) | (
            CCCD_INDICATE if "indicate" in char.properties else 0
        )
        if bits & ~allowed:
            raise GattRefused(
                AttErrorCode.CCCD_IMPROPERLY_CONFIGURED,
                f"{char.uuid} does not support CCCD bits {bits:#06x}",
            )
        handle = self._handle_of[id(char)]
        before = state.cccd.get(handle, 0)
        state.cccd[handle] = bits
        if bool(before) != bool(bits) and char.on_subscribe is not None:
            self._run_hook(char.on_subscribe, bool(bits))

    def _state(self, link: CentralLink) -> _LinkState:
        state = self._links.get(link)
        if state is None:
            raise GattRefused(AttErrorCode.UNLIKELY_ERROR, "this central is not connected")
        return state

    def _check_security(self, link: CentralLink) -> None:
        if self.pairing_required and link.central_address not in self._bonds:
            raise GattRefused(
                AttErrorCode.INSUFFICIENT_AUTHENTICATION,
                f"{self.name} requires pairing: call pair() before reading, writing or subscribing",
            )

    def _run_hook(self, hook: Callable[..., Awaitable[None] | None], *args: object) -> None:
        task = asyncio.get_running_loop().create_task(self._call_hook(hook, *args))
        self._hook_tasks.add(task)
        task.add_done_callback(self._hook_tasks.discard)

    async def _call_hook(self, hook: Callable[..., Awaitable[None] | None], *args: object) -> None:
        try:
            result = hook(*args)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("virtual_peripheral.hook_failed address=%s", self.address)

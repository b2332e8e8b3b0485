"""The virtual BLE radio's link format, shared by both ends (pure: no I/O).

The virtual radio (``simulators.ble.radio``) and the cabin's bleak backend
(``devices.transports.virtual_ble``) talk over a local stream socket. Each frame is a 4-byte
big-endian body length followed by a msgpack body: one msgspec Struct tagged by its ``op`` field.
msgpack carries values as ``bin``, so GATT bytes round-trip exactly.

A central sends requests carrying an ``id`` (> 0); the radio answers each with ``Ok``,
``Connected``, ``Services``, ``Value`` or ``Failure`` bearing the same id, in order. A write
without response carries ``id=0`` and gets no answer, as on air. The radio also pushes
``Advertisement`` (while scanning), ``Notification``, ``Indication`` (the central answers with
``Confirm``) and ``Disconnected`` (the peripheral dropped the link). Subscribing is what it is on
air: a write of the Client Characteristic Configuration descriptor (0x2902) of the characteristic.
Attributes share one handle space, as in ATT.
"""

from __future__ import annotations

import enum
import uuid
from typing import Final, TypeAlias

import msgspec

from devices.errors import DecodeError

HEADER_BYTES: Final = 4
MAX_BODY_BYTES: Final = 1 << 20
"""Upper bound of one frame's body; a longer announced length is garbage, not a message."""

DEFAULT_MTU: Final = 247
MAX_ATTRIBUTE_BYTES: Final = 512
"""An ATT attribute value is at most 512 bytes (Core spec Vol 3, Part F, 3.2.9)."""

NO_REPLY_ID: Final = 0
"""Request id of a message that gets no answer (write without response)."""

CCCD_UUID: Final = "00002902-0000-1000-8000-00805f9b34fb"
CCCD_NOTIFY: Final = 0x0001
CCCD_INDICATE: Final = 0x0002

_SIG_BASE_SUFFIX: Final = "-0000-1000-8000-00805f9b34fb"

CHARACTERISTIC_PROPERTY_ORDER: Final = (
    "broadcast",
    "read",
    "write-without-response",
    "write",
    "notify",
    "indicate",
    "authenticated-signed-writes",
    "extended-properties",
)
CHARACTERISTIC_PROPERTIES: Final = frozenset(CHARACTERISTIC_PROPERTY_ORDER)
"""Property names as bleak spells them (``BleakGATTCharacteristic.properties``)."""


def normalize_uuid(value: str) -> str:
    """A UUID as bleak spells it: lower case, 128-bit (16/32-bit SIG UUIDs expanded)."""
    text = value.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if len(text) == 4:
        text = f"0000{text}{_SIG_BASE_SUFFIX}"
    elif len(text) == 8:
        text = f"{text}{_SIG_BASE_SUFFIX}"
    try:
        return str(uuid.UUID(text))
    except ValueError as exc:
        raise ValueError(f"not a Bluetooth UUID: {value!r}") from exc


class AttErrorCode(enum.IntEnum):
    """ATT error codes a virtual peripheral answers with (Core spec Vol 3, Part F, 3.4.1.1)."""

    INVALID_HANDLE = 0x01
    READ_NOT_PERMITTED = 0x02
    WRITE_NOT_PERMITTED = 0x03
    INSUFFICIENT_AUTHENTICATION = 0x05
    REQUEST_NOT_SUPPORTED = 0x06
    INVALID_ATTRIBUTE_VALUE_LENGTH = 0x0D
    UNLIKELY_ERROR = 0x0E
    VALUE_NOT_ALLOWED = 0x13
    CCCD_IMPROPERLY_CONFIGURED = 0xFD


class FailureKind(enum.Enum):
    """Why the radio refused a request."""

    NOT_ADVERTISING = "not_advertising"
    """connect: no powered, in-range peripheral advertises connectably at that address."""
    NOT_CONNECTED = "not_connected"
    """a GATT request on a socket that has no link (never connected, or the link dropped)."""
    ALREADY_CONNECTED = "already_connected"
    """connect on a socket that already carries a link: one link per socket."""
    PAIRING_REFUSED = "pairing_refused"
    ATT = "att"
    """the peripheral answered with an ATT error; ``att_code`` says which."""
    BAD_REQUEST = "bad_request"


class _Frame(msgspec.Struct, frozen=True, tag_field="op"):
    """Base of every message; the tag field ``op`` names the operation."""


# ---- central -> radio -------------------------------------------------------------------------


class ScanStart(_Frame, frozen=True, tag="scan_start"):
    id: int


class ScanStop(_Frame, frozen=True, tag="scan_stop"):
    id: int


class Connect(_Frame, frozen=True, tag="connect"):
    id: int
    address: str
    central_address: str
    """The central's own (adapter) address: what the peripheral remembers a bond by."""


class Disconnect(_Frame, frozen=True, tag="disconnect"):
    id: int


class Discover(_Frame, frozen=True, tag="discover"):
    id: int


class Read(_Frame, frozen=True, tag="read"):
    id: int
    handle: int


class Write(_Frame, frozen=True, tag="write"):
    id: int
    """``NO_REPLY_ID`` for a write without response."""
    handle: int
    value: bytes
    response: bool


class Pair(_Frame, frozen=True, tag="pair"):
    id: int


class Unpair(_Frame, frozen=True, tag="unpair"):
    """Forget the bond between ``central_address`` and ``address``; works with or without a link."""

    id: int
    address: str
    central_address: str


class Confirm(_Frame, frozen=True, tag="confirm"):
    """The central's confirmation of the indication numbered ``seq``."""

    seq: int


CentralMessage: TypeAlias = (
    ScanStart | ScanStop | Connect | Disconnect | Discover | Read | Write | Pair | Unpair | Confirm
)


# ---- radio -> central -------------------------------------------------------------------------


class DescriptorInfo(msgspec.Struct, frozen=True):
    uuid: str
    handle: int


class CharacteristicInfo(msgspec.Struct, frozen=True):
    uuid: str
    handle: int
    """The value handle: what reads, writes and notifications address."""
    properties: list[str]
    descriptors: list[DescriptorInfo]


class ServiceInfo(msgspec.Struct, frozen=True):
    uuid: str
    handle: int
    characteristics: list[CharacteristicInfo]


class Ok(_Frame, frozen=True, tag="ok"):
    id: int


class Connected(_Frame, frozen=True, tag="connected"):
    id: int
    name: str
    mtu: int


class Services(_Frame, frozen=True, tag="services"):
    id: int
    services: list[ServiceInfo]


class Value(_Frame, frozen=True, tag="value"):
    id: int
    value: bytes


class Failure(_Frame, frozen=True, tag="failure"):
    id: int
    kind: FailureKind
    message: str
    att_code: int | None = None


class Advertisement(_Frame, frozen=True, tag="advertisement"):
    address: str
    name: str | None
    rssi: int
    service_uuids: list[str] = []
    manufacturer_data: dict[int, bytes] = {}
    service_data: dict[str, bytes] = {}
    tx_power: int | None = None


class Notification(_Frame, frozen=True, tag="notification"):
    handle: int
    value: bytes


class Indication(_Frame, frozen=True, tag="indication"):
    handle: int
    value: bytes
    seq: int


class Disconnected(_Frame, frozen=True, tag="disconnected"):
    """The link ended from the peripheral's side (it disconnected, lost power or range)."""

    reason: str


RadioMessage: TypeAlias = (
    Ok
    | Connected
    | Services
    | Value
    | Failure
    | Advertisement
    | Notification
    | Indication
    | Disconnected
)

Reply: TypeAlias = Ok | Connected | Services | Value | Failure

_ENCODER: Final = msgspec.msgpack.Encoder()
_CENTRAL_DECODER: Final = msgspec.msgpack.Decoder(CentralMessage)
_RADIO_DECODER: Final = msgspec.msgpack.Decoder(RadioMessage)


def encode_frame(message: CentralMessage | RadioMessage) -> bytes:
    """One whole frame: the body's length (4 bytes, big-endian) then the msgpack body."""
    body = _ENCODER.encode(message)
    if len(body) > MAX_BODY_BYTES:
        raise ValueError(f"radio frame body of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
    return len(body).to_bytes(HEADER_BYTES, "big") + body


def body_length(header: bytes) -> int:
    """The body length announced by a frame header; garbage raises ``DecodeError``."""
    if len(header) != HEADER_BYTES:
        raise DecodeError(f"radio frame header must be {HEADER_BYTES} bytes, got {len(header)}")
    length = int.from_bytes(header, "big")
    if not 0 < length <= MAX_BODY_BYTES:
        raise DecodeError(f"radio frame announces {length} bytes (1..{MAX_BODY_BYTES} allowed)")
    return length


def decode_central_message(body: bytes) -> CentralMessage:
    """A message sent by a central (the radio's side decodes these)."""
    try:
        message: CentralMessage = _CENTRAL_DECODER.decode(body)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"not a central's radio message: {exc}") from exc
    return message


def decode_radio_message(body: bytes) -> RadioMessage:
    """A message sent by the radio (the central's backend decodes these)."""
    try:
        message: RadioMessage = _RADIO_DECODER.decode(body)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"not a radio message: {exc}") from exc
    return message

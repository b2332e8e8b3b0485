"""UART infrared forehead thermometer module (MLX9061x based), as fitted in kiosks.

Spec: ``PROTOCOLS.md`` section 3, "Thermometer: UART infrared forehead module", confidence **L**:
the layout comes from a **single unattributed source**, so this codec is kept apart. The source
gives 9-byte frames::

    66 66 <mode> <len> T1_H T1_L T2_H T2_L <sum>

mode 01 continuous, 02 on request; T1 the object and T2 the ambient temperature, big-endian,
degrees Celsius = value / 100; ``sum`` = low 8 bits of the sum of the 8 bytes before it.

What we **assumed** (not in the source):

- ``len`` is the payload length and is always 4 (the two temperatures); anything else is a
  :class:`DecodeError`.
- Temperatures are *signed* 16-bit (two's complement), so an ambient below 0 °C reads right. Read
  as unsigned instead, only values above 327.67 °C would differ, which the sensor cannot reach.
- Plausible ranges are the MLX9061x measuring ranges: object -70..380 °C, ambient -40..125 °C;
  outside them the frame is a :class:`DecodeError`.
- In on-request mode the host asks with ``REQUEST_COMMAND`` = ``66 66 02 00 CE``: the same header,
  mode 02, length 0, no payload, and the same checksum rule. The source does not give the request.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from devices.errors import DecodeError, EncodeError

HEADER = b"\x66\x66"
FRAME_SIZE = 9
PAYLOAD_SIZE = 4
TEMPERATURE_STEPS_PER_C = 100
OBJECT_MIN_C = -70.0
OBJECT_MAX_C = 380.0
AMBIENT_MIN_C = -40.0
AMBIENT_MAX_C = 125.0

_FRAME = struct.Struct(">2sBBhhB")  # header, mode, len, object, ambient, sum


def checksum(data: bytes) -> int:
    """Low 8 bits of the sum of ``data``."""
    return sum(data) & 0xFF


class IrMode(enum.Enum):
    """How the module sends: by itself (continuous) or when asked (on request)."""

    CONTINUOUS = 1
    ON_REQUEST = 2


@dataclass(frozen=True, slots=True)
class IrFrame:
    """One measurement: object (the forehead) and ambient temperatures in °C."""

    mode: IrMode
    object_c: float
    ambient_c: float


def decode_frame(data: bytes) -> IrFrame:
    """Unpack one 9-byte frame."""
    if len(data) != FRAME_SIZE:
        raise DecodeError(f"IR frame needs {FRAME_SIZE} bytes, got {len(data)}")
    header, mode, length, object_raw, ambient_raw, frame_sum = _FRAME.unpack(data)
    if header != HEADER:
        raise DecodeError("IR frame does not start with 66 66")
    if frame_sum != checksum(data[:-1]):
        raise DecodeError("IR frame checksum does not match")
    if length != PAYLOAD_SIZE:
        raise DecodeError(f"IR frame length byte is {length}, expected {PAYLOAD_SIZE}")
    try:
        frame_mode = IrMode(mode)
    except ValueError:
        raise DecodeError(f"IR frame mode {mode} is unknown") from None
    object_c = object_raw / TEMPERATURE_STEPS_PER_C
    ambient_c = ambient_raw / TEMPERATURE_STEPS_PER_C
    if not OBJECT_MIN_C <= object_c <= OBJECT_MAX_C:
        raise DecodeError("IR object temperature is outside the sensor's range")
    if not AMBIENT_MIN_C <= ambient_c <= AMBIENT_MAX_C:
        raise DecodeError("IR ambient temperature is outside the sensor's range")
    return IrFrame(mode=frame_mode, object_c=object_c, ambient_c=ambient_c)


def _temperature_raw(value_c: float, name: str) -> int:
    try:
        raw = round(value_c * TEMPERATURE_STEPS_PER_C)
    except (OverflowError, ValueError):  # infinity, NaN
        raise EncodeError(f"IR {name} temperature is not a number") from None
    if not -0x8000 <= raw <= 0x7FFF:
        raise EncodeError(f"IR {name} temperature does not fit in 16 bits")
    return raw


def encode_frame(frame: IrFrame) -> bytes:
    """Pack one 9-byte frame; temperatures are rounded to 0.01 °C."""
    body = _FRAME.pack(
        HEADER,
        IrMode(frame.mode).value,
        PAYLOAD_SIZE,
        _temperature_raw(frame.object_c, "object"),
        _temperature_raw(frame.ambient_c, "ambient"),
        0,
    )[:-1]
    return body + bytes([checksum(body)])


_REQUEST_BODY = HEADER + bytes([IrMode.ON_REQUEST.value, 0])
REQUEST_COMMAND = _REQUEST_BODY + bytes([checksum(_REQUEST_BODY)])  # assumed: 66 66 02 00 CE


def is_request(data: bytes) -> bool:
    """True when ``data`` is exactly ``REQUEST_COMMAND``."""
    return bytes(data) == REQUEST_COMMAND


class IrStreamDecoder:
    """Finds frames in the module's byte stream; keeps a partial frame between calls.

    A candidate starts at ``66 66``; when it does not decode (checksum, length, mode, range) it
    counts in ``bad_frames`` and the search resumes one byte later, so a truncated frame does not
    hide the next one. ``discarded_bytes`` counts every byte not in a returned frame. Never raises.
    (An 8-bit checksum lets about one corrupted candidate in 256 through the sum test; the length,
    mode and range tests catch most of those.)
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.discarded_bytes = 0
        self.bad_frames = 0

    def _discard(self, count: int) -> None:
        self.discarded_bytes += count
        del self._buffer[:count]

    def feed(self, data: bytes) -> list[IrFrame]:
        frames: list[IrFrame] = []
        self._buffer += data
        while True:
            start = self._buffer.find(HEADER)
            if start < 0:
                # Keep a last 0x66: it may be the first half of a header.
                self._discard(len(self._buffer) - (self._buffer[-1:] == HEADER[:1]))
                break
            self._discard(start)
            if len(self._buffer) < FRAME_SIZE:
                break
            try:
                frames.append(decode_frame(bytes(self._buffer[:FRAME_SIZE])))
            except DecodeError:
                self.bad_frames += 1
                self._discard(1)
            else:
                del self._buffer[:FRAME_SIZE]
        return frames


class RequestStreamDecoder:
    """Counts the ``REQUEST_COMMAND`` s in the bytes the host writes (for the simulator); other
    bytes count in ``discarded_bytes``. Never raises."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.discarded_bytes = 0

    def feed(self, data: bytes) -> int:
        requests = 0
        self._buffer += data
        while (start := self._buffer.find(REQUEST_COMMAND)) >= 0:
            self.discarded_bytes += start
            del self._buffer[: start + len(REQUEST_COMMAND)]
            requests += 1
        keep = len(REQUEST_COMMAND) - 1
        if len(self._buffer) > keep:
            self.discarded_bytes += len(self._buffer) - keep
            del self._buffer[:-keep]
        return requests

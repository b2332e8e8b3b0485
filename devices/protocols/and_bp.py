"""A&D UA-767PC style blood pressure monitor over serial (ASCII hex readings). **UNVERIFIED.**

Spec: ``PROTOCOLS.md`` section 3, "Blood pressure: A&D UA-767PC style", confidence **L**: the
layout comes from a **single unattributed source**, whose own sample is labelled "fake data", so
this codec is kept apart and every guess is named here. A&D's own documentation of the UA-767PC /
UA-767PBT serial protocol was searched for (public documentation sites, code and web pages:
"A&D UA-767PC serial communication protocol", "UA-767PBT RS-232 data format", "CPC05") and not
found. Until it is, the model ``and-ua767`` is marked unverified (``devices.registry``): a
configuration must opt in with ``unverified = true``, and no operator should expect its values to
be right. What the source says:

- The host opens with ``02 43 50 43 30 35 3B``: STX, the ASCII command ``CPC05``, and a checksum,
  0x3B, which is the low byte of the sum of the five command characters.
- The device acknowledges; a reading is ten hexadecimal ASCII characters, e.g. ``804C4C4960``:
  status ``80`` OK (``81``-``83`` errors), pulse pressure 0x4C = 76, diastolic 0x4C = 76, pulse
  0x49 = 73; systolic = pulse pressure + diastolic = 152; the last byte is unknown.

What we **assumed** (not in the source):

- Host commands are always STX + five printable ASCII characters + that checksum (7 bytes).
- The acknowledgement is the single byte ACK, 0x06. It is also reported (issue 14, from a
  document we could not find) as ``01 37 30 50 43 06``: SOH, "70PC", ACK. The stream decoder
  already reads that as one acknowledgement (the header is noise that ends at the ACK, and never
  part of a reading); without the document nothing more is built on it.
- A reading line is the ten characters followed by CR LF; we write upper-case hex and read either
  case. The meaning of the error statuses 0x81-0x83 is unknown: they are named
  ``DEVICE_ERROR_1``..``3``, and their other fields are passed on as sent.
- The last byte is kept raw in ``trailer`` and checked against nothing.
- A systolic above ``SYSTOLIC_MAX_MMHG`` (a plausibility bound) is a :class:`DecodeError`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from devices.errors import DecodeError, EncodeError

STX = 0x02
ACK = b"\x06"  # assumed, see the module docstring
COMMAND_BODY_SIZE = 5
COMMAND_SIZE = 1 + COMMAND_BODY_SIZE + 1
OPEN_COMMAND_BODY = "CPC05"
READING_HEX_SIZE = 10
READING_LINE_END = b"\r\n"
SYSTOLIC_MAX_MMHG = 300

_PRINTABLE_ASCII = re.compile(rb"[\x20-\x7e]{5}")
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
_READING = re.compile(rb"[0-9a-fA-F]{10}")


# ------------------------------------------------------------------------- host -> device


def command_checksum(body: bytes) -> int:
    """Low byte of the sum of the command characters (``CPC05`` -> 0x3B)."""
    return sum(body) & 0xFF


def encode_command(body: str) -> bytes:
    """Pack a host command: STX, five printable ASCII characters, checksum."""
    raw = body.encode("ascii", errors="backslashreplace")  # non-ASCII fails the match below
    if len(raw) != len(body) or _PRINTABLE_ASCII.fullmatch(raw) is None:
        raise EncodeError(f"A&D command {body!r} is not five printable ASCII characters")
    return bytes([STX]) + raw + bytes([command_checksum(raw)])


OPEN_COMMAND = encode_command(OPEN_COMMAND_BODY)  # 02 43 50 43 30 35 3B


def decode_command(data: bytes) -> str:
    """Unpack a host command and return its five characters (``"CPC05"``)."""
    if len(data) != COMMAND_SIZE:
        raise DecodeError(f"A&D command needs {COMMAND_SIZE} bytes, got {len(data)}")
    if data[0] != STX:
        raise DecodeError("A&D command does not start with STX")
    body = bytes(data[1:-1])
    if _PRINTABLE_ASCII.fullmatch(body) is None:
        raise DecodeError("A&D command body is not printable ASCII")
    if command_checksum(body) != data[-1]:
        raise DecodeError("A&D command checksum does not match")
    return body.decode("ascii")


def is_open_command(data: bytes) -> bool:
    """True when ``data`` is exactly the open command."""
    return bytes(data) == OPEN_COMMAND


def decode_open_command(data: bytes) -> None:
    """Raise :class:`DecodeError` unless ``data`` is a valid open command."""
    if decode_command(data) != OPEN_COMMAND_BODY:
        raise DecodeError("A&D command is not the open command")


class CommandStreamDecoder:
    """Finds host commands in the bytes the host writes (for the simulator). Bytes before an STX
    are skipped; a candidate with a bad checksum or body is counted in ``bad_frames`` and the
    search resumes one byte after its STX. Never raises."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.discarded_bytes = 0
        self.bad_frames = 0

    def feed(self, data: bytes) -> list[str]:
        commands: list[str] = []
        self._buffer += data
        while True:
            start = self._buffer.find(STX)
            if start < 0:
                self.discarded_bytes += len(self._buffer)
                self._buffer.clear()
                break
            self.discarded_bytes += start
            del self._buffer[:start]
            if len(self._buffer) < COMMAND_SIZE:
                break
            try:
                commands.append(decode_command(bytes(self._buffer[:COMMAND_SIZE])))
            except DecodeError:
                self.bad_frames += 1
                self.discarded_bytes += 1
                del self._buffer[:1]
            else:
                del self._buffer[:COMMAND_SIZE]
        return commands


# ------------------------------------------------------------------------- device -> host


class AndStatus(enum.Enum):
    """First byte of a reading. The error meanings are unknown (see the module docstring)."""

    OK = 0x80
    DEVICE_ERROR_1 = 0x81
    DEVICE_ERROR_2 = 0x82
    DEVICE_ERROR_3 = 0x83


@dataclass(frozen=True, slots=True)
class AndReading:
    """One reading line. ``trailer`` is the unknown last byte, kept raw."""

    status: AndStatus
    systolic_mmhg: int
    diastolic_mmhg: int
    pulse_rate_bpm: int
    trailer: int


@dataclass(frozen=True, slots=True)
class AndAck:
    """The device acknowledged the open command (assumed to be the byte 0x06)."""


def decode_reading_line(line: bytes) -> AndReading:
    """Unpack one reading: the ten hex characters, without CR LF."""
    raw = bytes(line)
    if _READING.fullmatch(raw) is None:
        raise DecodeError("A&D reading is not ten hexadecimal characters")
    status, pulse_pressure, diastolic, pulse_rate, trailer = bytes.fromhex(raw.decode("ascii"))
    try:
        reading_status = AndStatus(status)
    except ValueError:
        raise DecodeError(f"A&D reading status {status:#04x} is unknown") from None
    systolic = pulse_pressure + diastolic
    if systolic > SYSTOLIC_MAX_MMHG:
        raise DecodeError(f"A&D systolic is above {SYSTOLIC_MAX_MMHG} mmHg")
    return AndReading(
        status=reading_status,
        systolic_mmhg=systolic,
        diastolic_mmhg=diastolic,
        pulse_rate_bpm=pulse_rate,
        trailer=trailer,
    )


def encode_reading_line(reading: AndReading) -> bytes:
    """Pack one reading: ten upper-case hex characters and CR LF."""
    pulse_pressure = reading.systolic_mmhg - reading.diastolic_mmhg
    fields = {
        "pulse pressure (systolic - diastolic)": pulse_pressure,
        "diastolic": reading.diastolic_mmhg,
        "pulse rate": reading.pulse_rate_bpm,
        "trailer": reading.trailer,
    }
    for name, value in fields.items():
        if not 0 <= value <= 0xFF:
            raise EncodeError(f"A&D {name} does not fit in one byte")
    raw = bytes([AndStatus(reading.status).value, *fields.values()])
    return raw.hex().upper().encode("ascii") + READING_LINE_END


class AndStreamDecoder:
    """Decodes what the device sends: :class:`AndAck` for each ACK byte, :class:`AndReading` for
    each reading line.

    A line is the hex characters before a CR or LF. When more than ten hex characters come before
    the line end (noise, or a truncated line whose end was lost), the last ten are the reading
    and the rest count in ``discarded_bytes``; fewer than ten, or an undecodable line, count in
    ``bad_frames``. Any other byte is noise: it ends the line being read (a bad frame if not
    empty). Never raises.
    """

    def __init__(self) -> None:
        self._line = bytearray()
        self.discarded_bytes = 0
        self.bad_frames = 0

    def _drop_line(self) -> None:
        if self._line:
            self.bad_frames += 1
            self.discarded_bytes += len(self._line)
            self._line.clear()

    def feed(self, data: bytes) -> list[AndReading | AndAck]:
        messages: list[AndReading | AndAck] = []
        for byte in bytes(data):
            if byte in _HEX_DIGITS:
                self._line.append(byte)
                if len(self._line) > READING_HEX_SIZE:
                    del self._line[0]
                    self.discarded_bytes += 1
            elif byte in READING_LINE_END:
                if len(self._line) == READING_HEX_SIZE:
                    try:
                        messages.append(decode_reading_line(bytes(self._line)))
                    except DecodeError:
                        self._drop_line()
                    else:
                        self._line.clear()
                else:
                    self._drop_line()
            elif byte == ACK[0]:
                self._drop_line()
                messages.append(AndAck())
            else:
                self._drop_line()
                self.discarded_bytes += 1
        return messages

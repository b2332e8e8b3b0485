"""IEEE 11073-20601 numbers and the Bluetooth Date Time, as the SIG health profiles carry them.

Spec: ``PROTOCOLS.md`` section 1 (confidence **H**). Every multi-byte field is little-endian.

- **SFLOAT** (2 bytes): bits 15..12 a signed 4-bit exponent, bits 11..0 a signed 12-bit mantissa;
  the value is ``mantissa * 10**exponent``.
- **FLOAT** (4 bytes): bits 31..24 a signed 8-bit exponent, bits 23..0 a signed 24-bit mantissa.
- Special values are whole codes (exponent 0), checked before any arithmetic:

  ============  =======  ==========
  meaning       SFLOAT   FLOAT
  ============  =======  ==========
  NaN           0x07FF   0x007FFFFF
  NRes          0x0800   0x00800000
  +infinity     0x07FE   0x007FFFFE
  -infinity     0x0802   0x00800002
  reserved      0x0801   0x00800001
  ============  =======  ==========

  NaN, NRes and the reserved code decode to :data:`math.nan` ("no usable value"); the infinities to
  :data:`math.inf` / ``-math.inf``.

- **Date Time** (characteristic 0x2A08, 7 bytes): year u16 (0 = unknown), month, day, hours,
  minutes, seconds (u8 each; month or day 0 = unknown). It is the device's local wall clock: the
  datetimes here are naive.

The encoders never emit a mantissa that collides with a special value in *any* exponent (the
mantissa stays within +-2045 for SFLOAT, +-(2**23 - 3) for FLOAT), so a decoder that checks the
mantissa alone still reads our numbers right.
"""

from __future__ import annotations

import math
import struct
from datetime import datetime

from devices.errors import DecodeError, EncodeError

SFLOAT_SIZE = 2
FLOAT_SIZE = 4
DATE_TIME_SIZE = 7

# Special codes (the whole little-endian integer).
SFLOAT_NAN = 0x07FF
SFLOAT_NRES = 0x0800
SFLOAT_POSITIVE_INFINITY = 0x07FE
SFLOAT_NEGATIVE_INFINITY = 0x0802
SFLOAT_RESERVED = 0x0801
FLOAT_NAN = 0x007FFFFF
FLOAT_NRES = 0x00800000
FLOAT_POSITIVE_INFINITY = 0x007FFFFE
FLOAT_NEGATIVE_INFINITY = 0x00800002
FLOAT_RESERVED = 0x00800001

_SFLOAT_NO_VALUE = frozenset({SFLOAT_NAN, SFLOAT_NRES, SFLOAT_RESERVED})
_FLOAT_NO_VALUE = frozenset({FLOAT_NAN, FLOAT_NRES, FLOAT_RESERVED})

SFLOAT_MANTISSA_MAX = 2045  # 2046, 2047, -2046, -2047, -2048 are the special mantissas
SFLOAT_EXPONENT_MIN = -8
SFLOAT_EXPONENT_MAX = 7
FLOAT_MANTISSA_MAX = 2**23 - 3
FLOAT_EXPONENT_MIN = -128
FLOAT_EXPONENT_MAX = 127

# The Date Time characteristic defines years 1582..9999 (0 = unknown).
DATE_TIME_YEAR_MIN = 1582
DATE_TIME_YEAR_MAX = 9999

_DATE_TIME = struct.Struct("<HBBBBB")


def _signed(raw: int, bits: int) -> int:
    """Two's complement reading of the ``bits`` low bits of ``raw``."""
    sign_bit = 1 << (bits - 1)
    return (raw & (sign_bit - 1)) - (raw & sign_bit)


def _power_of_ten(exponent: int) -> int:
    """10**exponent for exponent >= 0, as an exact int."""
    power: int = 10**exponent
    return power


def _scale(mantissa: int, exponent: int) -> float:
    # A true division by a power of ten rounds once, so 366 e-1 is exactly the float 36.6.
    if exponent >= 0:
        return float(mantissa * _power_of_ten(exponent))
    return mantissa / _power_of_ten(-exponent)


def _mantissa_for(value: float, exponent: int, limit: int, kind: str) -> int:
    scaled = value * _power_of_ten(-exponent) if exponent < 0 else value / _power_of_ten(exponent)
    if not math.isfinite(scaled):
        raise EncodeError(f"{kind}: the value does not fit at exponent {exponent}")
    mantissa = round(scaled)
    if not -limit <= mantissa <= limit:
        raise EncodeError(f"{kind}: the mantissa at exponent {exponent} exceeds +-{limit}")
    return mantissa


def decode_sfloat(data: bytes) -> float:
    """Read a 2-byte little-endian SFLOAT."""
    if len(data) != SFLOAT_SIZE:
        raise DecodeError(f"SFLOAT needs {SFLOAT_SIZE} bytes, got {len(data)}")
    raw = int.from_bytes(data, "little")
    if raw in _SFLOAT_NO_VALUE:
        return math.nan
    if raw == SFLOAT_POSITIVE_INFINITY:
        return math.inf
    if raw == SFLOAT_NEGATIVE_INFINITY:
        return -math.inf
    return _scale(_signed(raw & 0x0FFF, 12), _signed(raw >> 12, 4))


def encode_sfloat(value: float, exponent: int) -> bytes:
    """Write ``value`` as an SFLOAT with resolution ``10**exponent`` (rounded to it).

    NaN gives the NaN code and the infinities their codes, whatever the exponent.
    """
    if math.isnan(value):
        raw = SFLOAT_NAN
    elif value == math.inf:
        raw = SFLOAT_POSITIVE_INFINITY
    elif value == -math.inf:
        raw = SFLOAT_NEGATIVE_INFINITY
    else:
        if not SFLOAT_EXPONENT_MIN <= exponent <= SFLOAT_EXPONENT_MAX:
            raise EncodeError(f"SFLOAT exponent {exponent} is outside -8..7")
        mantissa = _mantissa_for(value, exponent, SFLOAT_MANTISSA_MAX, "SFLOAT")
        raw = ((exponent & 0x0F) << 12) | (mantissa & 0x0FFF)
    return raw.to_bytes(SFLOAT_SIZE, "little")


def decode_float(data: bytes) -> float:
    """Read a 4-byte little-endian FLOAT."""
    if len(data) != FLOAT_SIZE:
        raise DecodeError(f"FLOAT needs {FLOAT_SIZE} bytes, got {len(data)}")
    raw = int.from_bytes(data, "little")
    if raw in _FLOAT_NO_VALUE:
        return math.nan
    if raw == FLOAT_POSITIVE_INFINITY:
        return math.inf
    if raw == FLOAT_NEGATIVE_INFINITY:
        return -math.inf
    return _scale(_signed(raw & 0x00FFFFFF, 24), _signed(raw >> 24, 8))


def encode_float(value: float, exponent: int) -> bytes:
    """Write ``value`` as a FLOAT with resolution ``10**exponent`` (rounded to it)."""
    if math.isnan(value):
        raw = FLOAT_NAN
    elif value == math.inf:
        raw = FLOAT_POSITIVE_INFINITY
    elif value == -math.inf:
        raw = FLOAT_NEGATIVE_INFINITY
    else:
        if not FLOAT_EXPONENT_MIN <= exponent <= FLOAT_EXPONENT_MAX:
            raise EncodeError(f"FLOAT exponent {exponent} is outside -128..127")
        mantissa = _mantissa_for(value, exponent, FLOAT_MANTISSA_MAX, "FLOAT")
        raw = ((exponent & 0xFF) << 24) | (mantissa & 0x00FFFFFF)
    return raw.to_bytes(FLOAT_SIZE, "little")


def decode_date_time(data: bytes) -> datetime | None:
    """Read a Date Time (0x2A08); ``None`` when the device says the date is unknown."""
    if len(data) != DATE_TIME_SIZE:
        raise DecodeError(f"Date Time needs {DATE_TIME_SIZE} bytes, got {len(data)}")
    year, month, day, hours, minutes, seconds = _DATE_TIME.unpack(data)
    if year == 0 or month == 0 or day == 0:
        return None
    if not DATE_TIME_YEAR_MIN <= year <= DATE_TIME_YEAR_MAX:
        raise DecodeError("Date Time year is outside 1582..9999")
    try:
        return datetime(year, month, day, hours, minutes, seconds)
    except ValueError as error:
        raise DecodeError(f"Date Time is not a valid date: {error}") from None


def encode_date_time(moment: datetime) -> bytes:
    """Write a naive datetime (the device's local clock) as Date Time; sub-seconds are dropped."""
    if moment.tzinfo is not None:
        raise EncodeError("Date Time carries the device's local wall clock: pass a naive datetime")
    if not DATE_TIME_YEAR_MIN <= moment.year <= DATE_TIME_YEAR_MAX:
        raise EncodeError("Date Time year is outside 1582..9999")
    return _DATE_TIME.pack(
        moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second
    )


def encode_unknown_date_time() -> bytes:
    """The Date Time a device sends when its clock was never set (all zero)."""
    return bytes(DATE_TIME_SIZE)

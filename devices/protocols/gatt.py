"""Bluetooth SIG health profiles: the characteristic values of BPS, HTS, PLXS, DIS and BAS.

Spec: ``PROTOCOLS.md`` section 2 (confidence **H**). Numbers are IEEE 11073 SFLOAT/FLOAT and
timestamps Date Time (see :mod:`devices.protocols.ieee11073`); every multi-byte field is
little-endian. Each characteristic is packed and unpacked in one pair of functions below.

Rules shared by every decoder here:

- A value shorter or longer than its flags announce raises :class:`DecodeError` (a frame of the
  wrong length is not trusted). Reserved flag and status bits are ignored, as the profiles say.
  The one exception is a Blood Pressure Measurement from a cuff model known to break the profile
  in a known way, decoded with that model's quirks (:mod:`devices.protocols.bp_quirks`).
- An IEEE 11073 NaN (or NRes) in a field that is present decodes to ``math.nan``: "the device sent
  the field but has no value". Callers test it with :func:`math.isnan`.
- A value outside a plausible physical range (``PRESSURE_MAX_MMHG``, ``PULSE_RATE_MAX_BPM``,
  ``TEMPERATURE_MIN_C``/``TEMPERATURE_MAX_C``, percentages 0..100), including an IEEE infinity,
  raises :class:`DecodeError` rather than reaching a patient's record.

The encoders (for the simulators) write whatever the format can represent, plausible or not, so a
simulator can inject out-of-range values; they raise :class:`EncodeError` only when the format
cannot carry the value. Optional fields are written exactly when they are not ``None``.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeVar

from devices.errors import DecodeError, EncodeError
from devices.protocols.bp_quirks import STRICT, BpQuirks
from devices.protocols.ieee11073 import (
    DATE_TIME_SIZE,
    FLOAT_SIZE,
    SFLOAT_SIZE,
    decode_date_time,
    decode_float,
    decode_sfloat,
    encode_date_time,
    encode_float,
    encode_sfloat,
)

# --------------------------------------------------------------------------------------- UUIDs

_BASE_UUID_TEMPLATE = "0000{:04x}-0000-1000-8000-00805f9b34fb"


def uuid16(n: int) -> str:
    """Expand a 16-bit SIG UUID to its full 128-bit lowercase form."""
    if not 0 <= n <= 0xFFFF:
        raise ValueError(f"a 16-bit UUID is 0..0xFFFF, got {n:#x}")
    return _BASE_UUID_TEMPLATE.format(n)


BLOOD_PRESSURE_SERVICE = uuid16(0x1810)
BLOOD_PRESSURE_MEASUREMENT = uuid16(0x2A35)
INTERMEDIATE_CUFF_PRESSURE = uuid16(0x2A36)
BLOOD_PRESSURE_FEATURE = uuid16(0x2A49)

HEALTH_THERMOMETER_SERVICE = uuid16(0x1809)
TEMPERATURE_MEASUREMENT = uuid16(0x2A1C)
TEMPERATURE_TYPE = uuid16(0x2A1D)
INTERMEDIATE_TEMPERATURE = uuid16(0x2A1E)
MEASUREMENT_INTERVAL = uuid16(0x2A21)

PULSE_OXIMETER_SERVICE = uuid16(0x1822)
PLX_SPOT_CHECK_MEASUREMENT = uuid16(0x2A5E)
PLX_CONTINUOUS_MEASUREMENT = uuid16(0x2A5F)
PLX_FEATURES = uuid16(0x2A60)

DEVICE_INFORMATION_SERVICE = uuid16(0x180A)
MANUFACTURER_NAME = uuid16(0x2A29)
MODEL_NUMBER = uuid16(0x2A24)
SERIAL_NUMBER = uuid16(0x2A25)
HARDWARE_REVISION = uuid16(0x2A27)
FIRMWARE_REVISION = uuid16(0x2A26)
SOFTWARE_REVISION = uuid16(0x2A28)

BATTERY_SERVICE = uuid16(0x180F)
BATTERY_LEVEL = uuid16(0x2A19)

DATE_TIME = uuid16(0x2A08)

# ------------------------------------------------------------------------ plausibility bounds
# Not from the profiles (they carry any number): the limits past which a value is a fault, not a
# measurement of a person.

MMHG_PER_KPA = 7.500617
PRESSURE_MAX_MMHG = 400.0
PULSE_RATE_MAX_BPM = 350.0
TEMPERATURE_MIN_C = -40.0
TEMPERATURE_MAX_C = 100.0
PERCENT_MAX = 100.0


_Flag = TypeVar("_Flag", bound=enum.Enum)


def _check_range(field: str, value: float, low: float, high: float) -> float:
    """Return ``value`` if it is NaN ("no value") or within ``low..high``, else raise."""
    if math.isnan(value) or low <= value <= high:
        return value
    raise DecodeError(f"{field} is outside its plausible range {low}..{high}")


def _bits_to_flags(raw: int, bits: dict[_Flag, int]) -> frozenset[_Flag]:
    return frozenset(flag for flag, bit in bits.items() if raw >> bit & 1)


def _flags_to_bits(flags: frozenset[_Flag], bits: dict[_Flag, int]) -> int:
    raw = 0
    for flag in flags:
        raw |= 1 << bits[flag]
    return raw


class _Reader:
    """Reads the fields of one characteristic value in order; every shortfall is a DecodeError."""

    __slots__ = ("_data", "_name", "_offset")

    def __init__(self, data: bytes, name: str) -> None:
        self._data = bytes(data)
        self._name = name
        self._offset = 0

    def take(self, size: int) -> bytes:
        end = self._offset + size
        if end > len(self._data):
            raise DecodeError(
                f"{self._name}: {len(self._data)} bytes end before the fields its flags announce"
            )
        chunk = self._data[self._offset : end]
        self._offset = end
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "little")

    def u24(self) -> int:
        return int.from_bytes(self.take(3), "little")

    def sfloat(self) -> float:
        return decode_sfloat(self.take(SFLOAT_SIZE))

    def float(self) -> float:
        return decode_float(self.take(FLOAT_SIZE))

    def date_time(self) -> datetime | None:
        return decode_date_time(self.take(DATE_TIME_SIZE))

    def finish(self) -> None:
        extra = len(self._data) - self._offset
        if extra:
            raise DecodeError(f"{self._name}: {extra} bytes beyond the fields its flags announce")


def _u16(value: int, field: str) -> bytes:
    if not 0 <= value <= 0xFFFF:
        raise EncodeError(f"{field} {value} does not fit in a u16")
    return value.to_bytes(2, "little")


# ------------------------------------------------------------------ Blood Pressure Service 0x1810

BP_FLAG_KPA = 1 << 0
BP_FLAG_TIMESTAMP = 1 << 1
BP_FLAG_PULSE_RATE = 1 << 2
BP_FLAG_USER_ID = 1 << 3
BP_FLAG_MEASUREMENT_STATUS = 1 << 4

BP_USER_ID_UNKNOWN = 0xFF


class BpStatus(enum.Enum):
    """Measurement Status bits of a Blood Pressure Measurement."""

    BODY_MOVEMENT = "body_movement"
    CUFF_TOO_LOOSE = "cuff_too_loose"
    IRREGULAR_PULSE = "irregular_pulse"
    PULSE_RATE_ABOVE_RANGE = "pulse_rate_above_range"
    PULSE_RATE_BELOW_RANGE = "pulse_rate_below_range"
    IMPROPER_POSITION = "improper_position"


_BP_STATUS_BITS = {
    BpStatus.BODY_MOVEMENT: 0,
    BpStatus.CUFF_TOO_LOOSE: 1,
    BpStatus.IRREGULAR_PULSE: 2,
    BpStatus.IMPROPER_POSITION: 5,
}
# Bits 3-4 together: 0 in range, 1 above, 2 below, 3 reserved (ignored).
_BP_PULSE_RANGE_SHIFT = 3
_BP_PULSE_RANGE = {1: BpStatus.PULSE_RATE_ABOVE_RANGE, 2: BpStatus.PULSE_RATE_BELOW_RANGE}


def _decode_bp_status(raw: int) -> frozenset[BpStatus]:
    flags = set(_bits_to_flags(raw, _BP_STATUS_BITS))
    pulse_range = _BP_PULSE_RANGE.get(raw >> _BP_PULSE_RANGE_SHIFT & 0b11)
    if pulse_range is not None:
        flags.add(pulse_range)
    return frozenset(flags)


def _encode_bp_status(status: frozenset[BpStatus]) -> int:
    above = BpStatus.PULSE_RATE_ABOVE_RANGE in status
    below = BpStatus.PULSE_RATE_BELOW_RANGE in status
    if above and below:
        raise EncodeError("a pulse rate cannot be both above and below range")
    raw = _flags_to_bits(status - {*_BP_PULSE_RANGE.values()}, _BP_STATUS_BITS)
    if above:
        raw |= 1 << _BP_PULSE_RANGE_SHIFT
    if below:
        raw |= 2 << _BP_PULSE_RANGE_SHIFT
    return raw


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement:
    """Blood Pressure Measurement (0x2A35) or Intermediate Cuff Pressure (0x2A36).

    Pressures are in ``unit``. For an intermediate cuff pressure the current cuff pressure is in
    ``systolic`` and ``diastolic``/``mean_arterial_pressure`` are NaN. ``user_id`` is ``None``
    both when the field is absent and when it is 0xFF ("unknown user"). ``status`` is ``None``
    when the device sent no Measurement Status field.
    """

    systolic: float
    diastolic: float
    mean_arterial_pressure: float
    unit: Literal["mmHg", "kPa"]
    timestamp: datetime | None = None
    pulse_rate_bpm: float | None = None
    user_id: int | None = None
    status: frozenset[BpStatus] | None = None


def decode_blood_pressure_measurement(
    data: bytes, quirks: BpQuirks = STRICT
) -> BloodPressureMeasurement:
    """Unpack 0x2A35 (or 0x2A36, same layout); ``quirks``: the shape of one cuff model that
    breaks the profile (:mod:`devices.protocols.bp_quirks`), strict by default."""
    reader = _Reader(data, "Blood Pressure Measurement")
    flags = reader.u8()
    unit: Literal["mmHg", "kPa"] = "kPa" if flags & BP_FLAG_KPA else "mmHg"
    pressure_max = PRESSURE_MAX_MMHG / MMHG_PER_KPA if unit == "kPa" else PRESSURE_MAX_MMHG
    systolic = _check_range("systolic", reader.sfloat(), 0.0, pressure_max)
    diastolic = _check_range("diastolic", reader.sfloat(), 0.0, pressure_max)
    mean_arterial = _check_range("mean arterial pressure", reader.sfloat(), 0.0, pressure_max)
    if quirks.zero_mean_arterial_is_absent and mean_arterial == 0:
        mean_arterial = math.nan
    timestamp = reader.date_time() if flags & BP_FLAG_TIMESTAMP else None
    pulse_rate_bpm = None
    if flags & BP_FLAG_PULSE_RATE:
        raw = reader.take(SFLOAT_SIZE)
        pulse = decode_sfloat(raw[::-1] if quirks.pulse_rate_big_endian else raw)
        pulse_rate_bpm = _check_range("pulse rate", pulse, 0.0, PULSE_RATE_MAX_BPM)
    user_id = None
    if flags & BP_FLAG_USER_ID or quirks.user_id_without_flag:
        user_id = reader.u8()
        if user_id == BP_USER_ID_UNKNOWN:
            user_id = None
    status = None
    if flags & BP_FLAG_MEASUREMENT_STATUS:
        order: Literal["big", "little"] = "big" if quirks.status_big_endian else "little"
        status = _decode_bp_status(int.from_bytes(reader.take(2), order))
    reader.finish()
    return BloodPressureMeasurement(
        systolic=systolic,
        diastolic=diastolic,
        mean_arterial_pressure=mean_arterial,
        unit=unit,
        timestamp=timestamp,
        pulse_rate_bpm=pulse_rate_bpm,
        user_id=user_id,
        status=status,
    )


def encode_blood_pressure_measurement(
    m: BloodPressureMeasurement, *, exponent: int = 0, quirks: BpQuirks = STRICT
) -> bytes:
    """Pack 0x2A35/0x2A36; pressures at resolution ``10**exponent``, the pulse rate at 1 bpm;
    ``quirks``: in the shape of a cuff model that breaks the profile (for the simulators)."""
    flags = quirks.reserved_flag_bits
    if m.unit == "kPa":
        flags |= BP_FLAG_KPA
    elif m.unit != "mmHg":
        raise EncodeError(f"blood pressure unit {m.unit!r} is neither mmHg nor kPa")
    mean_arterial = m.mean_arterial_pressure
    if quirks.zero_mean_arterial_is_absent and math.isnan(mean_arterial):
        mean_arterial = 0.0
    body = b"".join(
        encode_sfloat(value, exponent) for value in (m.systolic, m.diastolic, mean_arterial)
    )
    if m.timestamp is not None:
        flags |= BP_FLAG_TIMESTAMP
        body += encode_date_time(m.timestamp)
    if m.pulse_rate_bpm is not None:
        flags |= BP_FLAG_PULSE_RATE
        pulse = encode_sfloat(m.pulse_rate_bpm, 0)
        body += pulse[::-1] if quirks.pulse_rate_big_endian else pulse
    if m.user_id is not None and not 0 <= m.user_id < BP_USER_ID_UNKNOWN:
        raise EncodeError("user id is outside 0..254 (0xFF means unknown)")
    if quirks.user_id_without_flag:
        body += bytes([BP_USER_ID_UNKNOWN if m.user_id is None else m.user_id])
    elif m.user_id is not None:
        flags |= BP_FLAG_USER_ID
        body += bytes([m.user_id])
    if m.status is not None:
        flags |= BP_FLAG_MEASUREMENT_STATUS
        status = _u16(_encode_bp_status(m.status), "measurement status")
        body += status[::-1] if quirks.status_big_endian else status
    return bytes([flags]) + body


class BpFeature(enum.Enum):
    """Blood Pressure Feature (0x2A49) bits: what the cuff can detect."""

    BODY_MOVEMENT_DETECTION = "body_movement_detection"
    CUFF_FIT_DETECTION = "cuff_fit_detection"
    IRREGULAR_PULSE_DETECTION = "irregular_pulse_detection"
    PULSE_RATE_RANGE_DETECTION = "pulse_rate_range_detection"
    MEASUREMENT_POSITION_DETECTION = "measurement_position_detection"
    MULTIPLE_BONDS = "multiple_bonds"


_BP_FEATURE_BITS = {feature: bit for bit, feature in enumerate(BpFeature)}


def decode_bp_feature(data: bytes) -> frozenset[BpFeature]:
    """Unpack Blood Pressure Feature (u16)."""
    reader = _Reader(data, "Blood Pressure Feature")
    raw = reader.u16()
    reader.finish()
    return _bits_to_flags(raw, _BP_FEATURE_BITS)


def encode_bp_feature(features: frozenset[BpFeature]) -> bytes:
    """Pack Blood Pressure Feature (u16)."""
    return _u16(_flags_to_bits(features, _BP_FEATURE_BITS), "blood pressure feature")


# ---------------------------------------------------------------- Health Thermometer 0x1809

TEMPERATURE_FLAG_FAHRENHEIT = 1 << 0
TEMPERATURE_FLAG_TIMESTAMP = 1 << 1
TEMPERATURE_FLAG_TYPE = 1 << 2


class TemperatureType(enum.IntEnum):
    """Where the temperature was taken (0x2A1D and the in-measurement byte)."""

    ARMPIT = 1
    BODY = 2
    EAR = 3
    FINGER = 4
    GASTROINTESTINAL = 5
    MOUTH = 6
    RECTUM = 7
    TOE = 8
    TYMPANUM = 9


def _temperature_type(raw: int) -> TemperatureType:
    try:
        return TemperatureType(raw)
    except ValueError:
        # A reserved location: mapping it to None would hide that the device said something.
        raise DecodeError(f"temperature type {raw} is reserved") from None


def _celsius_to_fahrenheit(celsius: float) -> float:
    return celsius * 9 / 5 + 32


@dataclass(frozen=True, slots=True)
class TemperatureMeasurement:
    """Temperature Measurement (0x2A1C) or Intermediate Temperature (0x2A1E), in ``unit``."""

    value: float
    unit: Literal["C", "F"]
    timestamp: datetime | None = None
    temperature_type: TemperatureType | None = None


def decode_temperature_measurement(data: bytes) -> TemperatureMeasurement:
    """Unpack 0x2A1C (or 0x2A1E, same layout)."""
    reader = _Reader(data, "Temperature Measurement")
    flags = reader.u8()
    unit: Literal["C", "F"] = "F" if flags & TEMPERATURE_FLAG_FAHRENHEIT else "C"
    low, high = TEMPERATURE_MIN_C, TEMPERATURE_MAX_C
    if unit == "F":
        low, high = _celsius_to_fahrenheit(low), _celsius_to_fahrenheit(high)
    value = _check_range("temperature", reader.float(), low, high)
    timestamp = reader.date_time() if flags & TEMPERATURE_FLAG_TIMESTAMP else None
    temperature_type = None
    if flags & TEMPERATURE_FLAG_TYPE:
        temperature_type = _temperature_type(reader.u8())
    reader.finish()
    return TemperatureMeasurement(
        value=value, unit=unit, timestamp=timestamp, temperature_type=temperature_type
    )


def encode_temperature_measurement(m: TemperatureMeasurement, *, exponent: int = -1) -> bytes:
    """Pack 0x2A1C/0x2A1E; the temperature at resolution ``10**exponent``."""
    flags = 0
    if m.unit == "F":
        flags |= TEMPERATURE_FLAG_FAHRENHEIT
    elif m.unit != "C":
        raise EncodeError(f"temperature unit {m.unit!r} is neither C nor F")
    body = encode_float(m.value, exponent)
    if m.timestamp is not None:
        flags |= TEMPERATURE_FLAG_TIMESTAMP
        body += encode_date_time(m.timestamp)
    if m.temperature_type is not None:
        flags |= TEMPERATURE_FLAG_TYPE
        body += bytes([TemperatureType(m.temperature_type).value])
    return bytes([flags]) + body


def decode_temperature_type(data: bytes) -> TemperatureType:
    """Unpack Temperature Type (0x2A1D, u8)."""
    reader = _Reader(data, "Temperature Type")
    raw = reader.u8()
    reader.finish()
    return _temperature_type(raw)


def encode_temperature_type(temperature_type: TemperatureType) -> bytes:
    """Pack Temperature Type (0x2A1D, u8)."""
    return bytes([TemperatureType(temperature_type).value])


def decode_measurement_interval(data: bytes) -> int:
    """Unpack Measurement Interval (0x2A21): seconds between measurements, 0 = none."""
    reader = _Reader(data, "Measurement Interval")
    interval_s = reader.u16()
    reader.finish()
    return interval_s


def encode_measurement_interval(interval_s: int) -> bytes:
    """Pack Measurement Interval (0x2A21, u16 seconds)."""
    return _u16(interval_s, "measurement interval")


# ------------------------------------------------------------------ Pulse Oximeter Service 0x1822

PLX_SPOT_FLAG_TIMESTAMP = 1 << 0
PLX_SPOT_FLAG_MEASUREMENT_STATUS = 1 << 1
PLX_SPOT_FLAG_DEVICE_STATUS = 1 << 2
PLX_SPOT_FLAG_PULSE_AMPLITUDE_INDEX = 1 << 3
PLX_SPOT_FLAG_CLOCK_NOT_SET = 1 << 4

PLX_CONTINUOUS_FLAG_FAST = 1 << 0
PLX_CONTINUOUS_FLAG_SLOW = 1 << 1
PLX_CONTINUOUS_FLAG_MEASUREMENT_STATUS = 1 << 2
PLX_CONTINUOUS_FLAG_DEVICE_STATUS = 1 << 3
PLX_CONTINUOUS_FLAG_PULSE_AMPLITUDE_INDEX = 1 << 4

PULSE_AMPLITUDE_INDEX_EXPONENT = -1


class PlxMeasurementStatus(enum.Enum):
    """PLX Measurement Status bits 5..15 (u16)."""

    MEASUREMENT_ONGOING = "measurement_ongoing"
    EARLY_ESTIMATE = "early_estimate"
    VALIDATED = "validated"
    FULLY_QUALIFIED = "fully_qualified"
    FROM_STORAGE = "from_storage"
    DEMONSTRATION = "demonstration"
    TESTING = "testing"
    CALIBRATION = "calibration"
    UNAVAILABLE = "unavailable"
    QUESTIONABLE = "questionable"
    INVALID = "invalid"


_PLX_MEASUREMENT_STATUS_BITS = {
    status: bit for bit, status in enumerate(PlxMeasurementStatus, start=5)
}


class PlxDeviceStatus(enum.Enum):
    """PLX Device and Sensor Status bits (u24); the bits not listed here are ignored."""

    EQUIPMENT_MALFUNCTION = "equipment_malfunction"
    INADEQUATE_SIGNAL = "inadequate_signal"
    POOR_SIGNAL = "poor_signal"
    LOW_PERFUSION = "low_perfusion"
    ERRATIC_SIGNAL = "erratic_signal"
    NON_PULSATILE_SIGNAL = "non_pulsatile_signal"
    QUESTIONABLE_PULSE = "questionable_pulse"
    INTERFERENCE = "interference"
    SENSOR_NOT_ON_USER = "sensor_not_on_user"
    SENSOR_DISPLACED = "sensor_displaced"
    SENSOR_MALFUNCTION = "sensor_malfunction"
    SENSOR_DISCONNECTED = "sensor_disconnected"


_PLX_DEVICE_STATUS_BITS = {
    PlxDeviceStatus.EQUIPMENT_MALFUNCTION: 1,
    PlxDeviceStatus.INADEQUATE_SIGNAL: 3,
    PlxDeviceStatus.POOR_SIGNAL: 4,
    PlxDeviceStatus.LOW_PERFUSION: 5,
    PlxDeviceStatus.ERRATIC_SIGNAL: 6,
    PlxDeviceStatus.NON_PULSATILE_SIGNAL: 7,
    PlxDeviceStatus.QUESTIONABLE_PULSE: 8,
    PlxDeviceStatus.INTERFERENCE: 10,
    PlxDeviceStatus.SENSOR_NOT_ON_USER: 11,
    PlxDeviceStatus.SENSOR_DISPLACED: 13,
    PlxDeviceStatus.SENSOR_MALFUNCTION: 14,
    PlxDeviceStatus.SENSOR_DISCONNECTED: 15,
}


def _read_spo2_pr(reader: _Reader, which: str) -> tuple[float, float]:
    spo2_percent = _check_range(f"{which} SpO2", reader.sfloat(), 0.0, PERCENT_MAX)
    pulse_rate_bpm = _check_range(f"{which} pulse rate", reader.sfloat(), 0.0, PULSE_RATE_MAX_BPM)
    return spo2_percent, pulse_rate_bpm


def _read_pulse_amplitude_index(reader: _Reader) -> float:
    return _check_range("pulse amplitude index", reader.sfloat(), 0.0, PERCENT_MAX)


def _encode_device_status(status: frozenset[PlxDeviceStatus]) -> bytes:
    return _flags_to_bits(status, _PLX_DEVICE_STATUS_BITS).to_bytes(3, "little")


def _encode_measurement_status(status: frozenset[PlxMeasurementStatus]) -> bytes:
    return _u16(_flags_to_bits(status, _PLX_MEASUREMENT_STATUS_BITS), "measurement status")


@dataclass(frozen=True, slots=True)
class PlxSpotCheck:
    """PLX Spot-Check Measurement (0x2A5E). ``pulse_amplitude_index`` is in percent."""

    spo2_percent: float
    pulse_rate_bpm: float
    timestamp: datetime | None = None
    measurement_status: frozenset[PlxMeasurementStatus] | None = None
    device_status: frozenset[PlxDeviceStatus] | None = None
    pulse_amplitude_index: float | None = None
    clock_not_set: bool = False


def decode_plx_spot_check(data: bytes) -> PlxSpotCheck:
    """Unpack 0x2A5E."""
    reader = _Reader(data, "PLX Spot-Check Measurement")
    flags = reader.u8()
    spo2_percent, pulse_rate_bpm = _read_spo2_pr(reader, "spot-check")
    timestamp = reader.date_time() if flags & PLX_SPOT_FLAG_TIMESTAMP else None
    measurement_status = None
    if flags & PLX_SPOT_FLAG_MEASUREMENT_STATUS:
        measurement_status = _bits_to_flags(reader.u16(), _PLX_MEASUREMENT_STATUS_BITS)
    device_status = None
    if flags & PLX_SPOT_FLAG_DEVICE_STATUS:
        device_status = _bits_to_flags(reader.u24(), _PLX_DEVICE_STATUS_BITS)
    pulse_amplitude_index = None
    if flags & PLX_SPOT_FLAG_PULSE_AMPLITUDE_INDEX:
        pulse_amplitude_index = _read_pulse_amplitude_index(reader)
    reader.finish()
    return PlxSpotCheck(
        spo2_percent=spo2_percent,
        pulse_rate_bpm=pulse_rate_bpm,
        timestamp=timestamp,
        measurement_status=measurement_status,
        device_status=device_status,
        pulse_amplitude_index=pulse_amplitude_index,
        clock_not_set=bool(flags & PLX_SPOT_FLAG_CLOCK_NOT_SET),
    )


def encode_plx_spot_check(m: PlxSpotCheck, *, exponent: int = 0) -> bytes:
    """Pack 0x2A5E; SpO2 and pulse rate at ``10**exponent``, the PAI at 0.1 %."""
    flags = PLX_SPOT_FLAG_CLOCK_NOT_SET if m.clock_not_set else 0
    body = encode_sfloat(m.spo2_percent, exponent) + encode_sfloat(m.pulse_rate_bpm, exponent)
    if m.timestamp is not None:
        flags |= PLX_SPOT_FLAG_TIMESTAMP
        body += encode_date_time(m.timestamp)
    if m.measurement_status is not None:
        flags |= PLX_SPOT_FLAG_MEASUREMENT_STATUS
        body += _encode_measurement_status(m.measurement_status)
    if m.device_status is not None:
        flags |= PLX_SPOT_FLAG_DEVICE_STATUS
        body += _encode_device_status(m.device_status)
    if m.pulse_amplitude_index is not None:
        flags |= PLX_SPOT_FLAG_PULSE_AMPLITUDE_INDEX
        body += encode_sfloat(m.pulse_amplitude_index, PULSE_AMPLITUDE_INDEX_EXPONENT)
    return bytes([flags]) + body


@dataclass(frozen=True, slots=True)
class PlxContinuous:
    """PLX Continuous Measurement (0x2A5F).

    ``fast`` and ``slow`` are the SpO2PR-Fast and SpO2PR-Slow pairs ``(spo2_percent,
    pulse_rate_bpm)``; ``pulse_amplitude_index`` is in percent.
    """

    spo2_percent: float
    pulse_rate_bpm: float
    fast: tuple[float, float] | None = None
    slow: tuple[float, float] | None = None
    measurement_status: frozenset[PlxMeasurementStatus] | None = None
    device_status: frozenset[PlxDeviceStatus] | None = None
    pulse_amplitude_index: float | None = None


def decode_plx_continuous(data: bytes) -> PlxContinuous:
    """Unpack 0x2A5F."""
    reader = _Reader(data, "PLX Continuous Measurement")
    flags = reader.u8()
    spo2_percent, pulse_rate_bpm = _read_spo2_pr(reader, "normal")
    fast = _read_spo2_pr(reader, "fast") if flags & PLX_CONTINUOUS_FLAG_FAST else None
    slow = _read_spo2_pr(reader, "slow") if flags & PLX_CONTINUOUS_FLAG_SLOW else None
    measurement_status = None
    if flags & PLX_CONTINUOUS_FLAG_MEASUREMENT_STATUS:
        measurement_status = _bits_to_flags(reader.u16(), _PLX_MEASUREMENT_STATUS_BITS)
    device_status = None
    if flags & PLX_CONTINUOUS_FLAG_DEVICE_STATUS:
        device_status = _bits_to_flags(reader.u24(), _PLX_DEVICE_STATUS_BITS)
    pulse_amplitude_index = None
    if flags & PLX_CONTINUOUS_FLAG_PULSE_AMPLITUDE_INDEX:
        pulse_amplitude_index = _read_pulse_amplitude_index(reader)
    reader.finish()
    return PlxContinuous(
        spo2_percent=spo2_percent,
        pulse_rate_bpm=pulse_rate_bpm,
        fast=fast,
        slow=slow,
        measurement_status=measurement_status,
        device_status=device_status,
        pulse_amplitude_index=pulse_amplitude_index,
    )


def encode_plx_continuous(m: PlxContinuous, *, exponent: int = 0) -> bytes:
    """Pack 0x2A5F; SpO2 and pulse rates at ``10**exponent``, the PAI at 0.1 %."""
    flags = 0
    body = encode_sfloat(m.spo2_percent, exponent) + encode_sfloat(m.pulse_rate_bpm, exponent)
    if m.fast is not None:
        flags |= PLX_CONTINUOUS_FLAG_FAST
        body += encode_sfloat(m.fast[0], exponent) + encode_sfloat(m.fast[1], exponent)
    if m.slow is not None:
        flags |= PLX_CONTINUOUS_FLAG_SLOW
        body += encode_sfloat(m.slow[0], exponent) + encode_sfloat(m.slow[1], exponent)
    if m.measurement_status is not None:
        flags |= PLX_CONTINUOUS_FLAG_MEASUREMENT_STATUS
        body += _encode_measurement_status(m.measurement_status)
    if m.device_status is not None:
        flags |= PLX_CONTINUOUS_FLAG_DEVICE_STATUS
        body += _encode_device_status(m.device_status)
    if m.pulse_amplitude_index is not None:
        flags |= PLX_CONTINUOUS_FLAG_PULSE_AMPLITUDE_INDEX
        body += encode_sfloat(m.pulse_amplitude_index, PULSE_AMPLITUDE_INDEX_EXPONENT)
    return bytes([flags]) + body


PLX_FEATURE_MEASUREMENT_STATUS = 1 << 0
PLX_FEATURE_DEVICE_STATUS = 1 << 1


class PlxFeature(enum.Enum):
    """PLX Features bits 2..7. Bits 0 and 1 (status support) are read from the optional fields
    of :class:`PlxFeatures`, which exist exactly when those bits are set."""

    SPOT_CHECK_STORAGE = "spot_check_storage"
    SPOT_CHECK_TIMESTAMP = "spot_check_timestamp"
    FAST = "fast"
    SLOW = "slow"
    PULSE_AMPLITUDE_INDEX = "pulse_amplitude_index"
    MULTIPLE_BONDS = "multiple_bonds"


_PLX_FEATURE_BITS = {feature: bit for bit, feature in enumerate(PlxFeature, start=2)}


@dataclass(frozen=True, slots=True)
class PlxFeatures:
    """PLX Features (0x2A60).

    ``measurement_status_support`` is ``None`` when the device does not support the Measurement
    Status field (feature bit 0 clear), else which status bits it can set; likewise
    ``device_status_support`` for the Device and Sensor Status (bit 1).
    """

    features: frozenset[PlxFeature]
    measurement_status_support: frozenset[PlxMeasurementStatus] | None = None
    device_status_support: frozenset[PlxDeviceStatus] | None = None


def decode_plx_features(data: bytes) -> PlxFeatures:
    """Unpack 0x2A60."""
    reader = _Reader(data, "PLX Features")
    raw = reader.u16()
    measurement_status_support = None
    if raw & PLX_FEATURE_MEASUREMENT_STATUS:
        measurement_status_support = _bits_to_flags(reader.u16(), _PLX_MEASUREMENT_STATUS_BITS)
    device_status_support = None
    if raw & PLX_FEATURE_DEVICE_STATUS:
        device_status_support = _bits_to_flags(reader.u24(), _PLX_DEVICE_STATUS_BITS)
    reader.finish()
    return PlxFeatures(
        features=_bits_to_flags(raw, _PLX_FEATURE_BITS),
        measurement_status_support=measurement_status_support,
        device_status_support=device_status_support,
    )


def encode_plx_features(features: PlxFeatures) -> bytes:
    """Pack 0x2A60."""
    raw = _flags_to_bits(features.features, _PLX_FEATURE_BITS)
    tail = b""
    if features.measurement_status_support is not None:
        raw |= PLX_FEATURE_MEASUREMENT_STATUS
        tail += _encode_measurement_status(features.measurement_status_support)
    if features.device_status_support is not None:
        raw |= PLX_FEATURE_DEVICE_STATUS
        tail += _encode_device_status(features.device_status_support)
    return _u16(raw, "PLX features") + tail


# ---------------------------------------------------- Device Information 0x180A, Battery 0x180F

BATTERY_LEVEL_MAX_PERCENT = 100


def decode_battery_level(data: bytes) -> int:
    """Unpack Battery Level (0x2A19): percent 0..100."""
    reader = _Reader(data, "Battery Level")
    percent = reader.u8()
    reader.finish()
    if percent > BATTERY_LEVEL_MAX_PERCENT:
        raise DecodeError(f"battery level {percent} % is above 100")
    return percent


def encode_battery_level(percent: int) -> bytes:
    """Pack Battery Level (0x2A19)."""
    if not 0 <= percent <= BATTERY_LEVEL_MAX_PERCENT:
        raise EncodeError(f"battery level {percent} % is outside 0..100")
    return bytes([percent])


def decode_utf8_string(data: bytes) -> str:
    """Unpack a Device Information string (UTF-8, no terminator; trailing NULs are dropped)."""
    try:
        return bytes(data).rstrip(b"\x00").decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("device information string is not valid UTF-8") from None


def encode_utf8_string(text: str) -> bytes:
    """Pack a Device Information string."""
    return text.encode("utf-8")

"""Nonin pulse oximeters over serial: the ASCII real-time output and binary Data Format 8.

Spec: ``PROTOCOLS.md`` section 3, "Pulse oximeter: Nonin" (confidence **H** for ASCII, **M** for
Data Format 8). 9600 baud 8N1, one reading a second.

**ASCII**: ``SPO2=XXX HR=YYY`` then CR LF, ``---`` when there is no data; some models prefix the
time as ``HH:MM:SS``. We read ``XXX``/``YYY`` as exactly three characters (digits, zero- or
space-padded), so a byte lost inside a number makes the line invalid instead of changing the
number. We write numbers zero-padded (``SPO2=098 HR=072``).

Nonin's manuals document markers after the HR field; a line may carry any of them, each once,
in any order, and nothing else (anything else is still a bad line):

==========  ===============================================  ==================================
marker      meaning (field of :class:`AsciiSample`)           source
==========  ===============================================  ==================================
`` F``      fast-responding SpO2 and pulse (``fast_mode``)   Avant 9600 manual section 5.3 and
                                                             BT4000 user's manual p. 29: DIP
                                                             switch 8 up
``*``       an event marked on the device (``event_marked``)  BT4000 user's manual p. 29;
                                                             9847 operator's manual p. 37
`` B``      a breath detected in the interval               9847 operator's manual p. 37
            (``breath_detected``)                            ("a 'B' will be appended")
==========  ===============================================  ==================================

``*`` and ``B`` are also read with one space before them (the manuals do not show the spacing of
a combined line); the encoder writes `` F``, ``*``, `` B`` in that order. The clock prefix is in
the 9847, 8600V and 8500 manuals. What the cabin does with the markers: nothing that changes a
value. Fast mode still reports SpO2 and pulse (noisier, which the settling window absorbs); an
event mark is a button press on the device and a breath mark a capnography finding, neither a
property of the patient's SpO2. They are decoded so that such lines are read, not dropped.

**Data Format 8**, 4 bytes a second: STATUS1, pulse rate bits 6..0, SpO2 %, STATUS2. STATUS1
bit 7 is the sync bit (always 1) and bits 1..0 are pulse rate bits 8..7; bytes 2-4 have bit 7
clear (the stream decoder resynchronises on the sync bit). Missing values: pulse rate 511,
SpO2 127 (decoded to ``None``).

**The other status bits differ from model to model**, so they are read per model
(:class:`Df8Model`, chosen by the configured model); a bit a model reserves is never read.
Only models whose layout a public source gives are here:

- **Onyx II 9560** (``Df8Model.ONYX_II_9560``). Nonin, "Onyx II Model 9560 Bluetooth Fingertip
  Oximeter, OEM Specification and Technical Information" (6470-000-01), as read by the
  repository mattjlewis/NoninPulseOx, which ships that specification ("Nonin 9560 Bluetooth
  Specification.pdf") and decodes it in
  ``src/main/java/com/diozero/pulseox/nonin/io/DataFormat8Serialiser.java``:

  =========  ========================================================================
  STATUS1    bit 6 **reserved**, 5 out of track, 4 low perfusion (red), 3 marginal
             perfusion (yellow), 2 artifact
  STATUS2    bit 5 SmartPoint algorithm, 3 **sensor alarm**, 0 low battery; bits 1, 2,
             4, 6 **reserved**
  =========  ========================================================================

  The sensor alarm (SNSA, "device is providing unusable data for analysis", set when the
  finger is removed: the same specification's Data Format 2 table) comes with the **last**
  SpO2 and pulse, sent on for about 10 s after the finger left. Those values are kept as
  ``sent_*`` but ``spo2_percent``/``pulse_rate_bpm`` are ``None``: they must never be shown or
  stored as a reading.

Not implemented, for want of a model to pin it on: the layout this module used to apply to every
model (STATUS1 bit 6 "sensor disconnected", STATUS2 bit 1 "critical battery", bit 2 "spot-check
mode"), seen in drphrozen/javautilityclasses ``NoninAndroid/src/dk/iha/nonin/Format8.java`` for
an unnamed Nonin model. On the 9560 those bits are reserved.

The 9560 streams Data Format 8 once the host asks for it with the command ``02 70 02 02 08 03``
(STX, op code 0x70 "set data format", length 2, data type 2, format 8, ETX; the device answers
ACK 0x06 or NAK 0x15): the same repository, ``Nonin9560PulseOxJssc.java`` and
``NoninSetDataFormatRequest.java``.

Both formats: an SpO2 above 100 % or a pulse rate above ``PULSE_RATE_MAX_BPM`` (a plausibility
bound, not from the spec) raises :class:`DecodeError`.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass

from devices.errors import DecodeError, EncodeError
from devices.protocols.sync_bit_stream import SyncBitStreamDecoder

NONIN_BAUD = 9600
PULSE_RATE_MAX_BPM = 350
SPO2_MAX_PERCENT = 100


def _check_plausible(spo2_percent: int | None, pulse_rate_bpm: int | None) -> None:
    if spo2_percent is not None and spo2_percent > SPO2_MAX_PERCENT:
        raise DecodeError("Nonin SpO2 is above 100 %")
    if pulse_rate_bpm is not None and pulse_rate_bpm > PULSE_RATE_MAX_BPM:
        raise DecodeError(f"Nonin pulse rate is above {PULSE_RATE_MAX_BPM} bpm")


# --------------------------------------------------------------------------------------- ASCII

ASCII_NO_DATA = b"---"
ASCII_LINE_END = b"\r\n"
ASCII_VALUE_MAX = 999
_FIELD = rb"(---|\d{3}| \d{2}|  \d)"
_CLOCK = rb"([01]\d|2[0-3]):([0-5]\d):([0-5]\d)"
_MARKERS = rb"(?P<markers>[ *FB]{0,6})"
_ASCII_LINE = re.compile(rb"(?:(" + _CLOCK + rb") )?SPO2=" + _FIELD + rb" HR=" + _FIELD + _MARKERS)
_CLOCK_ONLY = re.compile(_CLOCK)
_SPO2_KEY = b"SPO2="
_CLOCK_PREFIX_SIZE = len(b"HH:MM:SS ")
_ASCII_LINE_MAX = 32  # the longest valid line is 30 bytes
# Each marker as it may appear after the HR field (see the module docstring).
_FAST_MODE = (b" F",)
_EVENT_MARK = (b"*", b" *")
_BREATH = (b" B", b"B")


@dataclass(frozen=True, slots=True)
class AsciiSample:
    """One ASCII line. ``clock`` is the ``HH:MM:SS`` prefix if the model sends one; the flags
    are the markers after the HR field (see the module docstring)."""

    spo2_percent: int | None
    pulse_rate_bpm: int | None
    clock: str | None
    fast_mode: bool = False
    event_marked: bool = False
    breath_detected: bool = False


def _markers(tail: bytes) -> tuple[bool, bool, bool]:
    """(fast mode, event marked, breath detected) from what follows the HR field."""
    found = {"fast": False, "event": False, "breath": False}
    while tail:
        for name, forms in (("fast", _FAST_MODE), ("event", _EVENT_MARK), ("breath", _BREATH)):
            form = next((f for f in forms if tail.startswith(f)), None)
            if form is not None and not found[name]:
                found[name] = True
                tail = tail[len(form) :]
                break
        else:
            raise DecodeError("Nonin line: unknown or repeated marker after the HR field")
    return found["fast"], found["event"], found["breath"]


def _ascii_value(field: bytes) -> int | None:
    return None if field == ASCII_NO_DATA else int(field)


def decode_ascii_line(line: bytes) -> AsciiSample:
    """Unpack one ASCII line, given without its CR LF."""
    match = _ASCII_LINE.fullmatch(bytes(line))
    if match is None:
        raise DecodeError("not a Nonin 'SPO2=XXX HR=YYY' line")
    clock, spo2, pulse_rate = match.group(1, 5, 6)
    fast_mode, event_marked, breath_detected = _markers(match.group("markers"))
    sample = AsciiSample(
        spo2_percent=_ascii_value(spo2),
        pulse_rate_bpm=_ascii_value(pulse_rate),
        clock=None if clock is None else clock.decode("ascii"),
        fast_mode=fast_mode,
        event_marked=event_marked,
        breath_detected=breath_detected,
    )
    _check_plausible(sample.spo2_percent, sample.pulse_rate_bpm)
    return sample


def _ascii_field(value: int | None, name: str) -> bytes:
    if value is None:
        return ASCII_NO_DATA
    if not 0 <= value <= ASCII_VALUE_MAX:
        raise EncodeError(f"{name} does not fit in three digits")
    return b"%03d" % value


def encode_ascii_line(sample: AsciiSample) -> bytes:
    """Pack one ASCII line, CR LF included."""
    prefix = b""
    if sample.clock is not None:
        clock = sample.clock.encode("ascii", errors="backslashreplace")
        if _CLOCK_ONLY.fullmatch(clock) is None:
            raise EncodeError(f"clock {sample.clock!r} is not HH:MM:SS")
        prefix = clock + b" "
    return (
        prefix
        + b"SPO2="
        + _ascii_field(sample.spo2_percent, "SpO2")
        + b" HR="
        + _ascii_field(sample.pulse_rate_bpm, "pulse rate")
        + (_FAST_MODE[0] if sample.fast_mode else b"")
        + (_EVENT_MARK[0] if sample.event_marked else b"")
        + (_BREATH[0] if sample.breath_detected else b"")
        + ASCII_LINE_END
    )


class AsciiStreamDecoder:
    """Cuts the ASCII stream into lines (LF, an optional CR before it) and decodes them.

    Line ends are not counted as discarded; empty lines are ignored.

    A line with garbage in front of its ``SPO2=`` (noise, or the rest of a truncated line) still
    yields the reading at its end; the garbage counts in ``discarded_bytes``. A line with no valid
    reading counts in ``bad_frames``. Bytes that never reach a line end are dropped once more than
    ``_ASCII_LINE_MAX`` are waiting. Never raises.
    """

    def __init__(self) -> None:
        self._line = bytearray()
        self.discarded_bytes = 0
        self.bad_frames = 0

    def feed(self, data: bytes) -> list[AsciiSample]:
        samples: list[AsciiSample] = []
        self._line += data
        while (end := self._line.find(b"\n")) >= 0:
            line = bytes(self._line[:end])
            del self._line[: end + 1]
            if line.endswith(b"\r"):
                line = line[:-1]
            sample = self._decode(line)
            if sample is not None:
                samples.append(sample)
        if len(self._line) > _ASCII_LINE_MAX:
            excess = len(self._line) - _ASCII_LINE_MAX
            del self._line[:excess]
            self.discarded_bytes += excess
        return samples

    def _decode(self, line: bytes) -> AsciiSample | None:
        if not line:
            return None
        start = line.rfind(_SPO2_KEY)
        candidates = []
        if start >= _CLOCK_PREFIX_SIZE:
            candidates.append(start - _CLOCK_PREFIX_SIZE)
        if start >= 0:
            candidates.append(start)
        for offset in sorted({0, *candidates}):
            try:
                sample = decode_ascii_line(line[offset:])
            except DecodeError:
                continue
            self.discarded_bytes += offset
            return sample
        self.bad_frames += 1
        self.discarded_bytes += len(line)
        return None


# ----------------------------------------------------------------------------- Data Format 8

DF8_FRAME_SIZE = 4
DF8_SYNC_BIT = 0x80
DF8_PULSE_RATE_MISSING = 511
DF8_SPO2_MISSING = 127
SET_DATA_FORMAT_8 = bytes([0x02, 0x70, 0x02, 0x02, 0x08, 0x03])  # 9560: STX op len type fmt ETX
ACK = 0x06
NAK = 0x15


class Df8Model(enum.Enum):
    """A model whose Data Format 8 status bits are known (see the module docstring)."""

    ONYX_II_9560 = "9560"


class Df8Status(enum.Enum):
    """A status bit of Data Format 8, as a model defines it."""

    OUT_OF_TRACK = "out_of_track"  # no consecutive good pulses: sustained artifact
    LOW_PERFUSION = "low_perfusion"  # low/no signal quality (red)
    MARGINAL_PERFUSION = "marginal_perfusion"  # low/marginal signal quality (yellow)
    ARTIFACT = "artifact"
    SENSOR_ALARM = "sensor_alarm"  # unusable data: the values are the last held (finger out)
    SMARTPOINT = "smartpoint"  # the SmartPoint algorithm's reading
    LOW_BATTERY = "low_battery"


# (status byte 1 or 2, bit) of each status each model defines; every other bit is reserved.
_STATUS_BITS: dict[Df8Model, dict[Df8Status, tuple[int, int]]] = {
    Df8Model.ONYX_II_9560: {
        Df8Status.OUT_OF_TRACK: (1, 5),
        Df8Status.LOW_PERFUSION: (1, 4),
        Df8Status.MARGINAL_PERFUSION: (1, 3),
        Df8Status.ARTIFACT: (1, 2),
        Df8Status.SMARTPOINT: (2, 5),
        Df8Status.SENSOR_ALARM: (2, 3),
        Df8Status.LOW_BATTERY: (2, 0),
    },
}
# With these set, the values sent are not a measurement of the patient now.
_NO_READING = frozenset({Df8Status.SENSOR_ALARM})


@dataclass(frozen=True, slots=True)
class Df8Frame:
    """One Data Format 8 frame.

    ``sent_*`` are the values as sent (``None``: the missing value, 511 / 127). Read
    ``spo2_percent`` and ``pulse_rate_bpm`` for the reading: ``None`` too when the status says
    the values are held ones (the 9560's sensor alarm).
    """

    sent_pulse_rate_bpm: int | None
    sent_spo2_percent: int | None
    status: frozenset[Df8Status]

    @property
    def sensor_alarm(self) -> bool:
        return Df8Status.SENSOR_ALARM in self.status

    @property
    def pulse_rate_bpm(self) -> int | None:
        return None if self.status & _NO_READING else self.sent_pulse_rate_bpm

    @property
    def spo2_percent(self) -> int | None:
        return None if self.status & _NO_READING else self.sent_spo2_percent


def decode_df8_frame(data: bytes, model: Df8Model) -> Df8Frame:
    """Unpack one Data Format 8 frame (exactly 4 bytes) with ``model``'s status bits."""
    if len(data) != DF8_FRAME_SIZE:
        raise DecodeError(f"Nonin DF8 frame needs {DF8_FRAME_SIZE} bytes, got {len(data)}")
    status1, pulse_low, spo2, status2 = data
    if not status1 & DF8_SYNC_BIT:
        raise DecodeError("Nonin DF8 frame: first byte lacks the sync bit")
    if (pulse_low | spo2 | status2) & DF8_SYNC_BIT:
        raise DecodeError("Nonin DF8 frame: a data byte has the sync bit")
    pulse_rate = (status1 & 0b11) << 7 | pulse_low
    status_bytes = {1: status1, 2: status2}
    frame = Df8Frame(
        sent_pulse_rate_bpm=None if pulse_rate == DF8_PULSE_RATE_MISSING else pulse_rate,
        sent_spo2_percent=None if spo2 == DF8_SPO2_MISSING else spo2,
        status=frozenset(
            status
            for status, (byte, bit) in _STATUS_BITS[model].items()
            if status_bytes[byte] >> bit & 1
        ),
    )
    _check_plausible(frame.sent_spo2_percent, frame.sent_pulse_rate_bpm)
    return frame


def encode_df8_frame(frame: Df8Frame, model: Df8Model) -> bytes:
    """Pack one Data Format 8 frame with ``model``'s status bits (reserved bits are zero)."""
    pulse_rate = frame.sent_pulse_rate_bpm
    pulse_raw = DF8_PULSE_RATE_MISSING if pulse_rate is None else pulse_rate
    if not 0 <= pulse_raw <= DF8_PULSE_RATE_MISSING or pulse_rate == DF8_PULSE_RATE_MISSING:
        raise EncodeError("pulse rate is outside 0..510 (511: missing)")
    spo2 = frame.sent_spo2_percent
    spo2_raw = DF8_SPO2_MISSING if spo2 is None else spo2
    if not 0 <= spo2_raw <= DF8_SPO2_MISSING or spo2 == DF8_SPO2_MISSING:
        raise EncodeError("SpO2 is outside 0..126 (127: missing)")
    bits = _STATUS_BITS[model]
    status_bytes = {1: DF8_SYNC_BIT | pulse_raw >> 7, 2: 0}
    for status in frame.status:
        if status not in bits:
            raise EncodeError(f"the {model.value} has no status bit for {status.value}")
        byte, bit = bits[status]
        status_bytes[byte] |= 1 << bit
    return bytes([status_bytes[1], pulse_raw & 0x7F, spo2_raw, status_bytes[2]])


class Df8StreamDecoder(SyncBitStreamDecoder[Df8Frame]):
    """Cuts the stream into Df8Frames on the sync bit (see ``SyncBitStreamDecoder``)."""

    def __init__(self, model: Df8Model) -> None:
        super().__init__(DF8_FRAME_SIZE, functools.partial(decode_df8_frame, model=model))

"""Contec CMS50D+/CMS50E finger pulse oximeters over USB serial: both protocol generations.

Spec: ``PROTOCOLS.md`` section 3, "Pulse oximeter: Contec". Neither generation has a checksum, so
a frame is trusted on its shape (the position of bit 7 in every byte) and on plausible values.

**Old generation** (confidence **M-H**), 19200 baud, about 60 frames a second unasked. A frame is
5 bytes; byte 1 has bit 7 set, bytes 2-5 have it clear (the decoder resynchronises on it):

====  ===================================================================================
byte  content
====  ===================================================================================
1     bits 0-3 signal strength, bit 4 searching too long, bit 5 SpO2 dropping, bit 6 pulse
      beep
2     pleth (nominally 0-100; any 7-bit value is accepted, it is a raw waveform sample)
3     bits 0-3 bar graph, bit 4 sensor (probe) error, bit 5 searching, bit 6 = bit 7 of the
      pulse rate
4     pulse rate bits 0-6
5     SpO2 %
====  ===================================================================================

Sources of the status bits. The best is Contec's own (Chinese) protocol sheet for this stream,
in the English translation posted on the PICBASIC forum (picbasic.co.uk, thread 11311 "How to
receive stream of bytes using PIC USART"; the sheet itself circulates as "Communication
protocol.pdf", linked from tranzoa.net/~alex/blog/?p=371): byte 1 bit 5 "SpO2 decrease", bit 4
"searching time too long", byte 3 bit 5 "search pulse", bit 4 "sensor error". The decoder of
atbrask/CMS50Dplus (``cms50dplus/cms50dplus.py``, ``LiveDataPoint``) agrees on byte 1 bit 5
("droppingSpO2") and byte 3 bits 4-5 ("probeError", "searching"), and names byte 1 bit 4
"fingerOut", which is what a device searching too long usually means. This codec used to call
byte 1 bit 5 "probe unplugged" and bit 4 "no signal": no source says so.

What the driver makes of them (:mod:`devices.drivers.cms50`): "SpO2 dropping" is the device's
own indication that the saturation falls; the values with it are a measurement like any other
(a desaturating patient is exactly whom the reading is for), never a sensor fault. "Searching
too long" and "searching" mean the device has no valid value yet: the frame is not a reading.
A sensor error on these clip oximeters (the sensor is built in) is the finger out of the clip:
the patient is asked to put it in, no fault is raised.

**New generation** (confidence **M**), 115200 baud 8N1, silent until the host sends a start
command, stops about 30 s after the last start/keep-alive. Both directions use the same packet
shape: a type byte with bit 7 clear, a "high bits" byte with bit 7 set, then payload bytes each
sent with bit 7 set; the true bit 7 of payload byte *i* is bit *i* of the high-bits byte. The
host commands are type 0x7D with the command code in payload byte 0 (0xA1 start real-time, 0xA2
stop, 0xAF keep alive). Real-time packets (type 0x01) carry 7 payload bytes:

====  ====================================================================
d0    bits 0-3 signal strength, bit 6 pulse beep, bit 7 finger out
d1    bits 0-6 pleth, bit 7 searching
d2    bits 0-3 bar graph (0-15), bit 4 PI invalid, bits 5-7 zero
d3    pulse rate (0xFF invalid)
d4    SpO2 % (0x7F invalid)
d5-6  perfusion index, u16 little-endian (0xFFFF invalid)
====  ====================================================================

The layout of d2 is Contec's own: "Communication protocol of pulse oximeter" V7.0
(2010-07-08), section 3.3.2.1 "Real-time data package" (Table 3), a copy of which is public at
scribd.com/document/226223253. Real devices set the "PI invalid" bit whenever they send no PI
(so the example packet of ``PROTOCOLS.md``, ``01 E0 85 B3 96 C1 E1 FF FF``, has d2 = 0x16: bar
graph 6, PI invalid); reading the whole byte gave bar graphs 16 too high. With bit 4 set the
perfusion index is ``None`` whatever d5-d6 hold. Bits 5-7 are reserved: not interpreted, and the
encoder writes them as zero.

Decisions not in the spec (both generations):

- Pulse rate 0 or 0xFF, and SpO2 0 or 0x7F, decode to ``None`` ("no reading": a finger clip does
  not measure 0 bpm or 0 %). An SpO2 above 100 (other than 0x7F) is a :class:`DecodeError`.
- The perfusion index scale is **not known**: we read it as ``raw / 100`` percent (0.01 %
  steps) and reject values above 100 %. Treat ``perfusion_index_percent`` as indicative only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from devices.errors import DecodeError, EncodeError
from devices.protocols.sync_bit_stream import SyncBitStreamDecoder

SYNC_BIT = 0x80
_LOW_7_BITS = 0x7F

PULSE_RATE_INVALID = 0xFF
SPO2_INVALID = 0x7F
SPO2_MAX_PERCENT = 100


def _pulse_rate_or_none(raw: int) -> int | None:
    return None if raw in (0, PULSE_RATE_INVALID) else raw


def _spo2_or_none(raw: int) -> int | None:
    if raw in (0, SPO2_INVALID):
        return None
    if raw > SPO2_MAX_PERCENT:
        raise DecodeError("CMS50 SpO2 is above 100 %")
    return raw


def _pulse_rate_raw(pulse_rate_bpm: int | None) -> int:
    if pulse_rate_bpm is None:
        return PULSE_RATE_INVALID
    if not 1 <= pulse_rate_bpm < PULSE_RATE_INVALID:
        raise EncodeError("pulse rate is outside 1..254 bpm (0, 255: none)")
    return pulse_rate_bpm


def _spo2_raw(spo2_percent: int | None, limit: int) -> int:
    if spo2_percent is None:
        return SPO2_INVALID
    if not 1 <= spo2_percent <= limit or spo2_percent == SPO2_INVALID:
        raise EncodeError("SpO2 cannot be sent (0 and 127 mean none)")
    return spo2_percent


def _field(value: int, bits: int, name: str) -> int:
    if not 0 <= value < 1 << bits:
        raise EncodeError(f"{name} does not fit in {bits} bits")
    return value


# ------------------------------------------------------------------------------ old generation

LEGACY_BAUD = 19200
LEGACY_FRAME_SIZE = 5


@dataclass(frozen=True, slots=True)
class LegacyFrame:
    """One 5-byte frame of the old generation (about 1/60 s)."""

    signal_strength: int
    searching_too_long: bool  # byte 1 bit 4: no valid value (yet)
    spo2_dropping: bool  # byte 1 bit 5: the device sees the SpO2 falling; the values stand
    pulse_beep: bool
    pleth: int
    bar_graph: int
    sensor_error: bool  # byte 3 bit 4: probe error, on a clip oximeter the finger is out
    searching: bool  # byte 3 bit 5: searching for the pulse
    pulse_rate_bpm: int | None
    spo2_percent: int | None


def decode_legacy_frame(data: bytes) -> LegacyFrame:
    """Unpack one old-generation frame (exactly 5 bytes)."""
    if len(data) != LEGACY_FRAME_SIZE:
        raise DecodeError(f"CMS50 frame needs {LEGACY_FRAME_SIZE} bytes, got {len(data)}")
    status, pleth, graph, pulse_low, spo2 = data
    if not status & SYNC_BIT:
        raise DecodeError("CMS50 frame: first byte lacks the sync bit")
    if (pleth | graph | pulse_low | spo2) & SYNC_BIT:
        raise DecodeError("CMS50 frame: a data byte has the sync bit")
    pulse_rate = (graph >> 6 & 1) << 7 | pulse_low
    return LegacyFrame(
        signal_strength=status & 0x0F,
        searching_too_long=bool(status & 0x10),
        spo2_dropping=bool(status & 0x20),
        pulse_beep=bool(status & 0x40),
        pleth=pleth,
        bar_graph=graph & 0x0F,
        sensor_error=bool(graph & 0x10),
        searching=bool(graph & 0x20),
        pulse_rate_bpm=_pulse_rate_or_none(pulse_rate),
        spo2_percent=_spo2_or_none(spo2),
    )


def encode_legacy_frame(frame: LegacyFrame) -> bytes:
    """Pack one old-generation frame."""
    pulse_rate = _pulse_rate_raw(frame.pulse_rate_bpm)
    status = (
        SYNC_BIT
        | _field(frame.signal_strength, 4, "signal strength")
        | frame.searching_too_long << 4
        | frame.spo2_dropping << 5
        | frame.pulse_beep << 6
    )
    graph = (
        _field(frame.bar_graph, 4, "bar graph")
        | frame.sensor_error << 4
        | frame.searching << 5
        | (pulse_rate >> 7) << 6
    )
    return bytes(
        [
            status,
            _field(frame.pleth, 7, "pleth"),
            graph,
            pulse_rate & _LOW_7_BITS,
            _spo2_raw(frame.spo2_percent, _LOW_7_BITS),
        ]
    )


class LegacyStreamDecoder(SyncBitStreamDecoder[LegacyFrame]):
    """Cuts the stream into LegacyFrames on the sync bit (see ``SyncBitStreamDecoder``)."""

    def __init__(self) -> None:
        super().__init__(LEGACY_FRAME_SIZE, decode_legacy_frame)


# ------------------------------------------------------------------------------ new generation

REALTIME_BAUD = 115200
PACKET_PAYLOAD_SIZE = 7
PACKET_SIZE = 2 + PACKET_PAYLOAD_SIZE
PACKET_TYPE_REALTIME = 0x01
PACKET_TYPE_HOST_COMMAND = 0x7D
PERFUSION_INDEX_INVALID = 0xFFFF
PERFUSION_INDEX_STEPS_PER_PERCENT = 100  # unsure: see the module docstring
PERFUSION_INDEX_MAX_PERCENT = 100


def _pack_packet(packet_type: int, payload: bytes) -> bytes:
    """Type byte, high-bits byte, payload bytes with bit 7 forced (their bit 7 moves up)."""
    if packet_type & SYNC_BIT or len(payload) != PACKET_PAYLOAD_SIZE:
        raise EncodeError("CMS50 packet: type needs bit 7 clear and the payload 7 bytes")
    high_bits = SYNC_BIT
    for index, byte in enumerate(payload):
        if byte & SYNC_BIT:
            high_bits |= 1 << index
    return bytes([packet_type, high_bits, *(byte | SYNC_BIT for byte in payload)])


def _unpack_packet(data: bytes, packet_type: int) -> bytes:
    """Check the shape of a 9-byte packet of ``packet_type`` and return its true payload."""
    if len(data) != PACKET_SIZE:
        raise DecodeError(f"CMS50 packet needs {PACKET_SIZE} bytes, got {len(data)}")
    if data[0] != packet_type:
        raise DecodeError(f"CMS50 packet type {data[0]:#04x}, expected {packet_type:#04x}")
    high_bits = data[1]
    if not all(byte & SYNC_BIT for byte in data[1:]):
        raise DecodeError("CMS50 packet: a byte after the type lacks bit 7")
    return bytes(
        (byte & _LOW_7_BITS) | (high_bits >> index & 1) << 7 for index, byte in enumerate(data[2:])
    )


class HostCommand(enum.Enum):
    """Commands the host sends to a new-generation CMS50 (the value is the command code)."""

    START_REALTIME = 0xA1
    STOP_REALTIME = 0xA2
    KEEP_ALIVE = 0xAF


def encode_host_command(command: HostCommand) -> bytes:
    """Pack a host command (9 bytes)."""
    return _pack_packet(PACKET_TYPE_HOST_COMMAND, bytes([command.value, 0, 0, 0, 0, 0, 0]))


START_REALTIME = encode_host_command(HostCommand.START_REALTIME)  # 7D 81 A1 80 80 80 80 80 80
STOP_REALTIME = encode_host_command(HostCommand.STOP_REALTIME)  # 7D 81 A2 80 80 80 80 80 80
KEEP_ALIVE = encode_host_command(HostCommand.KEEP_ALIVE)  # 7D 81 AF 80 80 80 80 80 80


def decode_host_command(data: bytes) -> HostCommand:
    """Unpack a host command; an unknown code (or parameters we do not know) is a DecodeError."""
    payload = _unpack_packet(data, PACKET_TYPE_HOST_COMMAND)
    if any(payload[1:]):
        raise DecodeError("CMS50 host command with unknown parameters")
    try:
        return HostCommand(payload[0])
    except ValueError:
        raise DecodeError(f"unknown CMS50 host command {payload[0]:#04x}") from None


@dataclass(frozen=True, slots=True)
class RealtimeFrame:
    """One real-time packet of the new generation. ``None`` values were sent as invalid."""

    signal_strength: int
    pulse_beep: bool
    finger_out: bool
    pleth: int
    searching: bool
    bar_graph: int  # 0-15
    pi_invalid: bool  # d2 bit 4: the device has no perfusion index (then it is None)
    pulse_rate_bpm: int | None
    spo2_percent: int | None
    perfusion_index_percent: float | None


BAR_GRAPH_MASK = 0x0F
PI_INVALID_BIT = 0x10


def decode_realtime_packet(data: bytes) -> RealtimeFrame:
    """Unpack a full 9-byte real-time packet (type 0x01, high bits, 7 payload bytes)."""
    d0, d1, d2, d3, d4, d5, d6 = _unpack_packet(data, PACKET_TYPE_REALTIME)
    pi_raw = d5 | d6 << 8
    pi_invalid = bool(d2 & PI_INVALID_BIT)
    perfusion_index = None
    if not pi_invalid and pi_raw != PERFUSION_INDEX_INVALID:
        perfusion_index = pi_raw / PERFUSION_INDEX_STEPS_PER_PERCENT
        if perfusion_index > PERFUSION_INDEX_MAX_PERCENT:
            raise DecodeError("CMS50 perfusion index is above 100 %")
    return RealtimeFrame(
        signal_strength=d0 & 0x0F,
        pulse_beep=bool(d0 & 0x40),
        finger_out=bool(d0 & 0x80),
        pleth=d1 & _LOW_7_BITS,
        searching=bool(d1 & 0x80),
        bar_graph=d2 & BAR_GRAPH_MASK,
        pi_invalid=pi_invalid,
        pulse_rate_bpm=_pulse_rate_or_none(d3),
        spo2_percent=_spo2_or_none(d4),
        perfusion_index_percent=perfusion_index,
    )


def encode_realtime_packet(frame: RealtimeFrame) -> bytes:
    """Pack a real-time packet (9 bytes); the PI is rounded to 0.01 %. A frame that says
    "PI invalid" sends 0xFFFF in d5-d6 and cannot carry a PI."""
    if frame.pi_invalid and frame.perfusion_index_percent is not None:
        raise EncodeError("a frame that says 'PI invalid' cannot carry a perfusion index")
    if frame.perfusion_index_percent is None:
        pi_raw = PERFUSION_INDEX_INVALID
    else:
        pi_raw = round(frame.perfusion_index_percent * PERFUSION_INDEX_STEPS_PER_PERCENT)
        if not 0 <= pi_raw < PERFUSION_INDEX_INVALID:
            raise EncodeError("perfusion index cannot be sent")
    payload = bytes(
        [
            _field(frame.signal_strength, 4, "signal strength")
            | frame.pulse_beep << 6
            | frame.finger_out << 7,
            _field(frame.pleth, 7, "pleth") | frame.searching << 7,
            _field(frame.bar_graph, 4, "bar graph") | frame.pi_invalid << 4,
            _pulse_rate_raw(frame.pulse_rate_bpm),
            _spo2_raw(frame.spo2_percent, 0xFF),
            pi_raw & 0xFF,
            pi_raw >> 8,
        ]
    )
    return _pack_packet(PACKET_TYPE_REALTIME, payload)


class _PacketStream:
    """Cuts a new-generation byte stream into the 9-byte packets of one type.

    A byte with bit 7 clear starts a packet (an unfinished one is dropped as a bad frame). Packets
    of another type are skipped up to the next type byte, whatever their length
    (``skipped_packets``). ``discarded_bytes`` counts every byte not in a decoded packet.
    """

    def __init__(self, packet_type: int) -> None:
        self._packet_type = packet_type
        self._packet = bytearray()
        self.discarded_bytes = 0
        self.bad_frames = 0
        self.skipped_packets = 0

    def _drop_packet(self) -> None:
        self.bad_frames += 1
        self.discarded_bytes += len(self._packet)
        self._packet.clear()

    def _packets(self, data: bytes) -> list[bytes]:
        packets: list[bytes] = []
        for byte in bytes(data):
            if not byte & SYNC_BIT:
                if self._packet:
                    self._drop_packet()
                if byte == self._packet_type:
                    self._packet.append(byte)
                else:
                    self.skipped_packets += 1
                    self.discarded_bytes += 1
            elif self._packet:
                self._packet.append(byte)
                if len(self._packet) == PACKET_SIZE:
                    packets.append(bytes(self._packet))
                    self._packet.clear()
            else:
                self.discarded_bytes += 1
        return packets


class RealtimeStreamDecoder(_PacketStream):
    """Decodes real-time packets from the device's stream; never raises."""

    def __init__(self) -> None:
        super().__init__(PACKET_TYPE_REALTIME)

    def feed(self, data: bytes) -> list[RealtimeFrame]:
        frames: list[RealtimeFrame] = []
        for packet in self._packets(data):
            try:
                frames.append(decode_realtime_packet(packet))
            except DecodeError:
                self.bad_frames += 1
                self.discarded_bytes += len(packet)
        return frames


class HostCommandDecoder(_PacketStream):
    """Decodes host commands (for the simulator); unknown commands are counted in
    ``unknown_commands`` and skipped. Never raises."""

    def __init__(self) -> None:
        super().__init__(PACKET_TYPE_HOST_COMMAND)
        self.unknown_commands = 0

    def feed(self, data: bytes) -> list[HostCommand]:
        commands: list[HostCommand] = []
        for packet in self._packets(data):
            try:
                commands.append(decode_host_command(packet))
            except DecodeError:
                self.unknown_commands += 1
                self.discarded_bytes += len(packet)
        return commands

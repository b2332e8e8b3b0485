"""Contec CMS50D+ pulse oximeters on a pty: both generations (PROTOCOLS.md §3).

The old one streams 5-byte frames at 60 frames/s by itself; the new one is silent until the
host asks for real-time data, and stops after 30 s unless kept alive.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

from devices.protocols import cms50
from simulators.faults import Fault
from simulators.serial.base import SerialSimulator

FRAMES_PER_S = 60
REALTIME_LEASE_S = 30.0


class _Oximeter(SerialSimulator):
    finger = True  # the patient's finger is in the clip

    def _values(self, tick: int) -> tuple[int | None, int | None, int, bool]:
        """(SpO2, pulse, pleth, searching) for this frame."""
        if not self.finger or Fault.NO_FINGER in self.faults:
            return None, None, 0, False
        body = self.body.sample() if tick % FRAMES_PER_S == 0 else None
        if body is not None:
            self._last = body
        current = getattr(self, "_last", None) or self.body.sample()
        spo2, pulse = int(current.spo2_percent), int(current.pulse_bpm)
        if Fault.OUT_OF_RANGE in self.faults:
            spo2, pulse = 100, 254
        if current.moving:
            pulse += self._rng.randint(-30, 30)
        phase = (tick / FRAMES_PER_S) * (pulse / 60.0) * 2 * math.pi
        pleth = int(50 + 45 * math.sin(phase))
        searching = current.moving and self._rng.random() < 0.2
        return spo2, max(0, min(254, pulse)), pleth, searching


class Cms50LegacySimulator(_Oximeter):
    baudrate = cms50.LEGACY_BAUD
    name = "cms50-legacy"
    spo2_falling = False  # the device signals "SpO2 dropping" (byte 1 bit 5)
    searching_for_too_long = False  # the device signals "searching too long" (byte 1 bit 4)

    async def _run(self) -> None:
        tick = 0
        while True:
            spo2, pulse, pleth, searching = self._values(tick)
            no_finger = spo2 is None
            frame = cms50.LegacyFrame(
                signal_strength=0 if no_finger else 6,
                searching_too_long=no_finger or self.searching_for_too_long,
                spo2_dropping=self.spo2_falling and not no_finger,
                pulse_beep=pleth > 90,
                pleth=pleth,
                bar_graph=min(15, pleth // 7),
                sensor_error=no_finger,  # the built-in sensor sees no finger
                searching=searching,
                pulse_rate_bpm=pulse,
                spo2_percent=spo2,
            )
            self._send(cms50.encode_legacy_frame(frame))
            tick += 1
            await self.sleep(1 / FRAMES_PER_S)

    def _corrupt(self, frame: bytes) -> bytes:
        # No checksum in this protocol: a lost sync bit is what a line error looks like.
        return bytes([frame[0] & 0x7F, *frame[1:]])


class Cms50RealtimeSimulator(_Oximeter):
    baudrate = cms50.REALTIME_BAUD
    name = "cms50-realtime"

    def __init__(self, link_path: Path, **kwargs: Any) -> None:
        super().__init__(link_path, **kwargs)
        self._commands = cms50.HostCommandDecoder()
        self._lease_until = 0.0
        self.commands_heard: list[cms50.HostCommand] = []

    def _on_host_bytes(self, data: bytes) -> None:
        loop_time = self._now()
        for command in self._commands.feed(data):
            self.commands_heard.append(command)
            if command in (cms50.HostCommand.START_REALTIME, cms50.HostCommand.KEEP_ALIVE):
                self._lease_until = loop_time + REALTIME_LEASE_S * self.time_scale
            elif command is cms50.HostCommand.STOP_REALTIME:
                self._lease_until = 0.0

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _corrupt(self, frame: bytes) -> bytes:
        # No checksum either: a line error shows as a payload byte that lost its marker bit.
        return bytes([*frame[:3], frame[3] & 0x7F, *frame[4:]])

    @property
    def streaming(self) -> bool:
        return self._now() < self._lease_until

    async def _run(self) -> None:
        tick = 0
        while True:
            if self.streaming:
                spo2, pulse, pleth, searching = self._values(tick)
                finger_out = spo2 is None
                frame = cms50.RealtimeFrame(
                    signal_strength=0 if finger_out else 6,
                    pulse_beep=pleth > 90,
                    finger_out=finger_out,
                    pleth=pleth,
                    searching=searching,
                    bar_graph=min(15, pleth // 7),
                    pi_invalid=finger_out,  # d2 bit 4, as a real device says "no PI"
                    pulse_rate_bpm=pulse,
                    spo2_percent=spo2,
                    perfusion_index_percent=None if finger_out else 4.5,
                )
                self._send(cms50.encode_realtime_packet(frame))
                tick += 1
            await self.sleep(1 / FRAMES_PER_S)

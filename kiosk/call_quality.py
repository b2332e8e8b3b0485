"""The call's quality as the cabin measures it, sent to the hub for the operator's fleet page.

During a call, every ``wire.QUALITY_EVERY_S``, a ``wire.CallQuality`` goes to the hub (through
the hub link, not the data channel: the doctor has no use for it) with what aiortc's
``RTCPeerConnection.getStats()`` says over the last interval:
- sent kbit/s: the outbound-rtp streams' ``bytesSent``;
- received kbit/s: the transport's ``bytesReceived`` (aiortc's inbound-rtp has no byte count);
- loss %: the worse direction: what the doctor's side reports lost of ours (remote-inbound-rtp
  ``packetsLost`` against our ``packetsSent``), or what we lost of theirs (inbound-rtp);
- round trip: remote-inbound-rtp's ``roundTripTime`` (RTCP receiver reports).
At the call's end one more, ``final=True``, sums up the whole call (its averages over its
length, from the last counters read). A renegotiation starts a new peer connection whose
counters restart at zero: the interval's numbers then count from zero again, never negative.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Final, Protocol, runtime_checkable

import wire
from devices.cancellation import cancel_and_wait
from kiosk.teleconsultation import CallFactory, CallRequest, CallSession

log = logging.getLogger(__name__)

MAX_KBPS: Final = 1_000_000.0


@dataclass(frozen=True, slots=True)
class RtpCounters:
    """Cumulative counters of one peer connection, as read at ``at_s`` (monotonic)."""

    at_s: float
    bytes_sent: int = 0
    bytes_received: int = 0
    packets_sent: int = 0
    remote_lost: int = 0  # of ours, as the doctor's side reports
    packets_received: int = 0
    lost: int = 0  # of theirs
    round_trip_s: float | None = None


def counters_of(report: Any, at_s: float) -> RtpCounters:
    """The counters in an aiortc ``RTCStatsReport`` (a mapping of stats objects)."""
    counters = RtpCounters(at_s)
    rtts: list[float] = []
    for entry in report.values():
        kind = getattr(entry, "type", None)
        if kind == "outbound-rtp":
            counters = replace(
                counters,
                bytes_sent=counters.bytes_sent + int(entry.bytesSent),
                packets_sent=counters.packets_sent + int(entry.packetsSent),
            )
        elif kind == "remote-inbound-rtp":
            counters = replace(counters, remote_lost=counters.remote_lost + int(entry.packetsLost))
            if entry.roundTripTime is not None:
                rtts.append(float(entry.roundTripTime))
        elif kind == "inbound-rtp":
            counters = replace(
                counters,
                packets_received=counters.packets_received + int(entry.packetsReceived),
                lost=counters.lost + int(entry.packetsLost),
            )
        elif kind == "transport":
            counters = replace(
                counters, bytes_received=counters.bytes_received + int(entry.bytesReceived)
            )
    if rtts:
        counters = replace(counters, round_trip_s=max(rtts))
    return counters


def _loss_percent(lost: int, total: int) -> float:
    if total <= 0 or lost <= 0:
        return 0.0
    return min(100.0, 100.0 * lost / total)


def sample_between(before: RtpCounters, after: RtpCounters) -> wire.CallQualitySample:
    """The interval's quality; a counter that went back (a new peer connection) counts from 0."""
    elapsed = max(after.at_s - before.at_s, 1e-3)

    def delta(name: str) -> int:
        now, then = int(getattr(after, name)), int(getattr(before, name))
        return now - then if now >= then else now

    sent, received = delta("bytes_sent"), delta("bytes_received")
    up = _loss_percent(delta("remote_lost"), delta("packets_sent"))
    down_lost = delta("lost")
    down = _loss_percent(down_lost, delta("packets_received") + down_lost)
    return wire.CallQualitySample(
        sent_kbps=round(min(MAX_KBPS, sent * 8 / 1000 / elapsed), 1),
        received_kbps=round(min(MAX_KBPS, received * 8 / 1000 / elapsed), 1),
        loss_percent=round(max(up, down), 2),
        round_trip_ms=None if after.round_trip_s is None else round(after.round_trip_s * 1000, 1),
    )


@runtime_checkable
class StatsSource(Protocol):
    async def rtc_stats(self) -> Any | None:
        """The current peer connection's ``getStats()`` report, or None (none, or closed)."""
        ...


Send = Callable[[wire.Message], Awaitable[None]]


@dataclass
class CallMeter:
    """Samples one call's stats every ``every_s`` and sends them; ``finish`` sends the final."""

    consultation_id: str
    source: StatsSource
    send: Send
    new_id: Callable[[str], str]
    every_s: float = wire.QUALITY_EVERY_S
    sent: int = 0
    _first: RtpCounters | None = None
    _last: RtpCounters | None = None
    _task: asyncio.Task[None] | None = None
    _finished: bool = False
    _history: list[wire.CallQualitySample] = field(default_factory=list)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"call-quality-{self.consultation_id}"
            )

    async def _read(self) -> RtpCounters | None:
        report = await self.source.rtc_stats()
        if report is None:
            return None
        return counters_of(report, time.monotonic())

    async def _run(self) -> None:
        self._first = self._last = await self._read() or RtpCounters(time.monotonic())
        while True:
            await asyncio.sleep(self.every_s)
            now = await self._read()
            if now is None:
                continue
            await self._send(sample_between(self._last, now), final=False)
            if now.bytes_sent < self._last.bytes_sent:  # a new peer connection: its own start
                self._first = RtpCounters(self._last.at_s)
            self._last = now

    async def finish(self) -> None:
        """The final sample (the whole call), once, before the peer connection closes."""
        if self._finished:
            return
        self._finished = True
        if self._task is not None:
            await cancel_and_wait(self._task)
        now = await self._read()
        end = now if now is not None else self._last
        if end is None or self._first is None:
            return
        await self._send(sample_between(self._first, end), final=True)

    async def _send(self, sample: wire.CallQualitySample, *, final: bool) -> None:
        message = wire.CallQuality(
            msg_id=self.new_id("q"),
            consultation_id=self.consultation_id,
            sent_at=datetime.now(UTC),
            sample=sample,
            final=final,
        )
        try:
            await self.send(message)
        except (OSError, ConnectionError) as exc:
            log.warning("call.quality_not_sent error=%s", type(exc).__name__)
            return
        self.sent += 1
        log.info(
            "call.quality consultation=%s sent_kbps=%.0f received_kbps=%.0f loss=%.1f"
            " rtt_ms=%s final=%s",
            self.consultation_id,
            sample.sent_kbps,
            sample.received_kbps,
            sample.loss_percent,
            "-" if sample.round_trip_ms is None else f"{sample.round_trip_ms:.0f}",
            final,
        )


class MeteredCall:
    """A call (``CallSession``) whose quality is measured and sent from start to end."""

    def __init__(self, call: CallSession, meter: CallMeter | None) -> None:
        self._call = call
        self._meter = meter

    async def start(self) -> None:
        await self._call.start()
        if self._meter is not None:
            self._meter.start()

    async def handle_signal(
        self, message: wire.SdpAnswer | wire.IceCandidate | wire.CallEnd
    ) -> None:
        await self._call.handle_signal(message)

    async def send_reading(self, message: wire.ReadingMessage) -> None:
        await self._call.send_reading(message)

    @property
    def ice_servers(self) -> tuple[wire.IceServer, ...]:
        return self._call.ice_servers

    def renew_ice(self, accepted: wire.CallAccepted) -> None:
        self._call.renew_ice(accepted)

    async def hang_up(self, reason: wire.CallEndReason) -> None:
        await self._finish()
        await self._call.hang_up(reason)

    async def close(self) -> None:
        await self._finish()
        await self._call.close()

    async def _finish(self) -> None:
        if self._meter is not None:
            with contextlib.suppress(TimeoutError):
                await self._meter.finish()


class MeteredCalls:
    """Wraps the composition root's call factory: each call gets its meter; the last ICE
    servers the hub gave (with a call) are remembered for the self-test's TURN check."""

    def __init__(self, send: Send, new_id: Callable[[str], str]) -> None:
        self._send = send
        self._new_id = new_id
        self.ice_servers: list[wire.IceServer] | None = None

    def wrap(self, factory: CallFactory) -> CallFactory:
        def make(request: CallRequest) -> CallSession:
            self.ice_servers = list(request.accepted.ice_servers)
            call = factory(request)
            source = call if isinstance(call, StatsSource) else None
            meter = (
                CallMeter(request.consultation_id, source, self._send, self._new_id)
                if source is not None
                else None
            )
            return MeteredCall(call, meter)

        return make

"""The call's quality as the cabin measures it, sent to the hub for the operator's fleet page.

During a call, every ``wire.QUALITY_EVERY_S``, a ``wire.CallQuality`` goes to the hub (through
the hub link, not the data channel: the doctor has no use for it) with what aiortc's
``RTCPeerConnection.getStats()`` says over the last interval:
- sent kbit/s: the outbound-rtp streams' ``bytesSent``;
- received kbit/s: the transport's ``bytesReceived`` (aiortc's inbound-rtp has no byte count);
- loss %: the worse direction: what the doctor's side reports lost of ours (remote-inbound-rtp
  ``packetsLost`` against our ``packetsSent``), or what we lost of theirs (inbound-rtp);
- round trip: remote-inbound-rtp's ``roundTripTime`` (RTCP receiver reports).
At the call's end one more, ``final=True``, sums up the whole call (the sum of its stretches:
its averages over its length). A renegotiation starts a new peer connection whose counters
restart at zero: that stretch then counts from zero, never negative.
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


_COUNTS = (
    "bytes_sent",
    "bytes_received",
    "packets_sent",
    "remote_lost",
    "packets_received",
    "lost",
)


def counters_delta(before: RtpCounters, after: RtpCounters) -> RtpCounters:
    """What happened between two readings (``at_s``: the time between them). A new peer
    connection (its sent counters went back) counts from zero; a lost count that went down
    (RTCP's cumulative loss is corrected by late packets) is no loss, never a jump."""
    restarted = after.bytes_sent < before.bytes_sent or after.packets_sent < before.packets_sent
    base = RtpCounters(before.at_s) if restarted else before
    moved = {name: max(0, getattr(after, name) - getattr(base, name)) for name in _COUNTS}
    return RtpCounters(max(after.at_s - before.at_s, 0.0), **moved, round_trip_s=after.round_trip_s)


def added(total: RtpCounters, delta: RtpCounters) -> RtpCounters:
    """Two stretches of a call, one after the other (the round trip: the latest known)."""
    sums = {name: getattr(total, name) + getattr(delta, name) for name in _COUNTS}
    return RtpCounters(
        total.at_s + delta.at_s,
        **sums,
        round_trip_s=delta.round_trip_s if delta.round_trip_s is not None else total.round_trip_s,
    )


def sample_of(delta: RtpCounters) -> wire.CallQualitySample:
    """A stretch's quality (``delta`` from `counters_delta`, or their sum)."""
    elapsed = max(delta.at_s, 1e-3)
    up = _loss_percent(delta.remote_lost, delta.packets_sent)
    down = _loss_percent(delta.lost, delta.packets_received + delta.lost)
    rtt = delta.round_trip_s
    return wire.CallQualitySample(
        sent_kbps=round(min(MAX_KBPS, delta.bytes_sent * 8 / 1000 / elapsed), 1),
        received_kbps=round(min(MAX_KBPS, delta.bytes_received * 8 / 1000 / elapsed), 1),
        loss_percent=round(max(up, down), 2),
        round_trip_ms=None if rtt is None else round(rtt * 1000, 1),
    )


def sample_between(before: RtpCounters, after: RtpCounters) -> wire.CallQualitySample:
    """The interval's quality between two readings."""
    return sample_of(counters_delta(before, after))


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
    _last: RtpCounters | None = None
    _whole: RtpCounters = field(default_factory=lambda: RtpCounters(0.0))
    _task: asyncio.Task[None] | None = None
    _finished: bool = False

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
        self._last = await self._read() or RtpCounters(time.monotonic())
        while True:
            await asyncio.sleep(self.every_s)
            now = await self._read()
            if now is None:
                continue
            await self._send(sample_of(self._step(now)), final=False)

    def _step(self, now: RtpCounters) -> RtpCounters:
        """The stretch since the last reading, added to the whole call's."""
        assert self._last is not None
        delta = counters_delta(self._last, now)
        self._whole = added(self._whole, delta)
        self._last = now
        return delta

    async def finish(self) -> None:
        """The final sample (the whole call), once, before the peer connection closes."""
        if self._finished:
            return
        self._finished = True
        if self._task is not None:
            await cancel_and_wait(self._task)
        now = await self._read()
        if self._last is None:
            return  # the call never started: nothing was measured
        if now is not None:
            self._step(now)
        if self._whole.at_s <= 0:
            return
        await self._send(sample_of(self._whole), final=True)

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

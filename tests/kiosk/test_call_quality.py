"""The call's quality from aiortc's stats, sent through the hub link every interval and once at
the end: a real aiortc call with a real aiortc doctor, a real HubLink, a hub at the websocket
level (the hub's side is tested in tests/hub/test_fleet.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import wire
from devices.cancellation import within
from kiosk.call_quality import (
    CallMeter,
    MeteredCalls,
    RtpCounters,
    counters_of,
    sample_between,
)
from kiosk.hub_link import HubLink
from kiosk.teleconsultation import CallRequest
from tests.kiosk.call.test_client import CONSULTATION, accepted, call_with_doctor, speech
from tests.kiosk.selftest.ws_hub import WsHub

__all__ = ["speech"]  # the module's fixture, shared


async def _ignore(_message: wire.Message) -> None:
    return None


def test_a_call_sends_its_quality_every_interval_and_a_final_one(
    speech: tuple[Path, Path],
) -> None:
    async def scenario() -> list[wire.CallQuality]:
        hub = WsHub()
        await hub.start()
        link = HubLink(hub.url, "cabin-1", "t" * 32, software_version="0.6.0", handler=_ignore)
        await link.start()
        await link.wait_online(20)
        try:
            async with call_with_doctor(speech) as cabin:
                calls = MeteredCalls(link.send, link.new_id)
                request = CallRequest(
                    consultation_id=CONSULTATION,
                    accepted=accepted(servers=(wire.IceServer(urls=["stun:127.0.0.1:9"]),)),
                    signaling=link,
                    on_link=lambda _link: None,
                    on_message=lambda _message: None,
                    on_remote_frame=lambda _frame: None,
                )
                metered = calls.wrap(lambda _request: cabin.client)(request)
                assert calls.ice_servers == list(request.accepted.ice_servers)
                meter = getattr(metered, "_meter", None)
                assert isinstance(meter, CallMeter)
                meter.every_s = 1.0  # the product's is wire.QUALITY_EVERY_S (10 s)
                meter.start()  # the rig started the client already
                await cabin.connected()
                await hub.wait_for(wire.CallQuality, 3, within_s=30)
                await metered.hang_up(wire.CallEndReason.PATIENT_LEFT)
                await metered.close()  # idempotent: one final only
                await hub.wait_for(wire.CallQuality, 4, within_s=30)
                await asyncio.sleep(0.3)
                return [m for m in hub.of(wire.CallQuality) if isinstance(m, wire.CallQuality)]
        finally:
            await link.close()
            await hub.stop()

    messages = asyncio.run(within(scenario(), 120))
    finals = [m for m in messages if m.final]
    assert len(finals) == 1 and messages[-1].final
    assert all(m.consultation_id == CONSULTATION for m in messages)
    live = [m.sample for m in messages if not m.final]
    assert len(live) >= 3
    # Video at up to 350 kbit/s and speech at 48: what was sent in the interval, measured.
    assert max(s.sent_kbps for s in live) > 50
    assert max(s.received_kbps for s in live) > 10
    assert all(0 <= s.loss_percent <= 100 for s in live)
    assert finals[0].sample.sent_kbps > 50


class _Stats:
    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


def test_the_counters_of_an_aiortc_report_and_an_interval_from_them() -> None:
    report = {
        "o1": _Stats(type="outbound-rtp", bytesSent=100_000, packetsSent=200),
        "o2": _Stats(type="outbound-rtp", bytesSent=25_000, packetsSent=100),
        "r1": _Stats(
            type="remote-inbound-rtp", packetsLost=6, roundTripTime=0.08, fractionLost=0.0
        ),
        "i1": _Stats(type="inbound-rtp", packetsReceived=190, packetsLost=10),
        "t1": _Stats(type="transport", bytesReceived=50_000, bytesSent=130_000),
    }
    later = counters_of(report, at_s=12.0)
    assert later == RtpCounters(12.0, 125_000, 50_000, 300, 6, 190, 10, 0.08)
    sample = sample_between(RtpCounters(2.0), later)
    assert sample.sent_kbps == 100.0  # 125 000 bytes in 10 s
    assert sample.received_kbps == 40.0
    assert sample.loss_percent == 5.0  # the worse way: 10 of 200 received ones lost
    assert sample.round_trip_ms == 80.0
    # A new peer connection: its counters start again from zero, never a negative rate.
    restarted = RtpCounters(22.0, bytes_sent=10_000, bytes_received=1_000, packets_sent=20)
    again = sample_between(later, restarted)
    assert again.sent_kbps == 8.0 and again.received_kbps == 0.8 and again.loss_percent == 0.0
    assert again.round_trip_ms is None

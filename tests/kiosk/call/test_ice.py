"""Loopback-only ICE: narrowed gathering, scoped to its context; filtering the peer's candidates."""

from __future__ import annotations

import asyncio

import aioice.ice
from aiortc import RTCConfiguration, RTCPeerConnection

from kiosk.call.ice import is_loopback_candidate, loopback_candidates, only_loopback_sdp


def candidates(sdp: str) -> list[str]:
    return [line for line in sdp.splitlines() if line.startswith("a=candidate:")]


def test_inside_the_context_only_127_0_0_1_is_gathered_and_outside_aioice_is_untouched() -> None:
    with loopback_candidates():
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1"]
        assert aioice.ice.get_host_addresses(use_ipv4=False, use_ipv6=True) == []
    # aioice's own answer: every interface but loopback (possibly none in a network namespace)
    assert "127.0.0.1" not in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
    with loopback_candidates(enabled=False):
        assert "127.0.0.1" not in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)

    async def offer() -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.createDataChannel("cabin")
        with loopback_candidates():
            await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        await pc.close()
        return sdp

    found = candidates(asyncio.run(offer()))
    assert found and all(" 127.0.0.1 " in line and " typ host" in line for line in found)


def test_the_narrowing_belongs_to_the_task_that_asked_for_it() -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        entered = asyncio.Event()
        leave = asyncio.Event()

        async def narrowed() -> list[str]:
            with loopback_candidates():
                entered.set()
                await leave.wait()
                return aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)

        task = asyncio.create_task(narrowed())
        await entered.wait()
        outside = aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
        leave.set()
        return await task, outside

    inside, outside = asyncio.run(scenario())
    assert inside == ["127.0.0.1"]
    assert "127.0.0.1" not in outside


def test_the_peers_candidates_off_loopback_are_dropped() -> None:
    sdp = (
        "v=0\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
        "a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\n"
        "a=candidate:2 1 udp 2130706431 192.168.1.20 50001 typ host\r\n"
        "a=candidate:3 1 udp 2130706431 0f4c-uuid.local 50002 typ host\r\n"
        "a=candidate:4 1 udp 1694498815 203.0.113.9 50003 typ srflx raddr 0.0.0.0 rport 0\r\n"
        "a=end-of-candidates\r\n"
    )
    kept = only_loopback_sdp(sdp)
    assert candidates(kept) == ["a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host"]
    assert kept.startswith("v=0\r\nm=audio") and kept.endswith("a=end-of-candidates\r\n")
    assert is_loopback_candidate("candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host")
    assert not is_loopback_candidate("candidate:3 1 udp 2130706431 x.local 50002 typ host")
    assert not is_loopback_candidate("candidate:garbage")

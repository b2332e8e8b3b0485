"""A teleconsultation forced through a real TURN relay (coturn on 127.0.0.1).

The hub hands both ends coturn's address with short-lived REST credentials and the "relay"
transport policy. The test proves the media went through the relay, not peer to peer: the
cabin offers relay candidates only, the browser's selected candidate pair is relay on its side,
and coturn logged an allocation for each end with the call's bytes relayed between them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import wire
from kiosk.events import CallLink
from kiosk.session_states import SessionState
from simulators.doctor import BrowserDoctor
from tests.e2e.coturn import Coturn, running_coturn
from tests.e2e.rig import DOCTOR, PATIENCE_S, is_blank, teleconsultation, until

pytestmark = pytest.mark.timeout(300)

CABIN_ID = "cabin-e2e"
RELAYED_BYTES = 100_000
"""Bytes each way that only media can make: a couple of seconds of the call's video and sound
(connectivity checks and DTLS alone are a few kilobytes)."""

# Kept before the console's scripts run: every RTCPeerConnection the page makes, with its
# configuration, so that the test can read the selected candidate pair from its stats.
_RECORD_PEER_CONNECTIONS = """
(() => {
  const Native = window.RTCPeerConnection;
  const made = [];
  window.__peerConnections = made;
  window.RTCPeerConnection = class extends Native {
    constructor(configuration, ...rest) {
      super(configuration, ...rest);
      made.push({pc: this, configuration: JSON.parse(JSON.stringify(configuration ?? {}))});
    }
  };
})();
"""

# The newest peer connection's configuration and selected candidate pair, from getStats().
_SELECTED_PAIR = """
async () => {
  const made = window.__peerConnections ?? [];
  if (!made.length) return null;
  const {pc, configuration} = made[made.length - 1];
  const stats = await pc.getStats();
  const byId = new Map();
  stats.forEach((s) => byId.set(s.id, s));
  let pair = null;
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) {
      pair = byId.get(s.selectedCandidatePairId);
    }
  });
  if (!pair) return {configuration, connectionState: pc.connectionState, pair: null};
  const local = byId.get(pair.localCandidateId);
  const remote = byId.get(pair.remoteCandidateId);
  const pick = (c) => c && {type: c.candidateType, address: c.address, port: c.port,
                             protocol: c.protocol, relayProtocol: c.relayProtocol ?? null,
                             url: c.url ?? null};
  return {configuration, connectionState: pc.connectionState,
          pair: {state: pair.state, nominated: pair.nominated, bytesSent: pair.bytesSent,
                 bytesReceived: pair.bytesReceived, local: pick(local), remote: pick(remote)}};
}
"""


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[Coturn]:
    with running_coturn(tmp_path / "coturn") as server:
        yield server


@pytest.fixture
def recorded_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    """The doctor's page records its peer connections from the first script on (the rig logs
    in, i.e. loads the console, inside `teleconsultation`: the script goes in just before)."""
    login = BrowserDoctor.login

    async def login_recorded(self: BrowserDoctor, username: str, password: str) -> None:
        await self.page.add_init_script(_RECORD_PEER_CONNECTIONS)
        await login(self, username, password)

    monkeypatch.setattr(BrowserDoctor, "login", login_recorded)


def record(owner: Any, name: str, into: list[wire.Message]) -> None:
    """Wrap the coroutine method ``owner.name`` so that its first argument is kept in ``into``."""
    original: Callable[..., Awaitable[None]] = getattr(owner, name)

    async def recorded(message: wire.Message, *args: Any, **kwargs: Any) -> None:
        into.append(message)
        await original(message, *args, **kwargs)

    setattr(owner, name, recorded)


def candidates(sdp: str) -> list[list[str]]:
    """The ``a=candidate:`` lines of an SDP, split into fields."""
    return [
        line.removeprefix("a=candidate:").split()
        for line in sdp.splitlines()
        if line.startswith("a=candidate:")
    ]


def candidate_type(fields: list[str]) -> str:
    return fields[fields.index("typ") + 1]


def check_credential(server: wire.IceServer, coturn: Coturn, who: str) -> None:
    """coturn's REST scheme: ``<expiry>:<who>`` and base64(HMAC-SHA1(secret, username))."""
    assert server.urls == [coturn.url]
    assert server.username is not None and server.credential is not None
    expiry, _, name = server.username.partition(":")
    assert name == who
    assert 0 < int(expiry) - time.time() <= 3600 + 5
    digest = hmac.new(coturn.secret.encode(), server.username.encode(), hashlib.sha1).digest()
    assert server.credential == base64.b64encode(digest).decode()


@pytest.mark.usefixtures("recorded_browser")
def test_the_call_goes_through_the_turn_relay(tmp_path: Path, coturn: Coturn) -> None:
    async def scenario() -> None:
        async with teleconsultation(tmp_path, hub_overrides={"turn": coturn.hub_turn()}) as c:
            cabin, doctor = c.cabin, c.doctor
            assert cabin.core.hub is not None and cabin.core.teleconsultation is not None
            sent: list[wire.Message] = []
            received: list[wire.Message] = []
            record(cabin.core.hub, "send", sent)
            record(cabin.core.teleconsultation, "handle_hub_message", received)

            consultation_id = await cabin.to_waiting_room()
            assert await doctor.wait_for_patient() == consultation_id
            await doctor.accept(consultation_id)
            probe = await doctor.wait_for_video()
            assert (probe.width, probe.height) == (640, 480)
            assert not probe.blank
            await until(lambda: cabin.first_frame_at is not None, "the doctor's video")
            assert not is_blank(cabin.frames[-1])
            await until(lambda: cabin.link is CallLink.CONNECTED, "the call connected")
            await doctor.wait_link("connected")

            # The hub gave the cabin coturn, its credential, and the relay policy.
            accepted = [m for m in received if isinstance(m, wire.CallAccepted)]
            assert len(accepted) == 1
            assert accepted[0].ice_transport_policy is wire.IceTransportPolicy.RELAY
            assert len(accepted[0].ice_servers) == 1
            check_credential(accepted[0].ice_servers[0], coturn, CABIN_ID)

            # (1) The cabin offered relayed candidates only, on coturn's relay ports.
            offers = [m for m in sent if isinstance(m, wire.SdpOffer)]
            assert offers, "the cabin sent no offer"
            offered = [f for offer in offers for f in candidates(offer.sdp)]
            assert offered, "the cabin offered no candidate"
            assert {candidate_type(f) for f in offered} == {"relay"}, offered
            for fields in offered:
                assert fields[4] == "127.0.0.1"
                assert coturn.min_port <= int(fields[5]) <= coturn.max_port
            # ... and the console's answer too (it gathers under the same policy).
            answers = [m for m in received if isinstance(m, wire.SdpAnswer)]
            trickled = [m for m in received if isinstance(m, wire.IceCandidate)]
            answered = [f for answer in answers for f in candidates(answer.sdp)] + [
                m.candidate.removeprefix("a=").removeprefix("candidate:").split()
                for m in trickled
                if m.candidate
            ]
            assert answered and {candidate_type(f) for f in answered} == {"relay"}, answered

            # (2) The browser's selected pair is relay on its side, through coturn.
            seen = await selected_pair(doctor, RELAYED_BYTES, timeout_s=PATIENCE_S)
            assert seen["configuration"]["iceTransportPolicy"] == "relay"
            (server,) = seen["configuration"]["iceServers"]
            check_credential(wire.IceServer(**server), coturn, DOCTOR[0])
            assert seen["connectionState"] == "connected"
            pair = seen["pair"]
            assert pair is not None, seen
            assert pair["local"]["type"] == "relay", pair
            assert pair["local"]["relayProtocol"] == "udp", pair
            assert pair["local"]["address"] == "127.0.0.1", pair
            assert coturn.min_port <= pair["local"]["port"] <= coturn.max_port, pair
            assert pair["remote"]["type"] == "relay", pair
            assert pair["remote"]["port"] in {int(f[5]) for f in offered}, pair

            await doctor.hang_up()
            await until(lambda: cabin.core.session.state is SessionState.CLOSING, "the call to end")
            assert cabin.link is CallLink.ENDED
            # Both ends release their allocations at the hang-up: coturn logs the last usage.
            await until(
                lambda: all(s.closed for s in coturn.sessions().values() if s.allocated),
                "both ends to release their TURN allocations",
            )

        # (3) coturn allocated for each end, with its credential, and relayed the call between
        # the two: what the cabin's relay sent to its peer is what the doctor's relay got.
        sessions = list(coturn.sessions().values())
        cabin_user = accepted[0].ice_servers[0].username
        doctor_user = server["username"]
        mine = [s for s in sessions if s.username == cabin_user and s.allocated]
        theirs = [s for s in sessions if s.username == doctor_user and s.allocated]
        assert mine and theirs, sessions
        # Any other allocation is the cabin's self-test gathering a relay candidate at start
        # (its own credential, of the cabin's id): it relays nothing.
        others = [
            s for s in sessions if s.allocated and s.username not in {cabin_user, doctor_user}
        ]
        assert all(s.username.endswith(f":{CABIN_ID}") for s in others), others
        assert all(s.peer_bytes_sent == 0 and s.peer_bytes_received == 0 for s in others), others
        assert all(s.peers <= {"127.0.0.1"} for s in sessions), sessions
        cabin_out = sum(s.peer_bytes_sent for s in mine)
        cabin_in = sum(s.peer_bytes_received for s in mine)
        doctor_out = sum(s.peer_bytes_sent for s in theirs)
        doctor_in = sum(s.peer_bytes_received for s in theirs)
        assert min(cabin_out, cabin_in, doctor_out, doctor_in) > RELAYED_BYTES, sessions
        assert abs(cabin_out - doctor_in) <= cabin_out * 0.1, sessions
        assert abs(doctor_out - cabin_in) <= doctor_out * 0.1, sessions
        assert set(re.findall(r"processed, error (\d+)", coturn.log())) <= {"401"}
        print(
            f"relayed: cabin->doctor {cabin_out} B, doctor->cabin {doctor_out} B; "
            f"allocations: cabin {len(mine)}, doctor {len(theirs)}"
        )

    asyncio.run(scenario())


async def selected_pair(doctor: BrowserDoctor, min_bytes: int, timeout_s: float) -> Any:
    """The browser's selected candidate pair once ``min_bytes`` went each way through it."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen = await doctor.page.evaluate(_SELECTED_PAIR)
        assert seen is not None, "the console made no peer connection"
        pair = seen["pair"]
        if pair is not None and min(pair["bytesSent"], pair["bytesReceived"]) > min_bytes:
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"not {min_bytes} bytes each way through the pair: {seen}")
        await asyncio.sleep(0.2)

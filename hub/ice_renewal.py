"""TURN credentials sent again before they expire, for calls longer than their lifetime.

A call's ends get TURN credentials valid `credential_ttl_s` (`hub.turn`) when it begins and
whenever they reconnect. coturn refuses them after that: a call longer than it that needs a new
peer connection (the cabin's network changed, an ICE restart) would fail. So, for each live
call, each socket this replica holds of its ends (the cabin's, the doctor's consoles') gets the
call's `CallAccepted` again, with credentials valid from now, about half a lifetime after it
last got some. The cabin (`renew_ice`) and the console (`renewIce`) keep the call going and use
them for their next peer connection. Each replica renews only its own sockets: every socket is
renewed once, wherever it is connected.

Without a TURN server configured there is nothing to renew (STUN needs no credential).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import wire
from hub.calls import CallRegistry
from hub.clock import Clock
from hub.peers import Peer
from hub.routing import Routing
from hub.turn import IceServers

log = logging.getLogger(__name__)

CHECKS_PER_LIFETIME = 10
"""How often the calls are looked at, per credential lifetime (every 6 min for an hour's)."""
MAX_CHECK_S = 60.0

Fresh = Callable[[wire.CallAccepted, str], wire.CallAccepted]
"""`CallAccepted` with a new id and credentials for that identity, valid from now."""


class IceRenewal:
    def __init__(
        self,
        *,
        calls: CallRegistry,
        routing: Routing,
        clock: Clock,
        ice: IceServers,
        fresh: Fresh,
    ) -> None:
        self._calls = calls
        self._routing = routing
        self._clock = clock
        self._fresh = fresh
        self._enabled = any(url.startswith(("turn:", "turns:")) for url in ice.urls)
        self._renew_after = timedelta(seconds=ice.ttl_s / 2)
        self.check_s = min(MAX_CHECK_S, ice.ttl_s / CHECKS_PER_LIFETIME)
        self._given: dict[tuple[str, Peer], datetime] = {}
        """When each (call, socket) last got credentials: first seen, it has just got them
        (the call began, or the socket connected: `Switchboard` sent them fresh)."""

    @property
    def watched(self) -> int:
        """How many sockets of live calls are watched (as of the last check)."""
        return len(self._given)

    async def run(self) -> None:
        """Renew what is due every `check_s`, until cancelled."""
        if not self._enabled:
            return
        while True:
            await asyncio.sleep(self.check_s)
            self.renew_due()

    def renew_due(self) -> int:
        """Send fresh credentials to every socket of a live call whose last ones are half a
        lifetime old; how many were sent."""
        if not self._enabled:
            return 0
        now = self._clock.now()
        given: dict[tuple[str, Peer], datetime] = {}
        renewed = 0
        for call in self._calls.all():
            cabin = self._routing.cabins.get(call.cabin_id)
            ends = [(cabin, call.cabin_accept, call.cabin_id)] if cabin is not None else []
            ends += [
                (console, call.console_accept, call.doctor)
                for console in self._routing.consoles.get(call.doctor, ())
            ]
            for peer, accept, who in ends:
                if peer.closed:
                    continue
                key = (call.consultation_id, peer)
                since = self._given.get(key, now)
                if now - since >= self._renew_after:
                    peer.send(self._fresh(accept, who))
                    log.info(
                        "hub.ice_renewed consultation=%s peer=%s",
                        call.consultation_id,
                        peer.label,
                    )
                    since = now
                    renewed += 1
                given[key] = since
        self._given = given  # ended calls and closed sockets forgotten
        return renewed

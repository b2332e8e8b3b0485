"""Who is gone: a cabin or a doctor's consoles away for longer than the grace, across replicas.

A cabin (or the last console of a doctor in a call) that disconnects from this replica starts
a grace timer here. When it fires, the cluster is asked first: a cabin that reconnected to
another replica meanwhile is not gone. A replica that died has no timer left to fire: the
periodic check of every replica looks at the cabins and doctors of the live consultations,
and one that no live replica has held for longer than the grace is gone too. Either way, the
switchboard's `gone` ends what it had (and claims each consultation in the cluster, so that
only one replica ends it).

This also tells the waiting room which cabins are offline: a cabin this replica holds is
online, and so is one another replica holds; one that nobody has been seen to hold since this
replica last looked is offline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from hub.cluster import Cluster, HeldKind
from hub.log_safe import log_safe
from hub.peers import PeerKind
from hub.routing import Routing

log = logging.getLogger(__name__)

Who = tuple[PeerKind, str]
"""A cabin (its id) or a doctor's consoles (the doctor's username)."""


class Departures:
    def __init__(
        self,
        *,
        cluster: Cluster,
        routing: Routing,
        grace_s: float,
        gone: Callable[[PeerKind, str], Coroutine[Any, Any, None]],
        spawn: Callable[[Coroutine[Any, Any, None], str], None],
    ) -> None:
        self._cluster = cluster
        self._routing = routing
        self.grace_s = grace_s
        self._gone = gone
        self._spawn = spawn
        self._timers: dict[Who, asyncio.TimerHandle] = {}
        self._unheld_since: dict[Who, float] = {}
        """Cabins (and doctors) of live consultations that no live replica holds: since when
        (loop time) this replica has seen them so."""
        self._stopped = False

    def stop(self) -> None:
        self._stopped = True
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    # --- this replica's sockets -------------------------------------------------------------

    def away(self, kind: PeerKind, who: str) -> None:
        """Its last socket here has closed: gone after the grace, unless it is back by then
        (here or through another replica)."""
        if self._stopped:
            return
        self.back(kind, who)
        self.unheld(kind, who)
        loop = asyncio.get_running_loop()
        self._timers[(kind, who)] = loop.call_later(self.grace_s, self._fire, kind, who)

    def back(self, kind: PeerKind, who: str) -> bool:
        """It is connected (here, or to another replica); whether it was offline."""
        handle = self._timers.pop((kind, who), None)
        if handle is not None:
            handle.cancel()
        return self._unheld_since.pop((kind, who), None) is not None

    def unheld(self, kind: PeerKind, who: str) -> None:
        """It is held nowhere, as far as this replica knows now."""
        loop = asyncio.get_running_loop()
        self._unheld_since.setdefault((kind, who), loop.time())

    def shown_online(self, cabin_id: str) -> bool:
        return self._routing.has_cabin(cabin_id) or (PeerKind.CABIN, cabin_id) not in (
            self._unheld_since
        )

    def _fire(self, kind: PeerKind, who: str) -> None:
        self._timers.pop((kind, who), None)
        self._spawn(self._gone(kind, who), f"hub-{kind.value}-gone")

    # --- across replicas --------------------------------------------------------------------

    async def held(self, kind: PeerKind, who: str) -> bool:
        """Whether a live replica (this one or another) holds a socket of `who` now
        (`ClusterDown` if the cluster cannot say)."""
        if kind is PeerKind.CABIN and self._routing.has_cabin(who):
            return True
        if kind is PeerKind.CONSOLE and self._routing.has_console(who):
            return True
        held = HeldKind.CABIN if kind is PeerKind.CABIN else HeldKind.CONSOLE
        if self._routing.announced_elsewhere(held, who):
            return True
        return bool(await self._cluster.holders(held, who))

    async def check(self, live: set[Who]) -> bool:
        """The periodic check, over the cabins and doctors of the live consultations (`live`):
        those no live replica has held for longer than the grace are gone (and each is looked
        up once more just before); whether a cabin's shown state changed."""
        now = asyncio.get_running_loop().time()
        for key in [k for k in self._unheld_since if k not in live]:
            del self._unheld_since[key]
        shown_changed = False
        for kind, who in sorted(live):
            if await self.held(kind, who):
                shown_changed |= self.back(kind, who)  # its timer here too, if any
                continue
            if (kind, who) in self._timers:
                continue  # this replica's own timer sees to it
            since = self._unheld_since.setdefault((kind, who), now)
            shown_changed |= since == now and kind is PeerKind.CABIN
            if now - since < self.grace_s:
                continue
            del self._unheld_since[(kind, who)]
            log.info("hub.unheld_past_grace peer=%s:%s", kind.value, log_safe(who))
            await self._gone(kind, who)
        return shown_changed

"""Routing, the seam between the hub's replicas: the sockets this replica holds, and the way a
message reaches its recipient wherever it is connected.

A message for a cabin, a doctor's consoles, the agents of a cabin or every console goes at
once to the sockets of it this replica holds (synchronously, between two awaits, as with one
replica), and to the other replicas that hold one, through one ordered path: a task that
takes the messages in the order they were given, asks the cluster who holds the recipient,
and sends each a `Deliver` signal (the cluster keeps one replica's signals in order), so
that a cabin's `SdpOffer` then its `IceCandidate`s reach a console on another replica in
that order. A signal may be lost: what must arrive (a prescription, advice, an alert) is
sent again until acknowledged, by the replica that holds the cabin.

Presence: `cluster.hold` when this replica gets a cabin's, doctor's or agent's first socket,
`cluster.release` when its last one goes.

Who holds a cabin or a doctor's consoles, as the cluster said it, is kept for a moment
(`HOLDERS_TTL_S`, 2.5 s) instead of being asked again for every message (a call's readings,
its ICE candidates). A replica too many in it costs a signal that its receiver drops; one
missing would lose messages, so whenever a socket opens on another replica, that replica says
so and the others add it at once: `PeerReplaced` for a cabin (its holder from then on) and
`ConsoleHere` for a doctor's first console there. A cabin gone (`CabinAway`), a cluster down
or reconnected (signals may have been lost) forget what was kept; a lost signal is outlived by
the moment's end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import wire
from hub.cancellation import cancel_and_wait
from hub.cluster import Cluster, ClusterDown, HeldKind
from hub.log_safe import log_safe
from hub.peers import Peer
from hub.signals import (
    Audience,
    CabinAway,
    ConsoleHere,
    Deliver,
    PeerReplaced,
    Signal,
    encode_signal,
)

log = logging.getLogger(__name__)

FORWARDS_WAITING = 10_000
"""Messages waiting for the ordered path to other replicas; beyond, new ones are dropped
(and logged): the cluster is too slow or down, and what matters is sent again."""
DOWN_PAUSE_S = 1.0
"""After the cluster failed to say who holds a recipient, the messages for other replicas are
dropped this long without asking it (each ask would wait for its timeout)."""
REACH_WAIT_S = 5.0
"""How long `reach_cabin` waits for the ordered path before it says the cabin was not
reached (the message goes again from the cabin's replica's redelivery anyway)."""
HOLDERS_KEPT = 10_000
"""Entries kept at most before the expired ones are swept (one per cabin or doctor that
messages went to within `HOLDERS_TTL_S`)."""
HOLDERS_TTL_S = 2.5
"""How long who holds a cabin or a doctor's consoles, as the cluster said it, is believed
without asking again (the signals of sockets opening elsewhere update it meanwhile). A call's
readings come a second apart: two of three find it kept. Half the presence's TTL (5 s), which
already bounds how long a killed replica is named as a holder."""


@dataclass(frozen=True, slots=True)
class AgentScope:
    """The cabins an agent looks after: `cabins`, or every one."""

    cabins: frozenset[str]
    all_cabins: bool

    def covers(self, cabin_id: str) -> bool:
        return self.all_cabins or cabin_id in self.cabins


@dataclass(slots=True)
class _Holders:
    expires: float
    """On the event loop's clock."""
    replicas: set[str]


@dataclass(frozen=True, slots=True)
class _Forward:
    deliver: Deliver
    reached: asyncio.Future[int] | None = None
    """Set to how many other replicas were sent it."""


class Routing:
    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self.cabins: dict[str, Peer] = {}
        self.consoles: dict[str, set[Peer]] = {}
        self.agents: dict[Peer, AgentScope] = {}
        """The connected agent pages, and the cabins each one's agent looks after."""
        self._outbox: asyncio.Queue[_Forward] = asyncio.Queue(maxsize=FORWARDS_WAITING)
        self._forwarder: asyncio.Task[None] | None = None
        self._dropped = 0
        self._down_until = 0.0
        self._holders: dict[tuple[HeldKind, str], _Holders] = {}
        """Who holds whom, as the cluster said it a moment ago (and the signals since)."""
        self._announced: dict[tuple[HeldKind, str], _Holders] = {}
        """Replicas that said they got a socket a moment ago: added to what the cluster says
        (its presence may be written after the signal arrives)."""

    @property
    def replica_id(self) -> str:
        return self._cluster.replica_id

    def start(self) -> None:
        self._forwarder = asyncio.get_running_loop().create_task(
            self._forward(), name="hub-routing-forwarder"
        )

    async def stop(self) -> None:
        if self._forwarder is not None:
            await cancel_and_wait(self._forwarder)
        while not self._outbox.empty():
            item = self._outbox.get_nowait()
            if item.reached is not None and not item.reached.done():
                item.reached.set_result(0)

    def peers(self) -> Iterator[Peer]:
        """Every socket this replica holds."""
        yield from self.cabins.values()
        for peers in self.consoles.values():
            yield from peers
        yield from self.agents

    # --- sockets coming and going -----------------------------------------------------------

    def add_cabin(self, peer: Peer) -> Peer | None:
        """The cabin's socket from now on; its previous one here (to close), if any. The
        other replicas are told, to close theirs."""
        cabin_id = peer.identity
        previous = self.cabins.get(cabin_id)
        self.cabins[cabin_id] = peer
        self._cluster.hold(HeldKind.CABIN, cabin_id)
        self._holders.pop((HeldKind.CABIN, cabin_id), None)
        self.signal(PeerReplaced(cabin_id=cabin_id, replica=self.replica_id))
        return None if previous is peer else previous

    def remove_cabin(self, peer: Peer) -> bool:
        """False if `peer` is not the cabin's current socket (it was replaced)."""
        if self.cabins.get(peer.identity) is not peer:
            return False
        del self.cabins[peer.identity]
        self._cluster.release(HeldKind.CABIN, peer.identity)
        return True

    def add_console(self, peer: Peer) -> None:
        peers = self.consoles.setdefault(peer.identity, set())
        first = not peers
        peers.add(peer)
        self._cluster.hold(HeldKind.CONSOLE, peer.identity)
        if first:
            self.signal(ConsoleHere(doctor=peer.identity, replica=self.replica_id))

    def remove_console(self, peer: Peer) -> bool | None:
        """None if `peer` was not here; else whether it was its doctor's last console here."""
        peers = self.consoles.get(peer.identity)
        if peers is None or peer not in peers:
            return None
        peers.discard(peer)
        if peers:
            return False
        del self.consoles[peer.identity]
        self._cluster.release(HeldKind.CONSOLE, peer.identity)
        return True

    def add_agent(self, peer: Peer, scope: AgentScope) -> None:
        self.agents[peer] = scope
        self._cluster.hold(HeldKind.AGENT, peer.identity)

    def remove_agent(self, peer: Peer) -> bool:
        if self.agents.pop(peer, None) is None:
            return False
        if not any(p.identity == peer.identity for p in self.agents):
            self._cluster.release(HeldKind.AGENT, peer.identity)
        return True

    def has_cabin(self, cabin_id: str) -> bool:
        return cabin_id in self.cabins

    def has_console(self, doctor: str) -> bool:
        return bool(self.consoles.get(doctor))

    async def cabin_anywhere(self, cabin_id: str) -> bool:
        """Whether a replica (this one or another alive) holds the cabin's socket."""
        if cabin_id in self.cabins:
            return True
        try:
            return bool(await self._cluster.holders(HeldKind.CABIN, cabin_id))
        except ClusterDown as exc:
            log.warning("hub.cluster_down task=holders error=%s", log_safe(exc))
            return False

    def agent_looks_after(self, peer: Peer, cabin_id: str) -> bool:
        scope = self.agents.get(peer)
        return scope is not None and scope.covers(cabin_id)

    # --- delivery ---------------------------------------------------------------------------

    def to_cabin(self, cabin_id: str, message: wire.Message, *, pending: bool = False) -> bool:
        """To the cabin, here at once or through the replica that holds it; whether it was
        sent here. `pending`: a prescription or advice (the cabin's replica counts it sent)."""
        text = wire.encode(message).decode("utf-8")
        pending_msg_id = message.msg_id if pending else None
        if self.deliver_here(Deliver(Audience.CABIN, cabin_id, text, pending_msg_id)):
            return True
        self._queue(_Forward(Deliver(Audience.CABIN, cabin_id, text, pending_msg_id)))
        return False

    async def reach_cabin(self, cabin_id: str, message: wire.Message) -> bool:
        """To the cabin wherever it is (sent as a pending prescription or advice); whether a
        replica held it."""
        text = wire.encode(message).decode("utf-8")
        deliver = Deliver(Audience.CABIN, cabin_id, text, message.msg_id)
        if self.deliver_here(deliver):
            return True
        reached: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if not self._queue(_Forward(deliver, reached)):
            return False
        try:
            async with asyncio.timeout(REACH_WAIT_S):
                return await asyncio.shield(reached) > 0
        except TimeoutError:
            return False

    def to_doctor(self, doctor: str, message: wire.Message, *, but: Peer | None = None) -> int:
        """To every console of the doctor, here and on the other replicas; how many here."""
        text = wire.encode(message).decode("utf-8")
        sent = self._doctor_here(doctor, text, but=but)
        self._queue(_Forward(Deliver(Audience.DOCTOR, doctor, text)))
        return sent

    def to_agents(self, cabin_id: str, message: wire.Message) -> int:
        """To every agent page of the agents who look after the cabin, here and elsewhere;
        how many here."""
        text = wire.encode(message).decode("utf-8")
        sent = self._agents_here(cabin_id, text)
        self._queue(_Forward(Deliver(Audience.AGENTS, cabin_id, text)))
        return sent

    def to_all_consoles(self, message: wire.Message) -> set[str]:
        """To every console, here and elsewhere; the doctors reached here."""
        text = wire.encode(message).decode("utf-8")
        doctors = self._all_consoles_here(text)
        self._queue(_Forward(Deliver(Audience.CONSOLES, "", text)))
        return doctors

    def consoles_here(self, message: wire.Message) -> None:
        """To every console of this replica only (the waiting room: each replica sends its
        own view)."""
        self._all_consoles_here(wire.encode(message).decode("utf-8"))

    def deliver_here(self, deliver: Deliver) -> bool:
        """To the sockets of this replica; whether there was one."""
        match deliver.audience:
            case Audience.CABIN:
                peer = self.cabins.get(deliver.who)
                if peer is None:
                    return False
                peer.send_encoded(deliver.text)
                return True
            case Audience.DOCTOR:
                return self._doctor_here(deliver.who, deliver.text) > 0
            case Audience.AGENTS:
                return self._agents_here(deliver.who, deliver.text) > 0
            case Audience.CONSOLES:
                return bool(self._all_consoles_here(deliver.text))

    def _doctor_here(self, doctor: str, text: str, *, but: Peer | None = None) -> int:
        peers = [p for p in self.consoles.get(doctor, ()) if p is not but]
        for peer in peers:
            peer.send_encoded(text)
        return len(peers)

    def _agents_here(self, cabin_id: str, text: str) -> int:
        peers = [peer for peer, scope in self.agents.items() if scope.covers(cabin_id)]
        for peer in peers:
            peer.send_encoded(text)
        return len(peers)

    def _all_consoles_here(self, text: str) -> set[str]:
        for peers in self.consoles.values():
            for peer in peers:
                peer.send_encoded(text)
        return {doctor for doctor, peers in self.consoles.items() if peers}

    # --- who holds whom, kept a moment -----------------------------------------------------

    def saw(self, signal: Signal) -> None:
        """A signal from another replica: what it says of who holds whom."""
        match signal:
            case PeerReplaced():
                self._announce(HeldKind.CABIN, signal.cabin_id, signal.replica, only=True)
            case ConsoleHere():
                self._announce(HeldKind.CONSOLE, signal.doctor, signal.replica, only=False)
            case CabinAway():
                self._holders.pop((HeldKind.CABIN, signal.cabin_id), None)
                self._announced.pop((HeldKind.CABIN, signal.cabin_id), None)
            case _:
                pass

    def announced_elsewhere(self, kind: HeldKind, who: str) -> bool:
        """Whether another replica said, a moment ago, that it holds `who` (its signal can come
        before its word reaches the cluster)."""
        announced = self._announced.get((kind, who))
        return announced is not None and announced.expires > asyncio.get_running_loop().time()

    def forget_holders(self) -> None:
        """Ask the cluster again for everyone (it was down or reconnected: signals may have
        been lost)."""
        self._holders.clear()
        self._announced.clear()

    def _announce(self, kind: HeldKind, who: str, replica: str, *, only: bool) -> None:
        """`replica` holds `who` from now on (`only`: and no other does: a cabin's newer
        socket replaces the older ones)."""
        key = (kind, who)
        expires = asyncio.get_running_loop().time() + HOLDERS_TTL_S
        kept = self._holders.get(key)
        if only:
            self._holders[key] = _Holders(expires, {replica})
        elif kept is not None:
            kept.replicas.add(replica)
        announced = self._announced.get(key)
        if announced is None or only:
            self._announced[key] = _Holders(expires, {replica})
        else:
            announced.replicas.add(replica)
            announced.expires = expires

    async def _holders_of(self, kind: HeldKind, who: str) -> set[str]:
        """The replicas that hold a socket of `who`: kept a moment, else asked of the cluster
        (`ClusterDown` if it cannot say)."""
        key = (kind, who)
        now = asyncio.get_running_loop().time()
        kept = self._holders.get(key)
        if kept is not None and kept.expires > now:
            return kept.replicas
        replicas = set(await self._cluster.holders(kind, who))
        announced = self._announced.pop(key, None)
        if announced is not None and announced.expires > now:
            replicas |= announced.replicas
        if len(self._holders) >= HOLDERS_KEPT:
            self._holders = {k: v for k, v in self._holders.items() if v.expires > now}
            self._announced = {k: v for k, v in self._announced.items() if v.expires > now}
        self._holders[key] = _Holders(now + HOLDERS_TTL_S, replicas)
        return replicas

    # --- to the other replicas --------------------------------------------------------------

    def signal(self, signal: Signal, *, to: str | None = None) -> None:
        """A signal to one replica or every other (never blocks; may be lost)."""
        self._cluster.send(encode_signal(signal), to=to)

    def _queue(self, item: _Forward) -> bool:
        if self._forwarder is None or self._forwarder.done():  # not started, or stopped
            if item.reached is not None:
                item.reached.set_result(0)
            return False
        try:
            self._outbox.put_nowait(item)
        except asyncio.QueueFull:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 1000 == 0:
                log.warning("hub.forward_dropped count=%d", self._dropped)
            if item.reached is not None:
                item.reached.set_result(0)
            return False
        return True

    async def _forward(self) -> None:
        """The ordered path: one message at a time, in the order given."""
        loop = asyncio.get_running_loop()
        while True:
            item = await self._outbox.get()
            reached = 0
            try:
                asks = item.deliver.audience in (Audience.CABIN, Audience.DOCTOR)
                if not asks or loop.time() >= self._down_until:
                    reached = await self._forward_one(item.deliver)
            except ClusterDown as exc:
                log.warning("hub.cluster_down task=forward error=%s", log_safe(exc))
                self._down_until = loop.time() + DOWN_PAUSE_S
                self.forget_holders()
            except Exception:  # a bug here must not stop every forward after it
                log.exception("hub.forward_failed audience=%s", item.deliver.audience.value)
            finally:
                if item.reached is not None and not item.reached.done():
                    item.reached.set_result(reached)

    async def _forward_one(self, deliver: Deliver) -> int:
        payload = encode_signal(deliver)
        match deliver.audience:
            case Audience.CABIN | Audience.DOCTOR:
                kind = HeldKind.CABIN if deliver.audience is Audience.CABIN else HeldKind.CONSOLE
                others = await self._holders_of(kind, deliver.who) - {self.replica_id}
                for replica in sorted(others):
                    self._cluster.send(payload, to=replica)
                return len(others)
            case Audience.AGENTS | Audience.CONSOLES:
                self._cluster.send(payload)
                return 1

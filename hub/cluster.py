"""What the hub's replicas share besides the database: who holds which socket, signals from one
replica to another, counters for rate limits, and small values that expire.

One hub process uses `LocalCluster`, in memory: no Redis. A fleet's replicas use
`hub.redis_cluster.RedisCluster`, the same interface over Redis (the configuration's
``[cluster]`` table chooses: `hub.redis_cluster.cluster_from_config`). The switchboard sees
only `Cluster`.

Every method that asks the shared store (`holders`, `replicas`, `hit`, `put`, `get`,
`delete`, `claim`, `check`) raises `ClusterDown` when it cannot be reached, within a bounded
time; the caller decides what that means (a rate limit may let a request through, `/readyz`
fails). `send`, `hold` and `release` never raise nor wait.

Signals are opaque bytes here (the switchboard encodes them). They are delivered at most once,
in the order they were sent from one replica: a signal can be lost (Redis restarted, the link
dropped), so the receiver must never depend on one. `start`'s `resync` is called on every
(re)connection, and the switchboard re-reads the truth (the database) then, and on a timer.

Presence is kept with heartbeats: each replica writes what it holds, with an expiry a few
heartbeats long, so the sockets of a replica that died (``kill -9``) are forgotten within
`PRESENCE_TTL_S` without anyone cleaning up after it.
"""

from __future__ import annotations

import enum
import time
import uuid
from collections.abc import Callable
from typing import Protocol

PRESENCE_TTL_S = 5.0
"""How long a replica's word that it holds a socket lasts without a heartbeat (it beats three
times in that time): a dead replica's sockets are forgotten this long after its death."""


class HeldKind(enum.StrEnum):
    """What kind of socket a replica holds (the switchboard's `PeerKind`, by value)."""

    CABIN = "cabin"
    CONSOLE = "console"
    AGENT = "agent"


class ClusterDown(Exception):
    """The shared store cannot be reached (Redis down): `/readyz` says so."""


def new_replica_id() -> str:
    """A replica's id, new at each start (a restarted replica is another replica)."""
    return uuid.uuid4().hex[:12]


class Cluster(Protocol):
    @property
    def replica_id(self) -> str: ...

    async def start(self, receive: Callable[[bytes], None], resync: Callable[[], None]) -> None:
        """Begin receiving signals (`receive`, on the event loop, never this replica's own).
        `resync` is called once receiving works, and again after every reconnection: signals
        sent in between may be lost, re-read the truth. Over Redis, a Redis down at start does
        not fail it (the link keeps trying, `check` says so, `resync` comes once it is up);
        a Redis refusing the password raises `ClusterDown`."""
        ...

    async def stop(self) -> None:
        """Stop receiving and beating; forget what this replica holds (others see it at once)."""
        ...

    def send(self, payload: bytes, *, to: str | None = None) -> None:
        """Send a signal to the replica `to`, or to every other replica (None). Never blocks and
        never raises: signals from this replica go out in order, and one that cannot be sent
        (the link is down) is dropped and logged. A replica never receives its own signals."""
        ...

    # --- presence ---------------------------------------------------------------------------

    def hold(self, kind: HeldKind, who: str) -> None:
        """This replica holds a socket of `who` (a cabin id, a doctor's or an agent's username)
        from now on, until `release`. Idempotent."""
        ...

    def release(self, kind: HeldKind, who: str) -> None:
        """This replica holds no socket of `who` any more."""
        ...

    async def holders(self, kind: HeldKind, who: str) -> frozenset[str]:
        """The live replicas (this one included) that hold a socket of `who`. This replica's
        own `hold`/`release` count at once, even before they reach the shared store."""
        ...

    async def replicas(self) -> frozenset[str]:
        """The replicas alive now (this one included)."""
        ...

    # --- shared counters and values ------------------------------------------------------------

    async def hit(self, key: str, *, window_s: float, cost: int = 1) -> int:
        """Add `cost` to the counter `key` in the current window of `window_s` (a fixed
        window, aligned on the clock); the count in that window after this hit."""
        ...

    async def put(self, key: str, value: bytes, *, ttl_s: float) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def delete(self, key: str) -> None: ...

    async def claim(self, key: str, *, ttl_s: float) -> bool:
        """True for exactly one caller across the replicas until `ttl_s` has passed (a job
        done once: a reminder, an escalation's notice)."""
        ...

    async def check(self) -> None:
        """Raise `ClusterDown` if the shared store cannot be reached now."""
        ...


SWEEP_EVERY_S = 60.0
"""How often `LocalCluster` forgets the counters of past windows and the expired values of keys
nobody asked for again (a rate limit per client address would grow without end)."""


class LocalCluster:
    """One process: everything in memory, no other replica, signals go nowhere."""

    def __init__(self, replica_id: str | None = None) -> None:
        self._replica_id = replica_id or new_replica_id()
        self._held: dict[tuple[HeldKind, str], None] = {}
        self._counters: dict[tuple[str, int], tuple[int, int]] = {}
        """(key, window in ms) -> (the window's number, its count)."""
        self._values: dict[str, tuple[bytes, float]] = {}
        self._swept_at = time.monotonic()

    @property
    def replica_id(self) -> str:
        return self._replica_id

    async def start(self, receive: Callable[[bytes], None], resync: Callable[[], None]) -> None:
        resync()

    async def stop(self) -> None:
        self._held.clear()

    def send(self, payload: bytes, *, to: str | None = None) -> None:
        return

    def hold(self, kind: HeldKind, who: str) -> None:
        self._held[(kind, who)] = None

    def release(self, kind: HeldKind, who: str) -> None:
        self._held.pop((kind, who), None)

    async def holders(self, kind: HeldKind, who: str) -> frozenset[str]:
        return frozenset({self._replica_id}) if (kind, who) in self._held else frozenset()

    async def replicas(self) -> frozenset[str]:
        return frozenset({self._replica_id})

    async def hit(self, key: str, *, window_s: float, cost: int = 1) -> int:
        window_ms = _positive_ms(window_s)
        window = time.time_ns() // 1_000_000 // window_ms
        self._sweep()
        current, count = self._counters.get((key, window_ms), (window, 0))
        count = (count if current == window else 0) + cost
        self._counters[(key, window_ms)] = (window, count)
        return count

    async def put(self, key: str, value: bytes, *, ttl_s: float) -> None:
        self._sweep()
        self._values[key] = (value, time.monotonic() + _positive_ms(ttl_s) / 1000)

    async def get(self, key: str) -> bytes | None:
        stored = self._values.get(key)
        if stored is None:
            return None
        if stored[1] <= time.monotonic():
            del self._values[key]
            return None
        return stored[0]

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)

    async def claim(self, key: str, *, ttl_s: float) -> bool:
        if await self.get(key) is not None:
            return False
        await self.put(key, b"1", ttl_s=ttl_s)
        return True

    async def check(self) -> None:
        return

    def _sweep(self) -> None:
        monotonic = time.monotonic()
        if monotonic - self._swept_at < SWEEP_EVERY_S:
            return
        self._swept_at = monotonic
        now_ms = time.time_ns() // 1_000_000
        for (key, window_ms), (window, _) in list(self._counters.items()):
            if window != now_ms // window_ms:
                del self._counters[(key, window_ms)]
        for key, (_, expires_at) in list(self._values.items()):
            if expires_at <= monotonic:
                del self._values[key]


def _positive_ms(seconds: float) -> int:
    """A duration in whole milliseconds (at least one), as Redis takes it."""
    if seconds <= 0:
        raise ValueError(f"a duration must be positive (given {seconds} s)")
    return max(1, round(seconds * 1000))

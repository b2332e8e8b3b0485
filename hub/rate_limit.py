"""Limits on attempts per key (a client address): a sliding window in memory, and the same limit
counted across a fleet's replicas."""

from __future__ import annotations

import logging
import math
from collections import deque

from hub.clock import Clock
from hub.cluster import Cluster, ClusterDown
from hub.log_safe import log_safe

log = logging.getLogger(__name__)

_KEYS_KEPT = 50_000


class SlidingWindowLimit:
    """At most `limit` attempts per key within any `window_s` seconds."""

    def __init__(self, *, limit: int, window_s: float, clock: Clock) -> None:
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._attempts: dict[str, deque[float]] = {}

    def attempt(self, key: str) -> float | None:
        """Count an attempt; None if it is allowed, else the seconds to wait before the next."""
        now = self._clock.monotonic()
        attempts = self._attempts.get(key)
        if attempts is None:
            if len(self._attempts) >= _KEYS_KEPT:
                self._forget_idle(now)
            attempts = self._attempts.setdefault(key, deque())
        while attempts and attempts[0] <= now - self._window_s:
            attempts.popleft()
        if len(attempts) >= self._limit:
            return max(1.0, math.ceil(attempts[0] + self._window_s - now))
        attempts.append(now)
        return None

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, v in self._attempts.items() if not v or v[-1] <= now - self._window_s]:
            del self._attempts[key]
        while len(self._attempts) >= _KEYS_KEPT:
            del self._attempts[next(iter(self._attempts))]


class FleetLimit:
    """`SlidingWindowLimit` on this replica, and the same limit counted by every replica
    together (`Cluster.hit`, a fixed window): a client that the proxy spreads over the replicas
    gets no more attempts than from one hub. The cluster unreachable: this replica's own limit
    still holds (and the fault is logged). `cluster` None: one hub, its own limit is all."""

    def __init__(
        self, name: str, *, limit: int, window_s: float, clock: Clock, cluster: Cluster | None
    ) -> None:
        self._name = name
        self._limit = limit
        self._window_s = window_s
        self._clock = clock
        self._cluster = cluster
        self._local = SlidingWindowLimit(limit=limit, window_s=window_s, clock=clock)

    async def attempt(self, key: str) -> float | None:
        """Count an attempt; None if it is allowed, else the seconds to wait before the next."""
        wait = self._local.attempt(key)
        if wait is not None or self._cluster is None:
            return wait
        try:
            count = await self._cluster.hit(
                f"hub:limit:{self._name}:{key}", window_s=self._window_s
            )
        except ClusterDown as exc:
            log.warning("hub.cluster_down task=%s_limit error=%s", self._name, log_safe(exc))
            return None
        if count <= self._limit:
            return None
        now = self._clock.now().timestamp()
        return max(1.0, math.ceil(self._window_s - now % self._window_s))

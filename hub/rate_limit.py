"""A sliding-window limit on attempts per key (a client address), in memory."""

from __future__ import annotations

import math
from collections import deque

from hub.clock import Clock

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

"""The real hub on its own asyncio loop in a background thread, for the browser tests.

Playwright's sync API owns the test's thread; the hub, the scripted cabins and the aiortc peer
run on this loop, reached with `HubThread.run(coroutine)`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from hub.app import RunningHub, load_hub_config, start_hub
from tests.hub.hub_key import TEST_KEY

T = TypeVar("T")


class HubThread:
    """An event loop in a daemon thread, and the hub started on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="hub-loop", daemon=True)
        self._thread.start()
        self.hub: RunningHub | None = None

    def run(self, coroutine: Coroutine[Any, Any, T], timeout_s: float = 30.0) -> T:
        """Run `coroutine` on the hub's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout_s)

    def start_hub(self, data_dir: Path) -> RunningHub:
        """Start the hub on a free loopback port, with the test suite's cheap password hash."""
        config = load_hub_config(
            None,
            data_dir=data_dir,
            # Every console test signs in from 127.0.0.1 on this one hub, more than the default
            # 20 times a minute once they run quickly one after the other (the limit per address
            # is tested in tests/hub).
            overrides={
                "host": "127.0.0.1",
                "port": 0,
                "argon2_cost": "test",
                "login_attempts_per_minute": 1000,
            },
        )
        self.hub = self.run(start_hub(config, key=TEST_KEY))
        return self.hub

    def close(self) -> None:
        if self.hub is not None:
            hub, self.hub = self.hub, None
            self.run(hub.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

"""Whether a patient can reach a doctor now, as the idle screen tells them.

A doctor is reached through the hub. Rural links fail for hours or days; a cabin whose hub is
away must say so before a patient sits down, not once they have measured everything and wait
in an empty waiting room. But a link also blinks for a few seconds (a 1012 rolling restart, a
router's hiccup), and a screen that flashes "unavailable" at each blink frightens people for
nothing: the notice comes once the link has been down for the grace (``[hub]
offline_notice_after_s``, 60 s by default), or that long after the start when the link never
came up (a cabin without a hub credential included).

When the cabin last had the hub is shown with the notice ("Last connection: today at 14:05"). It
is kept in the store's ``cabin_state`` (``hub_last_seen``) so that it survives a restart: written
when the link comes up, while it is up (every ``REFRESH_S``: a power cut loses at most that), and
when it goes down. The grace runs on the session's clock (monotonic; the tests' own).

Nothing here stops what needs no hub: the instruments, the printer, the panic button, distress
alerts (kept locally, and sent when the hub is back), the assistant mode and the records (the
outbox) go on. This module only says what the screen should say.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from devices.cancellation import cancel_and_wait
from kiosk.bus import EventBus
from kiosk.errors import StoreError
from kiosk.events import DoctorServiceChanged
from kiosk.session import Clock
from kiosk.store import AsyncStore, Store

log = logging.getLogger(__name__)

HUB_LAST_SEEN: Final = "hub_last_seen"
"""The ``cabin_state`` key: when the cabin last had the hub (ISO 8601, UTC)."""
REFRESH_S: Final = 60.0
POLL_S: Final = 0.25
ONLINE: Final = "online"  # HubLinkState.ONLINE's value (the link's module loads with aiohttp)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DoctorService:
    """Follows the hub link's state; publishes `DoctorServiceChanged` when patients can no longer
    (or can again) reach a doctor. Open it with `open` (reads when the hub was last seen)."""

    def __init__(
        self,
        bus: EventBus,
        store: AsyncStore,
        clock: Clock,
        *,
        grace_s: float,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._bus = bus
        self._store = store
        self._clock = clock
        self._grace_s = grace_s
        self._now = now
        self._online = False
        self._down_since: float | None = clock.monotonic()  # at start: not up yet
        self._written_at: float | None = None
        self._reachable = True  # until the grace says otherwise
        self.last_seen: datetime | None = None
        self._task: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[None]] = set()
        self._closed = False

    @classmethod
    async def open(
        cls,
        bus: EventBus,
        store: AsyncStore,
        clock: Clock,
        *,
        grace_s: float,
        now: Callable[[], datetime] = _utcnow,
    ) -> DoctorService:
        service = cls(bus, store, clock, grace_s=grace_s, now=now)
        text = await store.run(Store.cabin_state_get, HUB_LAST_SEEN)
        if text is not None:
            try:
                service.last_seen = datetime.fromisoformat(text)
            except ValueError:
                log.warning("doctor_service.last_seen_unreadable")
        return service

    @property
    def reachable(self) -> bool:
        """False once the hub has been away for the grace."""
        return self._reachable

    def start(self) -> None:
        """Check the grace a few times a second (an owned task, ended by `aclose`)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._watch(), name="doctor_service"
            )

    def link_state_changed(self, state: str) -> None:
        """The hub link's new state (``HubLinkState.value``)."""
        online = state == ONLINE
        if online is self._online:
            return
        self._online = online
        self._remember()  # up now, or up until now
        if online:
            self._down_since = None
            log.info("doctor_service.hub_back")
            self._set(reachable=True)
        else:
            self._down_since = self._clock.monotonic()
            log.info("doctor_service.hub_lost grace_s=%.0f", self._grace_s)

    def poll(self) -> None:
        """Apply the grace; while online, keep the moment last seen fresh in the store."""
        now = self._clock.monotonic()
        if self._online:
            if self._written_at is None or now - self._written_at >= REFRESH_S:
                self._remember()
            return
        if self._down_since is not None and now - self._down_since >= self._grace_s:
            self._set(reachable=False)

    def _set(self, *, reachable: bool) -> None:
        if reachable is self._reachable:
            return
        self._reachable = reachable
        if not reachable:
            log.warning(
                "doctor_service.unavailable last_seen=%s",
                "never" if self.last_seen is None else self.last_seen.isoformat(),
            )
        self._bus.publish(DoctorServiceChanged(reachable, self.last_seen))

    def _remember(self) -> None:
        if self._closed:
            return
        self.last_seen = self._now()
        self._written_at = self._clock.monotonic()
        task = asyncio.get_running_loop().create_task(self._write(self.last_seen))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, moment: datetime) -> None:
        try:
            await self._store.run(
                Store.cabin_state_set, HUB_LAST_SEEN, moment.astimezone(UTC).isoformat(), moment
            )
        except StoreError as exc:  # a full disk: the screen still says it, from memory
            log.error("doctor_service.last_seen_not_kept error=%s", exc)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(POLL_S)
            self.poll()

    async def aclose(self) -> None:
        """Stop watching; the last writes are finished before the store closes."""
        self._closed = True
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        if self._writes:
            await asyncio.wait(tuple(self._writes))

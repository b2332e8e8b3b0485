"""Takes the consultation records from the store's outbox to the hub, until it acknowledges.

The outbox is in the encrypted store, so a record survives a hub down for days, a cut network
and a ``kill -9`` of the cabin. Records leave one at a time, oldest first; each waits for the
hub's ``RecordAck`` naming it. No acknowledgement in time, or no hub: the record is tried again
later, each time a little later (capped); the hub keeps each record once, so a record sent again
after a crash between the hub's storing and the cabin's noting is harmless. A record the hub
refuses (malformed) stays, and is retried rarely: it is never dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Final

import msgspec

import wire
from devices.cancellation import cancel_and_wait, within
from kiosk.errors import HubError, StoreError
from kiosk.hub_link import HubLink, HubLinkState
from kiosk.store import AsyncStore, OutboxItem, Store

log = logging.getLogger(__name__)

RETRY_S: Final = (5.0, 15.0, 60.0, 300.0, 900.0)
REFUSED_RETRY_S: Final = 3600.0
ACK_TIMEOUT_S: Final = 20.0
IDLE_CHECK_S: Final = 30.0


class RecordSender:
    def __init__(
        self,
        store: AsyncStore,
        hub: HubLink,
        *,
        retry_s: tuple[float, ...] = RETRY_S,
        ack_timeout_s: float = ACK_TIMEOUT_S,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._hub = hub
        self._retry_s = retry_s
        self._ack_timeout_s = ack_timeout_s
        self._now = now
        self._wake = asyncio.Event()
        self._waiting: dict[str, asyncio.Future[wire.Message]] = {}  # record_id -> reply
        self._msg_records: dict[str, str] = {}  # msg_id -> record_id, to match an ErrorMessage
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.acknowledged = 0
        self.on_acknowledged: list[Callable[[wire.RecordUpload], None]] = []
        """Told of each record the hub acknowledged (the scripted demo keeps a copy)."""

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def wake(self) -> None:
        """A record was filed, or the hub is back: look at the outbox now."""
        self._wake.set()

    def hub_state_changed(self, state: HubLinkState) -> None:
        if state is HubLinkState.ONLINE:
            self.wake()

    def handle(self, message: wire.Message) -> bool:
        """The hub's reply to a record (True: it was one, and is taken)."""
        if isinstance(message, wire.RecordAck):
            future = self._waiting.get(message.record_id)
        elif isinstance(message, wire.ErrorMessage) and message.in_reply_to in self._msg_records:
            future = self._waiting.get(self._msg_records[message.in_reply_to or ""])
        else:
            return False
        if future is not None and not future.done():
            future.set_result(message)
        return True

    async def aclose(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.send_due()
            except StoreError as exc:
                log.error("records.outbox_unreadable error=%s", exc)
            with contextlib.suppress(TimeoutError):  # no news: look at the outbox again anyway
                await within(self._wake.wait(), IDLE_CHECK_S)
            self._wake.clear()

    async def send_due(self) -> int:
        """Send what is due, one at a time, while the hub is there; how many were acked."""
        acked = 0
        while self._hub.state is HubLinkState.ONLINE:
            due = await self._store.run(Store.due_outbox, 10)
            records = [item for item in due if item.kind == "record"]
            if not records:
                break
            for item in records:
                if not await self._send_one(item):
                    return acked  # the hub is gone or slow: the next wake-up tries again
                acked += 1
        return acked

    async def _send_one(self, item: OutboxItem) -> bool:
        try:
            stored = wire.decode(item.payload, allowed=wire.RecordUpload)
        except wire.WireError as exc:
            log.error("records.outbox_item_unreadable key=%s error=%s", item.key, exc)
            await self._store.run(
                Store.outbox_failed, item.key, "unreadable", self._later(REFUSED_RETRY_S)
            )
            return True
        assert isinstance(stored, wire.RecordUpload)
        message = msgspec.structs.replace(stored, msg_id=self._hub.new_id("rec"))
        future: asyncio.Future[wire.Message] = asyncio.get_running_loop().create_future()
        self._waiting[stored.record_id] = future
        self._msg_records[message.msg_id] = stored.record_id
        try:
            await self._hub.send(message)
            self.sent += 1
            reply = await within(future, self._ack_timeout_s)
        except (TimeoutError, HubError) as exc:
            retry = self._retry_s[min(item.attempts, len(self._retry_s) - 1)]
            log.warning(
                "records.not_acknowledged consultation=%s attempts=%d retry_in_s=%.0f error=%s",
                stored.consultation_id,
                item.attempts + 1,
                retry,
                type(exc).__name__,
            )
            await self._store.run(Store.outbox_failed, item.key, "no ack", self._later(retry))
            return False
        finally:
            self._waiting.pop(stored.record_id, None)
            self._msg_records.pop(message.msg_id, None)
        if isinstance(reply, wire.ErrorMessage):
            log.error(
                "records.refused_by_hub consultation=%s code=%s",
                stored.consultation_id,
                reply.code.value,
            )
            await self._store.run(
                Store.outbox_failed,
                item.key,
                f"refused: {reply.code.value}",
                self._later(REFUSED_RETRY_S),
            )
            return True
        await self._store.run(Store.outbox_acknowledged, item.key)
        self.acknowledged += 1
        for listener in self.on_acknowledged:
            listener(stored)
        duplicate = isinstance(reply, wire.RecordAck) and reply.duplicate
        log.info(
            "records.acknowledged consultation=%s duplicate=%s",
            stored.consultation_id,
            duplicate,
        )
        return True

    def _later(self, seconds: float) -> datetime:
        return self._now() + timedelta(seconds=seconds)

"""A typed, in-process event bus.

Subscribers name the event type they want and get exactly that type (``bus.subscribe(
ReadingReceived, handler)``); mypy checks the handler's signature. Delivery is synchronous and
in subscription order, on the publisher's thread (the Qt/asyncio main thread), so a handler must
be quick; slow work is for an async stream (``bus.stream(...)``), which queues events for a task.
A failing handler is logged and does not stop the others: one broken screen must not silence
an alert.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from kiosk.events import Event

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)


class Subscription:
    """A registered handler; ``cancel()`` removes it (idempotent)."""

    def __init__(self, bus: EventBus, event_type: type[Any], handler: Callable[[Any], None]):
        self._bus = bus
        self._event_type = event_type
        self._handler = handler

    def cancel(self) -> None:
        self._bus._remove(self._event_type, self._handler)


class EventStream(AsyncIterator[E]):
    """Events of one type queued for an asyncio task. A full queue drops the oldest event and
    counts it (``dropped``), so a stalled consumer never blocks the publisher."""

    def __init__(self, bus: EventBus, event_type: type[E], maxsize: int) -> None:
        self._queue: asyncio.Queue[E] = asyncio.Queue(maxsize)
        self.dropped = 0
        self._subscription = bus.subscribe(event_type, self._put)

    def _put(self, event: E) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    def __aiter__(self) -> EventStream[E]:
        return self

    async def __anext__(self) -> E:
        return await self._queue.get()

    def close(self) -> None:
        self._subscription.cancel()


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[type[Any], list[Callable[[Any], None]]] = {}

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> Subscription:
        self._handlers.setdefault(event_type, []).append(handler)
        return Subscription(self, event_type, handler)

    def stream(self, event_type: type[E], maxsize: int = 256) -> EventStream[E]:
        return EventStream(self, event_type, maxsize)

    def publish(self, event: Event) -> None:
        for handler in tuple(self._handlers.get(type(event), ())):
            try:
                handler(event)
            except Exception:
                log.exception("bus.handler_failed event=%s", type(event).__name__)

    def _remove(self, event_type: type[Any], handler: Callable[[Any], None]) -> None:
        handlers = self._handlers.get(event_type, [])
        if handler in handlers:
            handlers.remove(handler)

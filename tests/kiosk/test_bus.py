"""The event bus: typed delivery, isolation of a failing subscriber, async streams."""

from __future__ import annotations

import asyncio
import logging

import pytest

from devices.cancellation import within
from devices.instrument import Availability
from kiosk.bus import EventBus
from kiosk.events import AlertCleared, DeviceStatusChanged


def status(device: str) -> DeviceStatusChanged:
    return DeviceStatusChanged(device, Availability.CONNECTED, battery_percent=80)


def test_subscribers_get_only_their_type_in_order() -> None:
    bus = EventBus()
    seen: list[str] = []
    bus.subscribe(DeviceStatusChanged, lambda e: seen.append(f"a:{e.device_id}"))
    bus.subscribe(DeviceStatusChanged, lambda e: seen.append(f"b:{e.device_id}"))
    bus.subscribe(AlertCleared, lambda e: seen.append("alert"))
    bus.publish(status("bp-1"))
    assert seen == ["a:bp-1", "b:bp-1"]


def test_a_failing_subscriber_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    seen: list[DeviceStatusChanged] = []

    def broken(_: DeviceStatusChanged) -> None:
        raise RuntimeError("screen broke")

    bus.subscribe(DeviceStatusChanged, broken)
    bus.subscribe(DeviceStatusChanged, seen.append)
    with caplog.at_level(logging.ERROR):
        bus.publish(status("bp-1"))
    assert len(seen) == 1
    assert "bus.handler_failed event=DeviceStatusChanged" in caplog.text


def test_cancel_stops_delivery_and_is_idempotent() -> None:
    bus = EventBus()
    seen: list[DeviceStatusChanged] = []
    subscription = bus.subscribe(DeviceStatusChanged, seen.append)
    subscription.cancel()
    subscription.cancel()
    bus.publish(status("bp-1"))
    assert seen == []


def test_a_handler_may_unsubscribe_while_being_called() -> None:
    bus = EventBus()
    seen: list[str] = []
    holder: list[object] = []

    def once(event: DeviceStatusChanged) -> None:
        seen.append(event.device_id)
        holder[0].cancel()  # type: ignore[attr-defined]

    holder.append(bus.subscribe(DeviceStatusChanged, once))
    bus.subscribe(DeviceStatusChanged, lambda e: seen.append("other"))
    bus.publish(status("x"))
    bus.publish(status("y"))
    assert seen == ["x", "other", "other"]


def test_a_stream_queues_for_a_task_and_drops_the_oldest_when_full() -> None:
    async def scenario() -> None:
        bus = EventBus()
        stream = bus.stream(DeviceStatusChanged, maxsize=2)
        for device in ("a", "b", "c"):
            bus.publish(status(device))
        assert stream.dropped == 1
        assert (await anext(stream)).device_id == "b"
        assert (await anext(stream)).device_id == "c"
        stream.close()
        bus.publish(status("d"))
        with pytest.raises(TimeoutError):
            await within(anext(stream), 0.05)

    asyncio.run(scenario())

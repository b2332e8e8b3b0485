"""In-process tests of what tests/fleet/test_guarantees.py found across real processes:

- a cabin told its call is over, through another replica, joins with its next patient at once,
  even before its own replica has re-read that the call ended (the signal late, or lost);
- a record the database cannot store is neither answered with an error (the cabin would shelve
  it for an hour, or forget it) nor lost: the cabin's socket is closed with 1013 ("try again
  later"), the cabin keeps the record, sends it again once connected, and it is stored once;
  the same for any other message of a cabin, and for its hello.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import wire
from fleet.servers import RedisServer, redis
from hub.errors import StorageError
from hub.record_intake import TRY_AGAIN_LATER
from tests.hub.hub_rig import Peer, new_id, patient, running_hub, vital
from tests.hub.test_record_forgery import send, upload
from tests.hub.test_replicas import two_replicas


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


def test_a_cabin_joins_its_next_patient_at_once_after_a_call_ended_through_another_replica(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async def scenario() -> None:
        async with two_replicas(tmp_path, redis_server) as (a, b):
            reread = a.switchboard.queue.reread

            async def never(consultation_id: str | None = None) -> None:
                """A's signals to re-read are lost (Redis pub/sub delivers at most once)."""

            cabin = await a.cabin()
            console = await (await b.login("dr.a")).console()
            await a.join(cabin, "c-1")
            await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1"))
            await console.expect(wire.CallAccepted)
            await cabin.expect(wire.CallAccepted)
            await a.switchboard.queue.reread("c-1")  # A knows the call
            assert a.switchboard.calls.get("c-1") is not None
            a.switchboard.queue.reread = never  # type: ignore[method-assign]
            try:
                await console.send(
                    wire.CallEnd(
                        msg_id=new_id(),
                        consultation_id="c-1",
                        reason=wire.CallEndReason.COMPLETED,
                    )
                )
                assert (await cabin.expect(wire.CallEnd)).consultation_id == "c-1"
                await a.join(cabin, "c-2")  # acknowledged, not refused for c-1
            finally:
                a.switchboard.queue.reread = reread  # type: ignore[method-assign]
            assert a.switchboard.calls.get("c-1") is None
            assert "c-2" in a.switchboard.room and "c-1" not in a.switchboard.room

    asyncio.run(scenario())


def test_a_record_the_database_cannot_store_is_sent_again_by_the_cabin_and_stored_once(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            storage = rig.hub.storage
            add_record = storage.add_record

            async def unreachable(*args: Any, **kwargs: Any) -> bool:
                raise StorageError("the database cannot be reached (a test's fault)")

            record = upload(
                "c-earlier", who=patient(), started_at=datetime.now(UTC) - timedelta(days=1)
            )
            cabin = await rig.cabin()
            storage.add_record = unreachable  # type: ignore[method-assign]
            try:
                await cabin.send(record)
                assert await cabin.closed() == TRY_AGAIN_LATER
                assert not [m for m in cabin.seen if isinstance(m, wire.ErrorMessage)]
            finally:
                storage.add_record = add_record  # type: ignore[method-assign]
            again = await rig.cabin()
            stored = await send(again, record)
            assert isinstance(stored, wire.RecordAck) and not stored.duplicate
            twice = await send(again, record)
            assert isinstance(twice, wire.RecordAck) and twice.duplicate

    asyncio.run(scenario())


def test_a_cabin_whose_message_or_hello_meets_an_unreachable_database_is_told_to_come_back(
    tmp_path: Path,
) -> None:
    """No error in reply (the cabin's link drops a message the hub refused): the socket closes
    with "try again later", and what the cabin sends again once the database answers is
    stored once."""

    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            storage = rig.hub.storage
            consultation, cabin_of = storage.consultation, storage.cabin
            add_reading = storage.add_reading

            async def unreachable(*args: Any, **kwargs: Any) -> Any:
                raise StorageError("the database cannot be reached (a test's fault)")

            cabin = await rig.cabin()
            await rig.join(cabin, "c-1")
            reading = wire.ReadingMessage(
                msg_id=new_id("r"), consultation_id="c-1", reading=vital()
            )
            # the database is gone: every call to it fails (a call's reading may be checked
            # against the replica's own calls and room, and meet the database only to be stored)
            storage.consultation = unreachable  # type: ignore[method-assign]
            storage.add_reading = unreachable  # type: ignore[method-assign]
            try:
                await cabin.send(reading)
                assert await cabin.closed() == TRY_AGAIN_LATER
                assert not [m for m in cabin.seen if isinstance(m, wire.ErrorMessage)]
            finally:
                storage.consultation = consultation  # type: ignore[method-assign]
                storage.add_reading = add_reading  # type: ignore[method-assign]
            storage.cabin = unreachable  # type: ignore[method-assign]
            try:
                ws = await rig.client().ws_connect(f"{rig.url}/ws/cabin")
                refused = Peer(ws, wire.HubToCabin)
                await refused.send(
                    wire.CabinHello(
                        msg_id=new_id("hello"),
                        cabin_id="cabin-1",
                        token=rig.tokens["cabin-1"],
                        software_version="0.1.0",
                    )
                )
                assert await refused.closed() == TRY_AGAIN_LATER
                assert not refused.seen
            finally:
                storage.cabin = cabin_of  # type: ignore[method-assign]
            again = await rig.cabin(live=["c-1"])
            await again.send(reading)
            assert (await again.expect(wire.Ack)).ack_of == reading.msg_id
            stored = [r.msg_id for r in await storage.readings("c-1")]
            assert stored.count(reading.msg_id) == 1

    asyncio.run(scenario())

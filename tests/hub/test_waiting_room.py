"""The waiting room: joins, places, readings, leaves, a cabin that goes away."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import wire
from hub.storage import ConsultationStatus
from tests.hub.hub_rig import (
    TIMEOUT_S,
    FakeClock,
    new_id,
    patient,
    run,
    running_hub,
    stored_consultation,
    until,
    vital,
)


def test_a_join_reaches_every_console_and_the_cabin_learns_its_place(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            console_a = await (await rig.login("dr.a")).console()
            console_b = await (await rig.login("dr.b")).console()
            first, second = await rig.cabin("cabin-1"), await rig.cabin("cabin-2")

            await rig.join(first, "c-1")
            assert (await first.expect(wire.QueuePosition)).position == 1
            clock.advance(10)
            await rig.join(second, "c-2")
            assert (await second.expect(wire.QueuePosition)).position == 2

            for console in (console_a, console_b):
                room = await console.expect(wire.WaitingRoom)
                while len(room.entries) < 2:
                    room = await console.expect(wire.WaitingRoom)
                assert [e.consultation_id for e in room.entries] == ["c-1", "c-2"]
                entry = room.entries[0]
                assert entry.cabin_id == "cabin-1"
                assert entry.reason == "fièvre"
                assert entry.age_years == 88
                assert entry.sex is wire.Sex.FEMALE
                assert entry.taken_by is None
                assert len(entry.vitals) == 1

            # the first leaves: the second moves up
            leave = wire.QueueLeave(
                msg_id=new_id(), consultation_id="c-1", reason=wire.LeaveReason.CANCELLED
            )
            await first.send(leave)
            assert (await first.expect(wire.Ack)).ack_of == leave.msg_id
            assert (await second.expect(wire.QueuePosition)).position == 1
            room = await console_a.expect(wire.WaitingRoom)
            while len(room.entries) != 1:
                room = await console_a.expect(wire.WaitingRoom)
            assert room.entries[0].consultation_id == "c-2"
            record = await stored_consultation(rig.hub.storage, "c-1")
            assert record is not None and record.status == "left"

    run(scenario())


def test_a_reading_is_stored_once_and_shown_in_the_room(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin = await rig.cabin()
            await rig.join(cabin, "c-1")
            console = await (await rig.login("dr.a")).console()
            reading = wire.ReadingMessage(
                msg_id=new_id("r"), consultation_id="c-1", reading=vital(150, 95)
            )
            for _ in range(2):  # sent again after a reconnection: stored once
                await cabin.send(reading)
                assert (await cabin.expect(wire.Ack)).ack_of == reading.msg_id
            room = await console.expect(wire.WaitingRoom)
            assert [v.systolic_mmhg for v in room.entries[0].vitals] == [132, 150]
            readings = await rig.hub.storage.readings("c-1")
            assert [r.vital.systolic_mmhg for r in readings] == [132, 150]

    run(scenario())


def test_a_cabin_cannot_touch_another_cabins_consultation(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            owner, other = await rig.cabin("cabin-1"), await rig.cabin("cabin-2")
            await rig.join(owner, "c-1")
            reading = wire.ReadingMessage(msg_id=new_id(), consultation_id="c-1", reading=vital())
            await other.send(reading)
            error = await other.expect(wire.ErrorMessage)
            assert error.code is wire.ErrorCode.UNAUTHORIZED
            leave = wire.QueueLeave(
                msg_id=new_id(), consultation_id="c-1", reason=wire.LeaveReason.CANCELLED
            )
            await other.send(leave)
            assert (await other.expect(wire.ErrorMessage)).code is wire.ErrorCode.UNAUTHORIZED
            assert "c-1" in rig.switchboard.room
            # and cannot take its id
            join = wire.QueueJoin(
                msg_id=new_id(),
                consultation_id="c-1",
                language=wire.Language.FR,
                patient=wire.PatientSummary(
                    family_name="X", given_names="Y", birth_date=vital().measured_at.date()
                ),
            )
            await other.send(join)
            assert (await other.expect(wire.ErrorMessage)).code is wire.ErrorCode.CONFLICT

    run(scenario())


def test_an_offline_cabin_keeps_its_place_but_cannot_be_taken(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin = await rig.cabin()
            await rig.join(cabin, "c-1")
            await cabin.close()
            await until(lambda: not rig.switchboard.is_cabin_online("cabin-1"))
            console = await (await rig.login("dr.a")).console()
            take = wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1")
            await console.send(take)
            error = await console.expect(wire.ErrorMessage)
            assert error.code is wire.ErrorCode.UNAVAILABLE
            assert error.in_reply_to == take.msg_id
            assert "c-1" in rig.switchboard.room

            # back within the grace: its place again, and it can be taken
            back = await rig.cabin()
            assert (await back.expect(wire.QueuePosition)).position == 1
            await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1"))
            assert (await console.expect(wire.CallAccepted)).consultation_id == "c-1"

    run(scenario())


def test_a_cabin_away_longer_than_the_grace_loses_its_place(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, cabin_offline_grace_s=0.2) as rig:
            console = await (await rig.login("dr.a")).console()
            cabin = await rig.cabin()
            await rig.join(cabin, "c-1")
            await cabin.close()
            room = await console.expect(wire.WaitingRoom)
            while room.entries:
                room = await console.expect(wire.WaitingRoom)
            assert "c-1" not in rig.switchboard.room
            record = await stored_consultation(rig.hub.storage, "c-1")
            assert record is not None and record.status == "left"

    run(scenario())


def test_a_join_said_again_after_a_reconnection_keeps_the_place(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            cabin = await rig.cabin()
            await rig.join(cabin, "c-1")
            waiting = rig.switchboard.room.get("c-1")
            assert waiting is not None
            joined_at = waiting.joined_at
            await cabin.close()
            clock.advance(30)
            again = await rig.cabin()
            await rig.join(again, "c-1")
            again_waiting = rig.switchboard.room.get("c-1")
            assert again_waiting is not None and again_waiting.joined_at == joined_at
            assert len(rig.switchboard.room) == 1

    run(scenario())


def test_the_room_is_sent_again_periodically(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, waiting_room_refresh_s=0.1) as rig:
            console = await (await rig.login("dr.a")).console()
            await console.expect(wire.WaitingRoom)
            await console.expect(wire.WaitingRoom)  # again, without anything new to say

    run(scenario())


def test_the_consoles_see_when_a_waiting_patients_cabin_is_offline(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            console = await (await rig.login("dr.a")).console()

            async def room_where(online: bool) -> wire.WaitingEntry:
                while True:
                    room = await console.expect(wire.WaitingRoom)
                    if room.entries and room.entries[0].cabin_online is online:
                        return room.entries[0]

            cabin = await rig.cabin()
            await rig.join(cabin, "c-1")
            assert (await room_where(True)).consultation_id == "c-1"
            await cabin.close()
            assert (await room_where(False)).consultation_id == "c-1"  # at once, not in 30 s
            # a console opened now sees it offline too
            other = await (await rig.login("dr.b")).console()
            late = other.seen[-1]
            assert isinstance(late, wire.WaitingRoom)
            assert [e.cabin_online for e in late.entries] == [False]

            back = await rig.cabin()
            assert (await room_where(True)).consultation_id == "c-1"
            await back.close()

    run(scenario())


def test_a_cabin_that_replaces_its_connection_stays_online(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin = await rig.cabin()
            await rig.join(cabin, "c-1")
            console = await (await rig.login("dr.a")).console()
            newer = await rig.cabin()  # a newer connection of the same cabin
            assert await cabin.closed() == 4409
            await console.nothing_more(0.3)  # nothing changed for the consoles
            assert [e.cabin_online for e in rig.switchboard.waiting_entries()] == [True]
            await newer.close()

    run(scenario())


def test_a_cabin_has_one_patient_waiting_and_a_flood_of_joins_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 15: 300 joins by one cabin pushed 337 MB to one console (the whole, growing room
    after each). A cabin has one patient at a time: the other joins are refused, and logged."""

    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            console = await (await rig.login("dr.a")).console()
            cabin = await rig.cabin()
            await rig.join(cabin, "c-1")
            refusals = []
            for index in range(300):
                join = wire.QueueJoin(
                    msg_id=new_id("join"),
                    consultation_id=f"flood-{index}",
                    language=wire.Language.FR,
                    patient=patient(given=f"Flood{index}"),
                    vitals=[vital()] * 32,
                )
                await cabin.send(join)
                reply = await cabin.receive()
                while not isinstance(reply, wire.Ack | wire.ErrorMessage):
                    reply = await cabin.receive()
                refusals.append((reply, join.msg_id))

            take = wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1")
            await console.send(take)  # the console is still there, and the room is right
            assert (await console.expect(wire.CallAccepted)).consultation_id == "c-1"
            room = await console.expect(wire.WaitingRoom)
            while room.entries and room.entries[0].taken_by is None:
                room = await console.expect(wire.WaitingRoom)
            assert [e.consultation_id for e in room.entries] == ["c-1"]
            for reply, msg_id in refusals:
                assert isinstance(reply, wire.ErrorMessage), reply
                assert (reply.code, reply.in_reply_to) == (wire.ErrorCode.CONFLICT, msg_id)
                assert "c-1" in reply.text and "queue_leave" in reply.text
            assert len(rig.switchboard.room) == 1
            assert await rig.hub.storage.consultation("flood-7") is None
            refused = [
                r.getMessage() for r in caplog.records if "queue_join_refused" in r.getMessage()
            ]
            assert refused and "cabin=cabin-1 consultation=flood-0" in refused[0]
            assert "Flood" not in " ".join(refused)  # never a patient's name

            end = wire.CallEnd(
                msg_id=new_id(), consultation_id="c-1", reason=wire.CallEndReason.COMPLETED
            )
            await console.send(end)
            await cabin.expect(wire.CallEnd)
            await rig.join(cabin, "c-2")  # the next patient, once the first has gone

    run(scenario())


def test_a_cabin_back_from_a_restart_frees_the_place_its_lost_patient_held(tmp_path: Path) -> None:
    """A cabin restarted while its patient waited (the kiosk crashed; its leave went with it)
    says in its hello that it has no patient now: the hub ends the one it still held, instead
    of keeping a ghost in the room that would refuse every next patient's join (one patient a
    cabin). A cabin back from a mere network cut names its patient, who keeps the place."""

    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            console = await (await rig.login("dr.a")).console()
            cabin = await rig.cabin()
            await rig.join(cabin, "c-1")
            await cabin.close()
            cabin = await rig.cabin(live=["c-1"])  # a network cut: the patient still waits
            assert [p.consultation_id for p in rig.switchboard.room.of_cabin("cabin-1")] == ["c-1"]
            await cabin.close()
            cabin = await rig.cabin(live=[])  # restarted: nobody is there any more
            storage = rig.hub.storage
            room = await console.expect(wire.WaitingRoom)
            while any(e.consultation_id == "c-1" for e in room.entries):
                room = await console.expect(wire.WaitingRoom)
            async with asyncio.timeout(TIMEOUT_S):  # polling: the database says no event
                while (await stored_consultation(storage, "c-1")).status is not LEFT:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            await rig.join(cabin, "c-2")  # the next patient gets in
            assert [p.consultation_id for p in rig.switchboard.room.of_cabin("cabin-1")] == ["c-2"]

    run(scenario())


LEFT = ConsultationStatus.LEFT

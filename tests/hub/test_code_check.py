"""Appointment codes at the cabin, against a real hub: the check, the arrival, the end, the
per-cabin limit, today's list for offline checks, and the waiting room's order."""

from __future__ import annotations

import asyncio
import base64
import logging
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import wire
from fleet.servers import RedisServer
from hub.accounts import provision_cabin
from hub.booking import Appointment, AppointmentStatus, BookingChannel
from hub.bookings import BOOKING_DESK
from hub.code_check import CHECKS_PER_HOUR
from hub.schedule import CabinCalendar, OpeningHours, RotaShift
from tests.hub.hub_rig import (
    TIMEOUT_S,
    FakeClock,
    Peer,
    Rig,
    new_id,
    patient,
    run,
    running_hub,
)
from tests.hub.test_replicas import redis_server, two_replicas

__all__ = ["redis_server"]  # the module's Redis, as a fixture here too

# 09:00 UTC is 10:00 in Paris on 23 November 2026 (the rig's clock).
SLOT = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)
CODE = "482913"
JEANNE = wire.PatientSummary(
    family_name="Martin", given_names="Jeanne", birth_date=date(1944, 5, 2)
)


def appointment(
    appointment_id: str = "ap-1",
    *,
    code: str = CODE,
    cabin_id: str = "cabin-1",
    starts_at: datetime = SLOT,
    doctor: str | None = "dr.a",
    who: wire.PatientSummary = JEANNE,
) -> Appointment:
    return Appointment(
        appointment_id=appointment_id,
        cabin_id=cabin_id,
        doctor=doctor,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=15),
        status=AppointmentStatus.BOOKED,
        patient=who,
        code=code,
        channel=BookingChannel.PHONE,
        booked_at=starts_at - timedelta(days=3),
        booked_by="coord.1",
    )


async def booked(rig: Rig, *appointments: Appointment) -> None:
    storage = rig.hub.storage
    for cabin_id, town in (("cabin-1", "Murat"), ("cabin-2", "Allanche")):
        await storage.put_calendar(CabinCalendar(cabin_id=cabin_id, town=town))
    for one in appointments:
        await storage.add_appointment(one)


async def check(cabin: Peer, code: str) -> wire.AppointmentFound | wire.AppointmentRefused:
    question = wire.AppointmentCheck(msg_id=new_id("code"), code=code)
    await cabin.send(question)
    while True:
        answer = await cabin.receive()
        if isinstance(answer, wire.AppointmentFound | wire.AppointmentRefused):
            assert answer.in_reply_to == question.msg_id
            return answer


def join_with(consultation_id: str, appointment_id: str | None) -> wire.QueueJoin:
    return wire.QueueJoin(
        msg_id=new_id("join"),
        consultation_id=consultation_id,
        language=wire.Language.FR,
        patient=JEANNE,
        appointment_id=appointment_id,
    )


def test_a_code_opens_its_appointment_once_and_the_end_of_the_call_fulfils_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            await booked(rig, appointment())
            cabin = await rig.cabin("cabin-1")
            found = await check(cabin, CODE)
            assert isinstance(found, wire.AppointmentFound), found
            assert found.appointment_id == "ap-1"
            assert found.patient == JEANNE
            assert (found.starts_at, found.ends_at) == (SLOT, SLOT + timedelta(minutes=15))
            assert (found.doctor, found.doctor_name) == ("dr.a", "Dr A")
            assert found.timezone == "Europe/Paris"
            # checking is not using: the code still opens it until the patient joins
            assert isinstance(await check(cabin, CODE), wire.AppointmentFound)

            console = await (await rig.login("dr.a")).console()
            join = join_with("c-1", "ap-1")
            await cabin.send(join)
            assert (await cabin.expect(wire.Ack)).ack_of == join.msg_id
            stored = await rig.hub.storage.appointment("ap-1")
            assert stored is not None
            assert (stored.status, stored.consultation_id) == (AppointmentStatus.ARRIVED, "c-1")
            room = await console.expect(wire.WaitingRoom)
            while not room.entries:
                room = await console.expect(wire.WaitingRoom)
            assert (room.entries[0].appointment_at, room.entries[0].booked_doctor) == (
                SLOT,
                "dr.a",
            )

            used = await check(cabin, CODE)
            assert isinstance(used, wire.AppointmentRefused)
            assert used.reason is wire.AppointmentRefusal.ALREADY_USED

            await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1"))
            await console.expect(wire.CallAccepted)
            await console.send(
                wire.CallEnd(
                    msg_id=new_id(), consultation_id="c-1", reason=wire.CallEndReason.COMPLETED
                )
            )
            await cabin.expect(wire.CallEnd)

            async def fulfilled() -> bool:
                done = await rig.hub.storage.appointment("ap-1")
                return done is not None and done.status is AppointmentStatus.FULFILLED

            async with asyncio.timeout(TIMEOUT_S):  # marked by a task after the call's end
                while not await fulfilled():  # noqa: ASYNC110 - polled from outside
                    await asyncio.sleep(0.01)
            gone = await check(cabin, CODE)  # fulfilled: no longer an active code
            assert isinstance(gone, wire.AppointmentRefused)
            assert gone.reason is wire.AppointmentRefusal.UNKNOWN_OR_EXPIRED

    run(scenario())
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "hub.code_check cabin=cabin-1 result=found appointment=ap-1" in logged
    assert CODE not in logged and "Martin" not in logged and "Jeanne" not in logged


def test_another_cabins_code_an_unknown_one_and_one_out_of_its_hours_say_the_same(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            await booked(
                rig,
                appointment(),
                appointment("ap-yesterday", code="111111", starts_at=SLOT - timedelta(days=1)),
                appointment("ap-later", code="222222", starts_at=SLOT + timedelta(hours=2)),
                appointment("ap-evening", code="333333", starts_at=SLOT + timedelta(hours=9)),
            )
            elsewhere = await rig.cabin("cabin-2")
            answers = [await check(elsewhere, CODE), await check(elsewhere, "000000")]
            here = await rig.cabin("cabin-1")
            answers += [await check(here, "111111"), await check(here, "222222")]
            for answer in answers:
                assert isinstance(answer, wire.AppointmentRefused), answer
                assert answer.reason is wire.AppointmentRefusal.UNKNOWN_OR_EXPIRED
            # 30 minutes before its slot (11:15 UTC), the later one opens
            clock.advance(timedelta(hours=1, minutes=46).total_seconds())  # 10:46 UTC
            assert isinstance(await check(here, "222222"), wire.AppointmentFound)
            # the evening one (19:15 in Paris) still opens at 23:59 Paris, not at 00:00
            clock.advance(timedelta(hours=12, minutes=13).total_seconds())  # 22:59 UTC
            assert isinstance(await check(here, "333333"), wire.AppointmentFound)
            clock.advance(60.0)
            late = await check(here, "333333")
            assert isinstance(late, wire.AppointmentRefused)

    run(scenario())


def test_a_cabin_gets_a_limited_number_of_checks_then_even_a_right_code_waits(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            await booked(rig, appointment(), appointment("ap-2", code="765432", cabin_id="cabin-2"))
            cabin = await rig.cabin("cabin-1")
            for attempt in range(CHECKS_PER_HOUR):
                answer = await check(cabin, f"{attempt:06d}")
                assert isinstance(answer, wire.AppointmentRefused)
                assert answer.reason is wire.AppointmentRefusal.UNKNOWN_OR_EXPIRED
            limited = await check(cabin, CODE)
            assert isinstance(limited, wire.AppointmentRefused)
            assert limited.reason is wire.AppointmentRefusal.TOO_MANY_TRIES
            assert limited.retry_after_s is not None and 0 < limited.retry_after_s <= 3600
            # the limit is the cabin's: the next one still checks
            other = await rig.cabin("cabin-2")
            assert isinstance(await check(other, "765432"), wire.AppointmentFound)
            clock.advance(3600)
            assert isinstance(await check(cabin, CODE), wire.AppointmentFound)

    run(scenario())


def test_the_cabin_is_sent_todays_appointments_with_codes_hashed(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            await booked(
                rig,
                appointment(),
                appointment("ap-2", code="765432", starts_at=SLOT + timedelta(hours=3)),
                appointment("ap-tomorrow", code="999999", starts_at=SLOT + timedelta(days=1)),
                appointment("ap-other", code="555555", cabin_id="cabin-2"),
            )
            await rig.hub.storage.cancel_appointment(
                "ap-2", at=clock.now(), reason="mieux", by="patient"
            )
            await rig.hub.storage.add_appointment(
                appointment("ap-3", code="246810", starts_at=SLOT + timedelta(hours=5))
            )
            cabin = await rig.cabin("cabin-1")
            todays = await cabin.expect(wire.TodaysAppointments)
            assert (todays.day, todays.timezone) == (date(2026, 11, 23), "Europe/Paris")
            assert [e.appointment_id for e in todays.entries] == ["ap-1", "ap-3"]
            first = todays.entries[0]
            assert first.patient == JEANNE
            assert (first.doctor, first.doctor_name) == ("dr.a", "Dr A")
            assert first.valid_from == SLOT - timedelta(minutes=30)
            assert first.valid_until == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # midnight, Paris
            salts = {e.code_salt for e in todays.entries}
            assert len(salts) == 2  # a salt each
            for entry, code in zip(todays.entries, (CODE, "246810"), strict=True):
                digest = wire.appointment_code_hash(
                    code, base64.b64decode(entry.code_salt), entry.code_iterations
                )
                assert base64.b64encode(digest).decode() == entry.code_hash
                assert entry.code_iterations == wire.APPOINTMENT_CODE_ITERATIONS
            assert CODE.encode() not in wire.encode(todays)

            # a check-in sends the list again, without the used one
            join = join_with("c-1", "ap-1")
            await cabin.send(join)
            again = await cabin.expect(wire.TodaysAppointments)
            assert [e.appointment_id for e in again.entries] == ["ap-3"]

    run(scenario())


def test_a_join_with_another_cabins_appointment_waits_as_a_walk_in(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            await booked(rig, appointment(cabin_id="cabin-2"))
            console = await (await rig.login("dr.b")).console()
            cabin = await rig.cabin("cabin-1")
            join = join_with("c-1", "ap-1")
            await cabin.send(join)
            assert (await cabin.expect(wire.Ack)).ack_of == join.msg_id
            room = await console.expect(wire.WaitingRoom)
            while not room.entries:
                room = await console.expect(wire.WaitingRoom)
            assert room.entries[0].appointment_at is None
            stored = await rig.hub.storage.appointment("ap-1")
            assert stored is not None and stored.status is AppointmentStatus.BOOKED

    run(scenario())


def test_booked_patients_wait_at_their_slot_walk_ins_between_and_the_booked_doctor_first(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        clock = FakeClock(datetime(2026, 11, 23, 8, 50, tzinfo=UTC))  # 09:50 in Paris
        async with running_hub(tmp_path, clock=clock) as rig:
            token = await provision_cabin(
                rig.hub.storage, cabin_id="cabin-3", name="Cabine 3", clock=clock
            )
            rig.tokens["cabin-3"] = token
            await booked(
                rig,
                appointment("ap-1015", code="101500", cabin_id="cabin-1", doctor="dr.a"),
            )
            dr_a = await (await rig.login("dr.a")).console()
            dr_b = await (await rig.login("dr.b")).console()
            booked_cabin = await rig.cabin("cabin-1")
            walk_in_early, walk_in_late = await rig.cabin("cabin-2"), await rig.cabin("cabin-3")

            # the booked patient arrives first, at 09:50, for 10:15
            found = await check(booked_cabin, "101500")
            assert isinstance(found, wire.AppointmentFound)
            await booked_cabin.send(join_with("c-booked", "ap-1015"))
            await booked_cabin.expect(wire.Ack)
            clock.advance(600)  # 10:00: a walk-in
            await rig.join(walk_in_early, "c-walk-1000", patient(given="Paul"))
            clock.advance(1500)  # 10:25: another
            await rig.join(walk_in_late, "c-walk-1025", patient(given="Luc"))
            room = await dr_b.expect(wire.WaitingRoom)
            while len(room.entries) < 3:
                room = await dr_b.expect(wire.WaitingRoom)
            assert [e.consultation_id for e in room.entries] == [
                "c-walk-1000",
                "c-booked",
                "c-walk-1025",
            ]
            assert room.entries[1].booked_doctor == "dr.a"
            assert room.entries[1].booked_doctor_name == "Dr A"
            assert rig.switchboard.room.positions() == {
                "c-walk-1000": 1,
                "c-booked": 2,
                "c-walk-1025": 3,
            }

            # 10:25: dr.b may not take dr.a's patient while dr.a is there (until 10:25)...
            clock.advance(-60)  # 10:24
            take = wire.TakeConsultation(msg_id=new_id(), consultation_id="c-booked")
            await dr_b.send(take)
            refused = await dr_b.expect(wire.ErrorMessage)
            assert (refused.code, refused.in_reply_to) == (wire.ErrorCode.CONFLICT, take.msg_id)
            assert "booked" in refused.text
            # ...dr.a can
            await dr_a.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-booked"))
            assert (await dr_a.expect(wire.CallAccepted)).consultation_id == "c-booked"

    run(scenario())


def test_once_the_booked_doctor_is_away_or_late_another_doctor_takes_the_patient(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        clock = FakeClock(datetime(2026, 11, 23, 9, 10, tzinfo=UTC))
        async with running_hub(tmp_path, clock=clock) as rig:
            await booked(rig, appointment(doctor="dr.a"))
            dr_b = await (await rig.login("dr.b")).console()
            cabin = await rig.cabin("cabin-1")
            await cabin.send(join_with("c-1", "ap-1"))
            await cabin.expect(wire.Ack)
            # dr.a has no console open: dr.b takes the patient at once
            await dr_b.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1"))
            assert (await dr_b.expect(wire.CallAccepted)).consultation_id == "c-1"

    run(scenario())


@pytest.mark.parametrize(
    ("day", "utc_offset_h"),
    [(date(2027, 3, 28), 2), (date(2027, 10, 31), 1)],  # the days the clocks change in Paris
)
def test_on_the_days_the_clocks_change_a_0900_slot_opens_and_closes_by_the_local_clock(
    tmp_path: Path, day: date, utc_offset_h: int
) -> None:
    paris = ZoneInfo("Europe/Paris")
    slot = datetime.combine(day, time(9, 0), tzinfo=paris).astimezone(UTC)
    assert slot.hour == 9 - utc_offset_h

    async def scenario() -> None:
        clock = FakeClock(datetime.combine(day, time(6, 0), tzinfo=UTC))
        async with running_hub(tmp_path, clock=clock) as rig:
            await booked(rig, appointment(starts_at=slot))
            cabin = await rig.cabin("cabin-1")
            todays = await cabin.expect(wire.TodaysAppointments)
            assert todays.day == day
            [entry] = todays.entries
            assert entry.starts_at.astimezone(paris).time() == time(9, 0)
            assert entry.valid_from.astimezone(paris).time() == time(8, 30)
            midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=paris)
            assert entry.valid_until == midnight
            clock.advance((entry.valid_from - clock.now()).total_seconds() - 1)
            assert isinstance(await check(cabin, CODE), wire.AppointmentRefused)
            clock.advance(1)
            found = await check(cabin, CODE)
            assert isinstance(found, wire.AppointmentFound)
            assert found.starts_at.astimezone(ZoneInfo(found.timezone)).time() == time(9, 0)
            clock.advance((midnight - clock.now()).total_seconds() - 1)
            assert isinstance(await check(cabin, CODE), wire.AppointmentFound)
            clock.advance(1)
            assert isinstance(await check(cabin, CODE), wire.AppointmentRefused)

    run(scenario())


def test_two_replicas_agree_on_the_booked_patient(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """A booked patient joins through replica A: a console on B sees their slot and doctor
    (read back from the bookings), and another doctor on B may not take them while the booked
    doctor's console is open on A."""

    async def scenario() -> None:
        clock = FakeClock()
        async with two_replicas(tmp_path, redis_server, clock=clock) as (a, b):
            await booked(a, appointment())
            dr_a = await (await a.login("dr.a")).console()
            dr_b = await (await b.login("dr.b")).console()
            cabin = await a.cabin("cabin-1")
            assert isinstance(await check(cabin, CODE), wire.AppointmentFound)
            await cabin.send(join_with("c-1", "ap-1"))
            await cabin.expect(wire.Ack)
            room = await dr_b.expect(wire.WaitingRoom)
            while not room.entries:
                room = await dr_b.expect(wire.WaitingRoom)
            entry = room.entries[0]
            assert (entry.appointment_at, entry.booked_doctor, entry.booked_doctor_name) == (
                SLOT,
                "dr.a",
                "Dr A",
            )
            take = wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1")
            await dr_b.send(take)
            refused = await dr_b.expect(wire.ErrorMessage)
            assert (refused.code, refused.in_reply_to) == (wire.ErrorCode.CONFLICT, take.msg_id)
            await dr_a.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1"))
            assert (await dr_a.expect(wire.CallAccepted)).consultation_id == "c-1"

    run(scenario())


def test_a_late_patient_marked_a_no_show_still_checks_in_with_the_code_that_day(
    tmp_path: Path,
) -> None:
    """'A late patient can still be seen': marked a no-show 30 min after the slot, the patient
    who comes later that day is recognised by the code and checks in (NOSHOW -> ARRIVED); the
    next day the code opens nothing."""

    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            await booked(rig, appointment())
            storage = rig.hub.storage
            clock.advance(3 * 3600)  # 12:00 UTC, 13:00 in Paris: long past the 10:15 slot
            marked = await storage.mark_noshows(
                started_before=clock.now() - timedelta(minutes=30), at=clock.now()
            )
            assert [a.appointment_id for a in marked] == ["ap-1"]
            cabin = await rig.cabin("cabin-1")
            todays = await cabin.expect(wire.TodaysAppointments)
            assert [e.appointment_id for e in todays.entries] == ["ap-1"]  # offline too
            found = await check(cabin, CODE)
            assert isinstance(found, wire.AppointmentFound), found
            assert found.appointment_id == "ap-1"
            join = join_with("c-late", "ap-1")
            await cabin.send(join)
            assert (await cabin.expect(wire.Ack)).ack_of == join.msg_id
            stored = await storage.appointment("ap-1")
            assert stored is not None
            assert (stored.status, stored.consultation_id) == (AppointmentStatus.ARRIVED, "c-late")
            assert isinstance(await check(cabin, CODE), wire.AppointmentRefused)  # used once

            later = SLOT + timedelta(hours=1)
            await booked(rig, appointment("ap-2", code="771204", starts_at=later))
            await storage.mark_noshows(started_before=clock.now(), at=clock.now())
            clock.advance(24 * 3600)
            assert isinstance(await check(cabin, "771204"), wire.AppointmentRefused)

    run(scenario())


def test_a_booking_made_or_cancelled_for_today_reaches_the_cabins_list_at_once(
    tmp_path: Path,
) -> None:
    """The cabin's list of the day (for its offline checks) is sent again as soon as a
    coordinator books or cancels, not only at the next periodic sync."""

    async def scenario() -> None:
        clock = FakeClock()  # Monday 23 November 2026, 10:00 in Paris
        async with running_hub(tmp_path, clock=clock) as rig:
            storage = rig.hub.storage
            await booked(rig)
            await storage.set_opening_hours(
                "cabin-1", [OpeningHours("cabin-1", 0, time(8, 0), time(18, 0))]
            )
            await storage.add_shift(
                RotaShift("sh-1", "dr.a", "cabin-1", SLOT, SLOT + timedelta(hours=6))
            )
            cabin = await rig.cabin("cabin-1")
            assert (await cabin.expect(wire.TodaysAppointments)).entries == []
            desk = rig.hub.app[BOOKING_DESK]
            slot = (await desk.free_slots("cabin-1", date(2026, 11, 23), 1))[0]
            made = await desk.book(
                "cabin-1",
                slot.starts_at,
                patient=JEANNE,
                channel=BookingChannel.PHONE,
                booked_by="coord.1",
                consent=True,
            )
            todays = await cabin.expect(wire.TodaysAppointments)
            assert [e.appointment_id for e in todays.entries] == [made.appointment_id]
            await desk.cancel(made.appointment_id, by="coord.1", reason="appel du patient")
            while (await cabin.expect(wire.TodaysAppointments)).entries:
                pass  # a sync may come between; the list ends empty

    run(scenario())

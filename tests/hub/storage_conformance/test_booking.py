"""Calendars, the rota, appointments and their outbox (`hub.booking.BookingStore`), on both
backends: what each method's docstring promises, double bookings refused by the database
(100 at once, from two replicas), state changes made once, and the daylight-saving changes."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import sqlite3
from collections.abc import Awaitable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import msgspec
import pytest

import wire
from fleet.servers import PostgresServer
from hub.booking import (
    Appointment,
    AppointmentStatus,
    BookingChannel,
    CodeTaken,
    NotificationKind,
    NotificationState,
    SlotTaken,
)
from hub.postgres_migrations import MIGRATIONS as PG_MIGRATIONS
from hub.postgres_storage import PostgresStorage
from hub.schedule import CabinCalendar, Closure, OpeningHours, RotaShift
from hub.sealing import SealedValueError
from hub.sqlite_migrations import MIGRATIONS as SQLITE_MIGRATIONS
from hub.sqlite_storage import SqliteStorage
from hub.storage import Storage
from tests.hub.hub_key import TEST_KEY
from tests.hub.pg_backend import (
    ROTATED_RING_TEXT,
    fresh_database,
    keyring_of,
    open_postgres_storage,
)
from tests.hub.storage_conformance.conftest import Backend
from tests.hub.storage_conformance.samples import (
    NOW,
    OTHER_PATIENT,
    PATIENT,
    SLOT,
    agent,
    appointment,
    assert_utc,
    notification,
)

T = TypeVar("T")
PARIS = ZoneInfo("Europe/Paris")
LATER = timedelta(minutes=15)
TIMEOUT_S = 60.0


async def _within(awaitable: Awaitable[T]) -> T:
    async with asyncio.timeout(TIMEOUT_S):
        return await awaitable


# agents who take bookings


def test_a_coordinator_agent_comes_back_as_one(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        coordinator = dataclasses.replace(agent("coord.é"), coordinator=True)
        await storage.add_agent(coordinator)
        await storage.add_agent(agent("nurse"))
        assert await storage.agent("coord.é") == coordinator
        stored = await storage.agent("nurse")
        assert stored is not None and not stored.coordinator
        assert [a.coordinator for a in await storage.agents()] == [True, False]

    storage.run(scenario)


# calendars, opening hours, closures, the rota


def test_a_calendar_is_put_replaced_and_listed(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        murat = CabinCalendar("cabin-2", "Murat")
        flour = CabinCalendar(
            "cabin-1",
            "Saint-Flour",
            timezone="America/Cayenne",
            slot_minutes=20,
            walk_in_share=0.1 + 0.2,
            bookable_days=90,
        )
        await storage.put_calendar(murat)
        await storage.put_calendar(flour)
        assert await storage.calendar("cabin-1") == flour
        assert await storage.calendar("cabin-2") == murat
        assert await storage.calendar("cabin-9") is None
        again = dataclasses.replace(flour, town="Saint-Flour (Haute-Ville)", walk_in_share=0.0)
        await storage.put_calendar(again)
        assert await storage.calendars() == [again, murat]

    storage.run(scenario)


def test_opening_hours_are_replaced_as_a_whole_per_cabin(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        week = [
            OpeningHours("cabin-1", 4, time(14, 0), time(18, 30)),
            OpeningHours("cabin-1", 0, time(14, 0), time(18, 0)),
            OpeningHours("cabin-1", 0, time(9, 0), time(12, 0)),
        ]
        await storage.set_opening_hours("cabin-1", week)
        await storage.set_opening_hours("cabin-2", [OpeningHours("cabin-2", 6, time(8), time(9))])
        assert await storage.opening_hours("cabin-1") == [week[2], week[1], week[0]]
        saturday = [OpeningHours("cabin-1", 5, time(9, 30), time(12, 15))]
        await storage.set_opening_hours("cabin-1", saturday)
        assert await storage.opening_hours("cabin-1") == saturday
        assert await storage.opening_hours("cabin-2") == [
            OpeningHours("cabin-2", 6, time(8), time(9))
        ]
        await storage.set_opening_hours("cabin-1", [])
        assert await storage.opening_hours("cabin-1") == []
        assert await storage.opening_hours("cabin-9") == []

    storage.run(scenario)


def test_closures_touching_a_span_of_days_are_found_and_removed(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        christmas = Closure("cl-1", "cabin-1", date(2026, 12, 25), date(2026, 12, 25), "Noël")
        works = Closure("cl-2", "cabin-1", date(2026, 12, 20), date(2027, 1, 3), "travaux")
        theirs = Closure("cl-3", "cabin-2", date(2026, 12, 25), date(2026, 12, 25), "Noël")
        for closure in (christmas, works, theirs):
            await storage.add_closure(closure)
        found = await storage.closures(
            "cabin-1", first_day=date(2026, 12, 25), last_day=date(2026, 12, 31)
        )
        assert found == [works, christmas]
        # both ends are included
        assert await storage.closures(
            "cabin-1", first_day=date(2027, 1, 3), last_day=date(2027, 1, 9)
        ) == [works]
        assert await storage.closures(
            "cabin-1", first_day=date(2026, 12, 1), last_day=date(2026, 12, 20)
        ) == [works]
        assert (
            await storage.closures("cabin-1", first_day=date(2027, 1, 4), last_day=date(2027, 1, 9))
            == []
        )
        assert await storage.remove_closure("cl-2")
        assert not await storage.remove_closure("cl-2")
        assert await storage.closures(
            "cabin-1", first_day=date(2026, 12, 1), last_day=date(2026, 12, 31)
        ) == [christmas]

    storage.run(scenario)


def test_shifts_overlapping_a_span_are_found_by_cabin_or_doctor(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        monday = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
        week = RotaShift(
            "s-1",
            "dr.é",
            "cabin-1",
            monday,
            monday + timedelta(days=5, hours=11),
            created_by="coord",
            created_at=NOW,
        )
        remote = RotaShift("s-2", "dr.remote", "cabin-2", monday, monday + timedelta(hours=4))
        tuesday = RotaShift(
            "s-3",
            "dr.remote",
            "cabin-1",
            monday + timedelta(days=1),
            monday + timedelta(days=1, hours=4, microseconds=9),
        )
        for shift in (tuesday, remote, week):
            await storage.add_shift(shift)
        stored = await storage.shifts(
            starts_before=monday + timedelta(days=7), ends_after=monday - timedelta(days=1)
        )
        assert stored == [week, remote, tuesday]  # by start, then id
        for shift in stored:
            assert_utc(shift.starts_at)
            assert_utc(shift.ends_at)
        assert await storage.shifts(
            starts_before=monday + timedelta(days=7), ends_after=monday, cabin_id="cabin-1"
        ) == [week, tuesday]
        assert await storage.shifts(
            starts_before=monday + timedelta(days=7), ends_after=monday, doctor="dr.remote"
        ) == [remote, tuesday]
        assert await storage.shifts(
            starts_before=monday + timedelta(days=7),
            ends_after=monday,
            cabin_id="cabin-1",
            doctor="dr.remote",
        ) == [tuesday]
        # an overlap, not a touch: a span ending when a shift starts does not meet it
        assert (
            await storage.shifts(starts_before=monday, ends_after=monday - timedelta(hours=1)) == []
        )
        assert await storage.shifts(
            starts_before=monday + timedelta(hours=4, seconds=1),
            ends_after=monday + timedelta(hours=4),
        ) == [week]
        assert await storage.remove_shift("s-1")
        assert not await storage.remove_shift("s-1")
        assert await storage.shifts(
            starts_before=monday + timedelta(days=7), ends_after=monday, cabin_id="cabin-1"
        ) == [tuesday]

    storage.run(scenario)


# appointments


def test_an_appointment_comes_back_as_stored(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        booked = appointment("ap-1")
        online = dataclasses.replace(
            appointment("ap-2", starts_at=SLOT + LATER, code="000001", who=OTHER_PATIENT),
            channel=BookingChannel.ONLINE,
            booked_by="",
            phone="",
            email="",
            reason="",
            doctor=None,
            language=wire.Language.FR,
        )
        await storage.add_appointment(booked)
        await storage.add_appointment(online)
        stored = await storage.appointment("ap-1")
        assert stored == booked
        assert stored is not None
        for moment in (stored.starts_at, stored.ends_at, stored.booked_at, stored.consent_at):
            assert_utc(moment)
        assert await storage.appointment("ap-2") == online
        assert await storage.appointment("ap-9") is None

    storage.run(scenario)


def test_an_appointment_is_found_by_its_code_while_it_is_active(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_appointment(appointment("ap-1", code="123456"))
        await storage.add_appointment(appointment("ap-2", code="654321", starts_at=SLOT + LATER))
        found = await storage.appointment_by_code("123456")
        assert found is not None and found.appointment_id == "ap-1"
        assert await storage.appointment_by_code("999999") is None
        assert await storage.mark_arrived("ap-1", at=SLOT, consultation_id="c-1")
        arrived = await storage.appointment_by_code("123456")
        assert arrived is not None and arrived.status is AppointmentStatus.ARRIVED
        assert await storage.mark_fulfilled("ap-1", at=SLOT + LATER)
        assert await storage.appointment_by_code("123456") is None
        assert await storage.cancel_appointment("ap-2", at=NOW, reason="mieux", by="patient")
        assert await storage.appointment_by_code("654321") is None

    storage.run(scenario)


def test_appointments_of_cabins_in_a_range_come_by_start_time(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        late = appointment("ap-late", starts_at=SLOT + 2 * LATER, code="100003")
        early = appointment("ap-early", starts_at=SLOT, code="100001")
        theirs = appointment("ap-theirs", cabin_id="cabin-2", starts_at=SLOT + LATER, code="2")
        far = appointment("ap-far", starts_at=SLOT + timedelta(days=1), code="100004")
        for booked in (late, theirs, far, early):
            await storage.add_appointment(booked)
        await storage.cancel_appointment("ap-late", at=NOW, reason="", by="coord")
        cancelled = await storage.appointment("ap-late")
        day = {"starts_from": SLOT, "starts_before": SLOT + timedelta(hours=1)}
        assert await storage.appointments(cabin_ids=None, **day) == [early, theirs, cancelled]
        assert await storage.appointments(cabin_ids=["cabin-1"], **day) == [early, cancelled]
        assert await storage.appointments(cabin_ids=["cabin-2", "cabin-9"], **day) == [theirs]
        assert await storage.appointments(cabin_ids=[], **day) == []
        # from included, before excluded
        assert await storage.appointments(
            cabin_ids=None, starts_from=SLOT + LATER, starts_before=SLOT + 2 * LATER
        ) == [theirs]

    storage.run(scenario)


def test_a_patients_appointments_are_found_by_match_key_newest_first(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        first = appointment("ap-1", code="100001")
        spelt_otherwise = msgspec.structs.replace(
            PATIENT, family_name="ŁUKASZEWSKA-GROSS", given_names="Zoé  Ærin"
        )
        second = appointment(
            "ap-2", starts_at=SLOT + timedelta(days=7), code="100002", who=spelt_otherwise
        )
        other = appointment("ap-3", starts_at=SLOT + LATER, code="100003", who=OTHER_PATIENT)
        for booked in (first, other, second):
            await storage.add_appointment(booked)
        assert await storage.appointments_of_patient(PATIENT) == [second, first]
        assert await storage.appointments_of_patient(OTHER_PATIENT) == [other]
        born_otherwise = msgspec.structs.replace(PATIENT, birth_date=date(1938, 5, 3))
        assert await storage.appointments_of_patient(born_otherwise) == []

    storage.run(scenario)


def test_a_held_slot_and_an_active_code_are_refused_by_the_database(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_appointment(appointment("ap-1", code="111111"))
        with pytest.raises(SlotTaken):
            await storage.add_appointment(appointment("ap-2", code="222222"))
        with pytest.raises(CodeTaken):
            await storage.add_appointment(
                appointment("ap-3", code="111111", starts_at=SLOT + LATER)
            )
        # another cabin's same slot is another slot
        await storage.add_appointment(appointment("ap-4", cabin_id="cabin-2", code="444444"))
        assert await storage.appointment("ap-2") is None
        assert await storage.appointment("ap-3") is None

    storage.run(scenario)


def test_a_cancelled_slot_and_a_spent_code_can_be_booked_again(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_appointment(appointment("ap-1", code="111111"))
        assert await storage.cancel_appointment("ap-1", at=NOW, reason="", by="patient")
        again = appointment("ap-2", code="111111")
        await storage.add_appointment(again)
        assert await storage.appointment_by_code("111111") == again
        with pytest.raises(SlotTaken):
            await storage.add_appointment(appointment("ap-3", code="333333"))
        # a fulfilled appointment keeps its slot, not its code
        assert await storage.mark_arrived("ap-2", at=SLOT, consultation_id=None)
        assert await storage.mark_fulfilled("ap-2", at=SLOT + LATER)
        with pytest.raises(SlotTaken):
            await storage.add_appointment(appointment("ap-4", code="444444"))
        await storage.add_appointment(appointment("ap-5", code="111111", starts_at=SLOT + LATER))
        # a no-show keeps its slot too
        await storage.mark_noshows(started_before=SLOT + 2 * LATER, at=NOW)
        with pytest.raises(SlotTaken):
            await storage.add_appointment(
                appointment("ap-6", code="666666", starts_at=SLOT + LATER)
            )

    storage.run(scenario)


def test_a_booked_appointment_is_cancelled_once_and_its_pending_messages_dropped(
    storage: Backend,
) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_appointment(appointment("ap-1"))
        await storage.add_notifications(
            [
                notification("n-sent", "ap-1"),
                notification("n-day", "ap-1", kind=NotificationKind.REMINDER_DAY),
                notification("n-hour", "ap-1", kind=NotificationKind.REMINDER_HOUR),
            ]
        )
        await storage.mark_notification_sent("n-sent", at=NOW)
        at = NOW + timedelta(hours=1, microseconds=3)
        cancelled = await storage.cancel_appointment(
            "ap-1", at=at, reason="je vais mieux — merci", by="coord.é"
        )
        expected = dataclasses.replace(
            appointment("ap-1"),
            status=AppointmentStatus.CANCELLED,
            cancelled_at=at,
            cancel_reason="je vais mieux — merci",
            cancelled_by="coord.é",
        )
        assert cancelled == expected
        assert await storage.appointment("ap-1") == expected
        states = {n.notification_id: n.state for n in await storage.notifications()}
        assert states == {
            "n-sent": NotificationState.SENT,
            "n-day": NotificationState.DROPPED,
            "n-hour": NotificationState.DROPPED,
        }
        assert await storage.cancel_appointment("ap-1", at=at, reason="", by="x") is None
        assert await storage.cancel_appointment("ap-9", at=at, reason="", by="x") is None
        # an appointment the patient came to is not cancelled
        await storage.add_appointment(appointment("ap-2", code="2", starts_at=SLOT + LATER))
        assert await storage.mark_arrived("ap-2", at=SLOT, consultation_id=None)
        assert await storage.cancel_appointment("ap-2", at=at, reason="", by="x") is None

    storage.run(scenario)


def test_a_booked_appointment_moves_to_a_free_slot_and_its_reminders_are_dropped(
    storage: Backend,
) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_appointment(appointment("ap-1", code="111111"))
        await storage.add_appointment(appointment("ap-2", code="222222", starts_at=SLOT + LATER))
        await storage.add_notifications(
            [
                notification("n-confirm", "ap-1"),
                notification("n-day", "ap-1", kind=NotificationKind.REMINDER_DAY),
                notification("n-hour", "ap-1", kind=NotificationKind.REMINDER_HOUR),
            ]
        )
        with pytest.raises(SlotTaken):
            await storage.move_appointment(
                "ap-1", starts_at=SLOT + LATER, ends_at=SLOT + 2 * LATER, doctor=None
            )
        assert await storage.appointment("ap-1") == appointment("ap-1", code="111111")
        assert {n.state for n in await storage.notifications()} == {NotificationState.PENDING}
        new_start = SLOT + timedelta(days=2, microseconds=5)
        moved = await storage.move_appointment(
            "ap-1", starts_at=new_start, ends_at=new_start + LATER, doctor="dr.remote"
        )
        expected = dataclasses.replace(
            appointment("ap-1", code="111111"),
            starts_at=new_start,
            ends_at=new_start + LATER,
            doctor="dr.remote",
        )
        assert moved == expected
        assert await storage.appointment("ap-1") == expected
        states = {n.notification_id: n.state for n in await storage.notifications()}
        assert states == {
            "n-confirm": NotificationState.PENDING,
            "n-day": NotificationState.DROPPED,
            "n-hour": NotificationState.DROPPED,
        }
        # the slot it left is free
        await storage.add_appointment(appointment("ap-3", code="333333"))
        # only a booked appointment moves
        assert await storage.cancel_appointment("ap-2", at=NOW, reason="", by="x")
        assert (
            await storage.move_appointment(
                "ap-2", starts_at=SLOT + 5 * LATER, ends_at=SLOT + 6 * LATER, doctor=None
            )
            is None
        )
        assert (
            await storage.move_appointment(
                "ap-9", starts_at=SLOT + 5 * LATER, ends_at=SLOT + 6 * LATER, doctor=None
            )
            is None
        )

    storage.run(scenario)


def test_arrival_is_recorded_once_even_after_a_noshow_then_fulfilled(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_appointment(appointment("ap-1", code="111111"))
        assert await storage.mark_fulfilled("ap-1", at=NOW) is None
        at = SLOT - timedelta(minutes=10, microseconds=1)
        arrived = await storage.mark_arrived("ap-1", at=at, consultation_id="c-1")
        assert arrived == dataclasses.replace(
            appointment("ap-1", code="111111"),
            status=AppointmentStatus.ARRIVED,
            arrived_at=at,
            consultation_id="c-1",
        )
        # the code is used once
        assert await storage.mark_arrived("ap-1", at=at, consultation_id="c-2") is None
        done = await storage.mark_fulfilled("ap-1", at=SLOT + LATER)
        assert done is not None and done.status is AppointmentStatus.FULFILLED
        assert done.closed_at == SLOT + LATER and done.consultation_id == "c-1"
        assert await storage.mark_fulfilled("ap-1", at=SLOT + LATER) is None
        # a late patient, marked a no-show, is still seen
        await storage.add_appointment(appointment("ap-2", code="222222", starts_at=SLOT + LATER))
        [noshow] = await storage.mark_noshows(started_before=SLOT + 3 * LATER, at=SLOT + 3 * LATER)
        assert noshow.status is AppointmentStatus.NOSHOW
        assert noshow.closed_at == SLOT + 3 * LATER
        late = await storage.mark_arrived("ap-2", at=SLOT + 4 * LATER, consultation_id="c-3")
        assert late is not None and late.status is AppointmentStatus.ARRIVED
        assert late.closed_at is None and late.arrived_at == SLOT + 4 * LATER
        assert await storage.mark_arrived("ap-9", at=NOW, consultation_id=None) is None

    storage.run(scenario)


def test_noshows_are_the_booked_appointments_started_before_marked_once(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        codes = (f"{n:06d}" for n in itertools.count(1))
        for n in range(4):
            await storage.add_appointment(
                appointment(f"ap-{n}", starts_at=SLOT + n * LATER, code=next(codes))
            )
        assert await storage.mark_arrived("ap-0", at=SLOT, consultation_id=None)
        assert await storage.cancel_appointment("ap-1", at=NOW, reason="", by="x")
        at = SLOT + timedelta(hours=2)
        marked = await storage.mark_noshows(started_before=SLOT + 3 * LATER, at=at)
        assert [a.appointment_id for a in marked] == ["ap-2"]
        assert marked[0] == await storage.appointment("ap-2")
        assert await storage.mark_noshows(started_before=SLOT + 3 * LATER, at=at) == []
        later = await storage.mark_noshows(started_before=SLOT + 10 * LATER, at=at)
        assert [a.appointment_id for a in later] == ["ap-3"]

    storage.run(scenario)


# the outbox


def test_due_messages_are_claimed_with_a_lease_then_sent_or_retried(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_appointment(appointment("ap-1"))
        await storage.add_notifications(
            [
                notification("n-2", "ap-1", due_at=NOW + timedelta(seconds=1)),
                notification("n-1", "ap-1"),
                notification("n-later", "ap-1", due_at=NOW + timedelta(days=1)),
            ]
        )
        lease = NOW + timedelta(minutes=2)
        claimed = await storage.claim_notifications(
            now=NOW + timedelta(seconds=1), claimer="replica-a", lease_until=lease, limit=10
        )
        assert [n.notification_id for n in claimed] == ["n-1", "n-2"]
        for n in claimed:
            assert n.state is NotificationState.SENDING
            assert n.claimed_by == "replica-a" and n.claimed_until == lease
            assert n.attempts == 1
        assert claimed == await storage.notifications(states=frozenset({NotificationState.SENDING}))
        # claimed: no one else gets them while the lease runs
        assert (
            await storage.claim_notifications(
                now=NOW + timedelta(minutes=1), claimer="b", lease_until=lease, limit=10
            )
            == []
        )
        await storage.mark_notification_sent("n-1", at=NOW + timedelta(seconds=2))
        await storage.mark_notification_failed(
            "n-2", error="550 mailbox unavailable", retry_at=NOW + timedelta(minutes=5)
        )
        [sent] = await storage.notifications(states=frozenset({NotificationState.SENT}))
        assert sent.notification_id == "n-1" and sent.sent_at == NOW + timedelta(seconds=2)
        [retried] = await storage.notifications(
            appointment_id="ap-1", states=frozenset({NotificationState.PENDING}), limit=1
        )
        assert retried.notification_id == "n-2"
        assert retried.due_at == NOW + timedelta(minutes=5)
        assert retried.last_error == "550 mailbox unavailable" and retried.attempts == 1
        assert retried.claimed_until is None
        # not due before its retry time; due after it, tried a second time
        assert (
            await storage.claim_notifications(
                now=NOW + timedelta(minutes=4), claimer="b", lease_until=lease, limit=10
            )
            == []
        )
        [second] = await storage.claim_notifications(
            now=NOW + timedelta(minutes=5), claimer="b", lease_until=lease, limit=10
        )
        assert second.notification_id == "n-2" and second.attempts == 2
        await storage.mark_notification_failed("n-2", error="refusé: é", retry_at=None)
        [failed] = await storage.notifications(states=frozenset({NotificationState.FAILED}))
        assert failed.notification_id == "n-2" and failed.last_error == "refusé: é"
        # the limit, and a lease that ran out
        claimed_late = await storage.claim_notifications(
            now=NOW + timedelta(days=1), claimer="c", lease_until=NOW, limit=1
        )
        assert [n.notification_id for n in claimed_late] == ["n-later"]
        again = await storage.claim_notifications(
            now=NOW + timedelta(days=1), claimer="d", lease_until=lease, limit=5
        )
        assert [(n.notification_id, n.claimed_by, n.attempts) for n in again] == [
            ("n-later", "d", 2)
        ]
        assert await storage.notifications(appointment_id="ap-9") == []

    storage.run(scenario)


def test_a_cancelled_appointments_messages_are_not_claimed_but_its_cancellation(
    storage: Backend,
) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_appointment(appointment("ap-1"))
        await storage.add_notifications([notification("n-confirm", "ap-1")])
        [claimed] = await storage.claim_notifications(
            now=NOW, claimer="a", lease_until=NOW + timedelta(seconds=30), limit=10
        )
        assert claimed.notification_id == "n-confirm"
        # cancelled while the confirmation was being sent (its lease then runs out)
        assert await storage.cancel_appointment("ap-1", at=NOW, reason="", by="patient")
        await storage.add_notifications(
            [
                notification("n-cancel", "ap-1", kind=NotificationKind.CANCELLATION),
                notification("n-late", "ap-1", kind=NotificationKind.MOVED),
            ]
        )
        claimed_after = await storage.claim_notifications(
            now=NOW + timedelta(minutes=1),
            claimer="b",
            lease_until=NOW + timedelta(hours=1),
            limit=10,
        )
        assert [n.notification_id for n in claimed_after] == ["n-cancel"]

    storage.run(scenario)


def test_a_message_no_longer_due_is_dropped_with_its_reason(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_appointment(appointment("ap-1"))
        await storage.add_notifications(
            [
                notification(
                    "n-pending",
                    "ap-1",
                    kind=NotificationKind.REMINDER_DAY,
                    due_at=NOW + timedelta(days=1),
                ),
                notification("n-sending", "ap-1"),
                notification("n-sent", "ap-1", due_at=NOW - timedelta(hours=1)),
            ]
        )
        [sent] = await storage.claim_notifications(
            now=NOW - timedelta(minutes=30), claimer="a", lease_until=NOW, limit=1
        )
        await storage.mark_notification_sent(sent.notification_id, at=NOW)
        [sending] = await storage.claim_notifications(
            now=NOW, claimer="a", lease_until=NOW + timedelta(minutes=1), limit=1
        )
        assert sending.notification_id == "n-sending"
        await storage.drop_notification("n-pending", reason="rendez-vous passé")
        await storage.drop_notification("n-sending", reason="patient arrivé")
        await storage.drop_notification("n-sent", reason="trop tard")
        stored = {n.notification_id: n for n in await storage.notifications()}
        assert stored["n-pending"].state is NotificationState.DROPPED
        assert stored["n-pending"].last_error == "rendez-vous passé"
        assert stored["n-sending"].state is NotificationState.DROPPED
        assert stored["n-sending"].claimed_until is None
        # a message sent stays sent
        assert stored["n-sent"].state is NotificationState.SENT
        assert stored["n-sent"].last_error == ""
        assert (
            await storage.claim_notifications(
                now=NOW + timedelta(days=2), claimer="b", lease_until=NOW, limit=10
            )
            == []
        )

    storage.run(scenario)


# two replicas, and many requests at once


def test_a_hundred_bookings_of_one_slot_from_two_replicas_one_wins(storage: Backend) -> None:
    async def scenario() -> None:
        async with storage.opened() as one, storage.opened() as two:
            attempts = [
                appointment(f"ap-{n:03d}", code=f"{n:06d}", who=OTHER_PATIENT) for n in range(100)
            ]
            results = await _within(
                asyncio.gather(
                    *(
                        replica.add_appointment(booking)
                        for replica, booking in zip([one, two] * 50, attempts, strict=True)
                    ),
                    return_exceptions=True,
                )
            )
            won = [a for a, r in zip(attempts, results, strict=True) if r is None]
            refused = [r for r in results if r is not None]
            assert len(won) == 1
            assert len(refused) == 99 and all(isinstance(r, SlotTaken) for r in refused)
            day = {"starts_from": SLOT, "starts_before": SLOT + LATER}
            assert await one.appointments(cabin_ids=None, **day) == won
            assert await two.appointments(cabin_ids=None, **day) == won

    asyncio.run(scenario())


def test_a_hundred_bookings_of_one_slot_on_one_storage_one_wins(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        attempts = [appointment(f"ap-{n:03d}", code=f"{n:06d}") for n in range(100)]
        results = await _within(
            asyncio.gather(*map(storage.add_appointment, attempts), return_exceptions=True)
        )
        assert sum(r is None for r in results) == 1
        assert sum(isinstance(r, SlotTaken) for r in results) == 99

    storage.run(scenario)


def test_one_code_booked_at_once_from_two_replicas_is_given_once(storage: Backend) -> None:
    async def scenario() -> None:
        async with storage.opened() as one, storage.opened() as two:
            attempts = [
                appointment(f"ap-{n:02d}", code="777777", starts_at=SLOT + n * LATER)
                for n in range(20)
            ]
            results = await _within(
                asyncio.gather(
                    *(
                        replica.add_appointment(booking)
                        for replica, booking in zip([one, two] * 10, attempts, strict=True)
                    ),
                    return_exceptions=True,
                )
            )
            assert sum(r is None for r in results) == 1
            assert sum(isinstance(r, CodeTaken) for r in results) == 19

    asyncio.run(scenario())


def test_two_replicas_claiming_at_once_never_claim_one_message_twice(storage: Backend) -> None:
    async def scenario() -> None:
        async with storage.opened() as one, storage.opened() as two:
            await one.add_appointment(appointment("ap-1"))
            messages = [
                notification(f"n-{n:03d}", "ap-1", due_at=NOW - timedelta(seconds=n))
                for n in range(120)
            ]
            await one.add_notifications(messages)
            lease = NOW + timedelta(minutes=5)
            claims = await _within(
                asyncio.gather(
                    *(
                        replica.claim_notifications(
                            now=NOW, claimer=name, lease_until=lease, limit=5
                        )
                        for _ in range(12)
                        for replica, name in ((one, "one"), (two, "two"))
                    )
                )
            )
            claimed = [n.notification_id for batch in claims for n in batch]
            assert len(claimed) == len(set(claimed)) == 120
            stored = await two.notifications(states=frozenset({NotificationState.SENDING}))
            assert len(stored) == 120 and all(n.attempts == 1 for n in stored)
            claimers = ["one", "two"] * 12
            by_claimer = {
                n.notification_id: name
                for batch, name in zip(claims, claimers, strict=True)
                for n in batch
            }
            assert {n.notification_id: n.claimed_by for n in stored} == by_claimer

    asyncio.run(scenario())


def test_two_replicas_marking_noshows_at_once_mark_each_once(storage: Backend) -> None:
    async def scenario() -> None:
        async with storage.opened() as one, storage.opened() as two:
            for n in range(40):
                await one.add_appointment(
                    appointment(f"ap-{n:02d}", starts_at=SLOT + n * LATER, code=f"{n:06d}")
                )
            after = SLOT + 40 * LATER
            marks = await _within(
                asyncio.gather(
                    *(
                        replica.mark_noshows(started_before=after, at=after)
                        for replica in (one, two) * 3
                    )
                )
            )
            marked = [a.appointment_id for batch in marks for a in batch]
            assert sorted(marked) == [f"ap-{n:02d}" for n in range(40)]

    asyncio.run(scenario())


# time


@pytest.mark.parametrize(
    ("day", "utc_hour"),
    [
        (date(2026, 3, 30), 7),  # the day after the March change: UTC+2
        (date(2026, 10, 26), 8),  # the day after the October change: UTC+1
        (date(2026, 3, 28), 8),  # the day before the March change: UTC+1
    ],
)
def test_a_nine_oclock_slot_in_paris_stays_at_nine_across_daylight_saving(
    storage: Backend, day: date, utc_hour: int
) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.put_calendar(CabinCalendar("cabin-1", "Murat"))
        calendar = await storage.calendar("cabin-1")
        assert calendar is not None
        zone = ZoneInfo(calendar.timezone)
        weekday = day.weekday()
        await storage.set_opening_hours(
            "cabin-1", [OpeningHours("cabin-1", weekday, time(9), time(12))]
        )
        [hours] = await storage.opening_hours("cabin-1")
        starts_at = datetime.combine(day, hours.opens, tzinfo=zone)
        await storage.add_appointment(appointment("ap-1", starts_at=starts_at, code="090000"))
        stored = await storage.appointment("ap-1")
        assert stored is not None
        assert stored.starts_at == datetime(day.year, day.month, day.day, utc_hour, tzinfo=UTC)
        assert_utc(stored.starts_at)
        local = stored.starts_at.astimezone(zone)
        assert (local.date(), local.time()) == (day, time(9))
        # and it is found in that local day
        midnight = datetime.combine(day, time(0), tzinfo=zone)
        found = await storage.appointments(
            cabin_ids=["cabin-1"],
            starts_from=midnight,
            starts_before=datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone),
        )
        assert [a.appointment_id for a in found] == ["ap-1"]
        assert (
            await storage.appointments(
                cabin_ids=["cabin-1"],
                starts_from=midnight - timedelta(days=1),
                starts_before=midnight,
            )
            == []
        )

    storage.run(scenario)


# what a dump of PostgreSQL shows


def test_a_dump_holds_no_patient_contact_code_or_reason_of_an_appointment(
    postgres_server: PostgresServer,
) -> None:
    name, dsn = fresh_database(postgres_server, "booking")
    family, given, code = "Kerjean-Ølstad", "Anaïs", "583920"
    phone, email = "+33698765432", "anais.kerjean@example.org"
    reason, cancel_reason = "douleur thoracique légère", "hospitalisée à Brest"
    who = wire.PatientSummary(
        family_name=family, given_names=given, birth_date=date(1947, 8, 19), sex=wire.Sex.FEMALE
    )

    async def book_then_cancel() -> None:
        storage = await open_postgres_storage(dsn)
        try:
            booked = dataclasses.replace(
                appointment("ap-dump", code=code, who=who),
                phone=phone,
                email=email,
                reason=reason,
            )
            await storage.add_appointment(booked)
            await storage.add_appointment(
                dataclasses.replace(
                    appointment("ap-dump-2", code="100200", who=who, starts_at=SLOT + LATER),
                    phone=phone,
                    email=email,
                )
            )
            await storage.add_notifications([notification("n-1", "ap-dump")])
            await storage.mark_notification_failed(
                "n-1", error=f"550 <{email}>: unknown user", retry_at=None
            )
            assert await storage.cancel_appointment(
                "ap-dump", at=NOW, reason=cancel_reason, by="patient"
            )
            # everything reads back, found by its keyed hashes
            assert await storage.appointment_by_code("100200") is not None
            assert [a.appointment_id for a in await storage.appointments_of_patient(who)] == [
                "ap-dump-2",
                "ap-dump",
            ]
            stored = await storage.appointment("ap-dump")
            assert stored is not None and stored.cancel_reason == cancel_reason
            [failed] = await storage.notifications(appointment_id="ap-dump")
            assert email in failed.last_error
        finally:
            await storage.close()

    asyncio.run(book_then_cancel())
    dump = postgres_server.dump(name)
    assert b"ap-dump" in dump and b"cabin-1" in dump  # ids are in the clear
    texts = [family, given, "kerjean", "anais", "1947-08-19", code, "100200", phone]
    texts += ["698765432", email, reason, cancel_reason, "Brest", "thoracique"]
    encoded = [t.encode() for t in texts] + [msgspec.json.encode(t)[1:-1] for t in texts]
    found = [t for t in encoded if t.lower() in dump.lower()]
    assert found == []


def test_an_appointment_sealed_under_another_row_does_not_open(
    postgres_server: PostgresServer,
) -> None:
    """A sealed patient copied onto another appointment's row is refused, not shown."""
    name, dsn = fresh_database(postgres_server, "booking")

    async def book() -> None:
        storage = await open_postgres_storage(dsn)
        try:
            await storage.add_appointment(appointment("ap-1", code="100001"))
            await storage.add_appointment(
                appointment("ap-2", code="100002", starts_at=SLOT + LATER, who=OTHER_PATIENT)
            )
        finally:
            await storage.close()

    async def read() -> Appointment | None:
        storage = await open_postgres_storage(dsn)
        try:
            return await storage.appointment("ap-2")
        finally:
            await storage.close()

    asyncio.run(book())
    postgres_server.psql(
        "UPDATE appointments SET patient = (SELECT patient FROM appointments"
        " WHERE appointment_id = 'ap-1') WHERE appointment_id = 'ap-2'",
        name,
    )
    with pytest.raises(SealedValueError):
        asyncio.run(read())


def test_appointments_and_messages_are_sealed_again_after_a_key_rotation(
    postgres_server: PostgresServer,
) -> None:
    _, dsn = fresh_database(postgres_server, "booking")
    cancelled = appointment("ap-2", code="100002", starts_at=SLOT + LATER, who=OTHER_PATIENT)

    async def scenario() -> None:
        storage = await open_postgres_storage(dsn)
        try:
            await storage.add_appointment(appointment("ap-1", code="100001"))
            await storage.add_appointment(cancelled)
            await storage.add_notifications([notification("n-1", "ap-1")])
            await storage.mark_notification_failed("n-1", error="timeout", retry_at=None)
            assert await storage.cancel_appointment("ap-2", at=NOW, reason="parti", by="x")
        finally:
            await storage.close()
        rotated = await open_postgres_storage(dsn, keyring_of(ROTATED_RING_TEXT))
        try:
            # 6 sealed columns of 2 appointments, a message's last error
            assert await rotated.key_usage() == {"k1": 13, "k2": 0}
            assert await rotated.reseal(batch=1) == 3
            assert await rotated.key_usage() == {"k1": 0, "k2": 13}
            assert await rotated.appointment("ap-1") == appointment("ap-1", code="100001")
            found = await rotated.appointment_by_code("100001")
            assert found is not None and found.appointment_id == "ap-1"
            [again] = await rotated.appointments_of_patient(OTHER_PATIENT)
            assert again.cancel_reason == "parti"
            [failed] = await rotated.notifications()
            assert failed.last_error == "timeout"
        finally:
            await rotated.close()

    asyncio.run(scenario())


# a database from before booking


def test_a_sqlite_database_from_before_booking_gains_it_and_keeps_its_agents(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hub.db"
    with sqlite3.connect(path) as db:
        for number, statements in enumerate(SQLITE_MIGRATIONS[:11], start=1):
            for statement in statements:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
        db.execute(
            "INSERT INTO agents (username, password_hash, display_name, cabins, all_cabins,"
            " created_at) VALUES ('nurse', 'x', 'Nurse', '[\"cabin-1\"]', 0,"
            " '2026-11-23T09:00:00.000000Z')"
        )
    db.close()

    async def scenario() -> None:
        storage = await SqliteStorage.open(path, TEST_KEY)
        try:
            nurse = await storage.agent("nurse")
            assert nurse is not None and not nurse.coordinator
            await storage.add_appointment(appointment("ap-1"))
            with pytest.raises(SlotTaken):
                await storage.add_appointment(appointment("ap-2", code="2"))
        finally:
            await storage.close()

    asyncio.run(scenario())


def test_a_postgresql_database_from_before_booking_gains_it_and_keeps_its_agents(
    postgres_server: PostgresServer,
) -> None:
    name, dsn = fresh_database(postgres_server, "booking")

    async def first_schema() -> None:
        first = await PostgresStorage.open(dsn, keyring_of(), migrations=PG_MIGRATIONS[:1])
        await first.close()

    async def scenario() -> None:
        storage = await open_postgres_storage(dsn)
        try:
            nurse = await storage.agent("nurse")
            assert nurse is not None and not nurse.coordinator
            await storage.add_appointment(appointment("ap-1"))
            with pytest.raises(SlotTaken):
                await storage.add_appointment(appointment("ap-2", code="2"))
        finally:
            await storage.close()

    asyncio.run(first_schema())
    postgres_server.psql(
        "INSERT INTO agents (username, password_hash, display_name, cabins, created_at)"
        " VALUES ('nurse', 'x', 'Nurse', '{cabin-1}', now())",
        name,
    )
    asyncio.run(scenario())

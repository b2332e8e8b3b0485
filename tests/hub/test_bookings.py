"""The booking desk (`hub.bookings.BookingDesk`) on a real SQLCipher file: booking, double
booking refused by the database, codes, cancelling, moving, arrivals, no-shows, the rota,
opening hours, closures and public holidays, each change audited."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pytest

import wire
from fleet.servers import PostgresServer
from hub import bookings
from hub.audit import AuditLog
from hub.booking import (
    Appointment,
    AppointmentStatus,
    BookingChannel,
    Notification,
    NotificationChannel,
    NotificationKind,
    NotificationState,
)
from hub.bookings import (
    BOOKING_DESK,
    BookingDesk,
    BookingRefused,
    RefusalReason,
    fold_town,
    normalize_phone,
)
from hub.config import BookingSection, load_hub_config
from hub.errors import ConfigError
from hub.schedule import CabinCalendar, ConflictKind, OpeningHours
from hub.sqlite_storage import SqliteStorage
from hub.storage import ActorKind, AuditEntry, DoctorRecord, Storage
from tests.hub.hub_key import TEST_KEY
from tests.hub.hub_rig import FakeClock, running_hub
from tests.hub.pg_backend import fresh_database, open_postgres_storage, postgres_server

__all__ = ["postgres_server"]  # the module's server fixture

PARIS = ZoneInfo("Europe/Paris")
TIMEOUT_S = 20
NOW = datetime(2026, 3, 20, 10, 0, tzinfo=UTC)  # a Friday; the clocks change on the 29th
MONDAY = date(2026, 3, 23)
PATIENT = wire.PatientSummary(
    family_name="Durand", given_names="Jeanne Marie", birth_date=date(1950, 3, 2)
)
OTHER = wire.PatientSummary(family_name="Roux", given_names="Paul", birth_date=date(1961, 7, 9))


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=PARIS).astimezone(UTC)


class Planner:
    """A planner as `hub.notifications` makes them: one message per kind and channel given."""

    def __init__(self) -> None:
        self.ids = itertools.count()

    def plan(
        self, appointment: Appointment, kinds: set[NotificationKind], now: datetime
    ) -> list[Notification]:
        channels = [NotificationChannel.EMAIL] if appointment.email else []
        channels += [NotificationChannel.SMS] if appointment.phone else []
        due = {
            NotificationKind.REMINDER_DAY: appointment.starts_at - timedelta(days=1),
            NotificationKind.REMINDER_HOUR: appointment.starts_at - timedelta(hours=1),
        }
        return [
            Notification(
                f"n{next(self.ids)}", appointment.appointment_id, channel, kind, due.get(kind, now)
            )
            for kind in sorted(kinds)
            for channel in channels
            if due.get(kind, now) >= now
        ]


@dataclasses.dataclass
class Rig:
    desk: BookingDesk
    storage: Storage
    clock: FakeClock

    async def audit(self, action: str) -> list[AuditEntry]:
        return [e for e in await self.storage.audit_entries() if e.action == action]

    async def book(self, starts_at: datetime, **given: object) -> Appointment:
        fields: dict[str, object] = {
            "patient": PATIENT,
            "email": "jeanne@example.fr",
            "channel": BookingChannel.ONLINE,
            "consent": True,
        }
        fields.update(given)
        return await self.desk.book("cab-murat", starts_at, **fields)  # type: ignore[arg-type]


def doctor(username: str) -> DoctorRecord:
    return DoctorRecord(
        username=username,
        password_hash="-",
        display_name=f"Dr {username}",
        specialty="Médecine générale",
        registration_number=None,
        photo=None,
        failed_attempts=0,
        locked_until=None,
        created_at=NOW,
    )


def new_desk(storage: Storage, clock: FakeClock, **settings: object) -> BookingDesk:
    return BookingDesk(
        storage=storage,
        audit=AuditLog(storage, clock),
        clock=clock,
        settings=BookingSection(**settings),  # type: ignore[arg-type]
        notify=Planner(),
    )


async def seed(desk: BookingDesk, storage: Storage) -> None:
    """Two doctors; Murat and Saint-Flour open 9-12 and 14-17 on weekdays; dr.martin on
    Murat's rota for two weeks."""
    for name in ("dr.martin", "dr.bernard"):
        await storage.add_doctor(doctor(name))
    for cabin_id, town in (("cab-murat", "Murat"), ("cab-flour", "Saint-Flour")):
        await desk.put_calendar(desk.new_calendar(cabin_id, town), by="ops")
        hours = [
            OpeningHours(cabin_id, weekday, opens, closes)
            for weekday in range(5)
            for opens, closes in ((time(9), time(12)), (time(14), time(17)))
        ]
        await desk.set_opening_hours(cabin_id, hours, by="ops")
    for monday in (MONDAY, MONDAY + timedelta(days=7)):
        await desk.add_shift(
            "cab-murat", "dr.martin", at(monday, 8), at(monday + timedelta(days=5), 0), by="coord"
        )


@asynccontextmanager
async def desk_rig(tmp_path: Path, **settings: object) -> AsyncIterator[Rig]:
    storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
    clock = FakeClock(NOW)
    try:
        desk = new_desk(storage, clock, **settings)
        await seed(desk, storage)
        yield Rig(desk, storage, clock)
    finally:
        await storage.close()


def scenario(tmp_path: Path, body: Callable[[Rig], Awaitable[None]], **settings: object) -> None:
    async def bounded() -> None:
        async with asyncio.timeout(TIMEOUT_S), desk_rig(tmp_path, **settings) as rig:
            await body(rig)

    asyncio.run(bounded())


async def refusal(call: Awaitable[object]) -> BookingRefused:
    with pytest.raises(BookingRefused) as caught:
        await call
    return caught.value


# --- booking ------------------------------------------------------------------------------------


def test_booking_online_gives_a_code_queues_messages_and_is_audited(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        free = await rig.desk.free_slots("cab-murat", MONDAY, 1)
        assert len(free) == 18  # 24 slots, 6 kept for walk-ins
        assert free[0].starts_at == at(MONDAY, 9)
        booked = await rig.book(free[0].starts_at, phone="06 12 34 56 78", reason="renouvellement")
        assert booked.status is AppointmentStatus.BOOKED
        assert len(booked.code) == 6 and booked.code.isdigit()
        assert booked.doctor == "dr.martin"
        assert booked.phone == "+33612345678"
        assert booked.consent_at == NOW and booked.booked_by == ""
        assert booked.ends_at - booked.starts_at == timedelta(minutes=15)
        assert await rig.storage.appointment(booked.appointment_id) == booked
        kinds = sorted(
            (n.kind.value, n.channel.value)
            for n in await rig.storage.notifications(appointment_id=booked.appointment_id)
        )
        assert kinds == sorted(
            (kind, channel)
            for kind in ("confirmation", "reminder_day", "reminder_hour")
            for channel in ("email", "sms")
        )
        [entry] = await rig.audit("appointment.booked")
        assert entry.actor_kind is ActorKind.PUBLIC
        assert entry.subject == f"appointment:{booked.appointment_id}"
        again = await rig.desk.free_slots("cab-murat", MONDAY, 1)
        assert booked.starts_at not in {s.starts_at for s in again} and len(again) == 17

    scenario(tmp_path, body)


def test_a_phone_booking_is_the_agents_and_may_be_beyond_the_online_horizon(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        far = MONDAY + timedelta(days=70)
        await rig.desk.add_shift("cab-murat", "dr.bernard", at(far, 8), at(far, 18), by="coord")
        refused = await refusal(rig.book(at(far, 9)))
        assert refused.reason is RefusalReason.TOO_FAR
        booked = await rig.book(
            at(far, 9), channel=BookingChannel.PHONE, booked_by="coord", consent=False, email=""
        )
        assert booked.booked_by == "coord" and booked.consent_at is None
        assert await rig.storage.notifications(appointment_id=booked.appointment_id) == []
        [entry] = await rig.audit("appointment.booked")
        assert (entry.actor_kind, entry.actor_id) == (ActorKind.AGENT, "coord")

    scenario(tmp_path, body)


def test_what_cannot_be_booked_is_refused_with_words_in_french_and_english(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        walk_in = [
            s
            for s in (await rig.desk.agenda(["cab-murat"], MONDAY, 1))[0].days[0].slots
            if s.walk_in
        ]
        cases = [
            (rig.book(at(MONDAY, 9), consent=False), RefusalReason.NO_CONSENT),
            (rig.book(walk_in[0].starts_at), RefusalReason.WALK_IN),
            (rig.book(at(MONDAY, 12, 30)), RefusalReason.NOT_A_SLOT),  # lunch
            (rig.book(at(MONDAY, 9, 5)), RefusalReason.NOT_A_SLOT),  # not on the grid
            (rig.book(at(date(2026, 3, 20), 9)), RefusalReason.PAST),
            (rig.book(at(MONDAY, 9), phone="12"), RefusalReason.BAD_PHONE),
            (rig.book(at(MONDAY, 9), email="jeanne@"), RefusalReason.BAD_EMAIL),
            (
                rig.desk.book(
                    "cab-nowhere",
                    at(MONDAY, 9),
                    patient=PATIENT,
                    channel=BookingChannel.ONLINE,
                    consent=True,
                ),
                RefusalReason.UNKNOWN_CABIN,
            ),
        ]
        for call, reason in cases:
            refused = await refusal(call)
            assert refused.reason is reason
            assert refused.fr and refused.en and refused.fr != refused.en
        assert (
            await rig.storage.appointments(
                cabin_ids=None, starts_from=NOW, starts_before=NOW + timedelta(days=30)
            )
            == []
        )

    scenario(tmp_path, body)


def test_a_slot_is_booked_once_even_by_twenty_at_the_same_time(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        slot = at(MONDAY, 10)
        results = await asyncio.gather(
            *(
                rig.book(slot, patient=msgspec.structs.replace(PATIENT, family_name=f"P{n}"))
                for n in range(20)
            ),
            return_exceptions=True,
        )
        won = [r for r in results if isinstance(r, Appointment)]
        lost = [r for r in results if isinstance(r, BookingRefused)]
        assert len(won) == 1 and len(lost) == 19
        assert {r.reason for r in lost} == {RefusalReason.SLOT_TAKEN}
        assert len(await rig.audit("appointment.booked")) == 1

    scenario(tmp_path, body)


def test_a_code_already_taken_is_drawn_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def body(rig: Rig) -> None:
        first = await rig.book(at(MONDAY, 9))
        draws: Iterator[str] = iter([first.code, first.code, "000042"])
        monkeypatch.setattr(bookings, "new_code", lambda: next(draws))
        second = await rig.book(at(MONDAY, 9, 15), patient=OTHER)
        assert second.code == "000042"

    scenario(tmp_path, body)


def test_the_doctor_with_the_fewest_bookings_that_day_gets_the_next(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        await rig.desk.add_shift(
            "cab-murat", "dr.bernard", at(MONDAY, 8), at(MONDAY, 18), by="coord"
        )
        doctors = [
            (
                await rig.book(
                    at(MONDAY, 9, 15 * n),
                    patient=msgspec.structs.replace(OTHER, family_name=f"P{n}"),
                )
            ).doctor
            for n in range(3)
        ]
        assert doctors == ["dr.bernard", "dr.martin", "dr.bernard"]

    scenario(tmp_path, body)


def test_a_nine_oclock_slot_after_the_march_change_is_nine_local(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        after = date(2026, 3, 30)
        before = date(2026, 3, 27)
        free = {s.starts_at for s in await rig.desk.free_slots("cab-murat", MONDAY, 10)}
        assert datetime(2026, 3, 27, 8, 0, tzinfo=UTC) in free  # 09:00 CET
        assert datetime(2026, 3, 30, 7, 0, tzinfo=UTC) in free  # 09:00 CEST
        booked = await rig.book(at(after, 9))
        assert booked.starts_at.astimezone(PARIS).hour == 9
        assert at(before, 9).hour == 8 and at(after, 9).hour == 7

    scenario(tmp_path, body)


# --- cancelling and moving -----------------------------------------------------------------------


def test_the_patient_cancels_with_code_and_birth_date_and_a_reason(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        booked = await rig.book(at(MONDAY, 9))
        wrong_birth = await refusal(
            rig.desk.cancel_by_patient(booked.code, date(1950, 3, 3), "malade")
        )
        other_code = "000000" if booked.code != "000000" else "000001"
        wrong_code = await refusal(
            rig.desk.cancel_by_patient(other_code, PATIENT.birth_date, "malade")
        )
        garbage = await refusal(rig.desk.cancel_by_patient("12ab", PATIENT.birth_date, "malade"))
        for refused in (wrong_birth, wrong_code, garbage):
            assert refused.reason is RefusalReason.NOT_FOUND
            assert (refused.fr, refused.en) == (wrong_birth.fr, wrong_birth.en)
        no_reason = await refusal(rig.desk.cancel_by_patient(booked.code, PATIENT.birth_date, "  "))
        assert no_reason.reason is RefusalReason.REASON_REQUIRED
        cancelled = await rig.desk.cancel_by_patient(
            f"{booked.code[:3]} {booked.code[3:]}", PATIENT.birth_date, "Je vais mieux"
        )
        assert cancelled.status is AppointmentStatus.CANCELLED
        assert (cancelled.cancelled_by, cancelled.cancel_reason) == ("patient", "Je vais mieux")
        notes = await rig.storage.notifications(appointment_id=booked.appointment_id)
        assert {n.kind for n in notes if n.state is NotificationState.PENDING} == {
            NotificationKind.CANCELLATION
        }
        assert {n.kind for n in notes if n.state is NotificationState.DROPPED} >= {
            NotificationKind.REMINDER_DAY,
            NotificationKind.REMINDER_HOUR,
        }
        [entry] = await rig.audit("appointment.cancelled")
        assert (entry.actor_kind, entry.subject) == (
            ActorKind.PUBLIC,
            f"appointment:{booked.appointment_id}",
        )
        again = await refusal(rig.desk.cancel_by_patient(booked.code, PATIENT.birth_date, "encore"))
        assert again.reason is RefusalReason.NOT_FOUND  # no longer active: the code opens nothing
        assert at(MONDAY, 9) in {
            s.starts_at for s in await rig.desk.free_slots("cab-murat", MONDAY, 1)
        }

    scenario(tmp_path, body)


def test_a_coordinator_cancels_and_moves(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        first = await rig.book(at(MONDAY, 9))
        second = await rig.book(at(MONDAY, 9, 15), patient=OTHER)
        taken = await refusal(rig.desk.move(first.appointment_id, second.starts_at, by="coord"))
        assert taken.reason is RefusalReason.SLOT_TAKEN
        moved = await rig.desk.move(first.appointment_id, at(MONDAY, 14), by="coord")
        assert (moved.starts_at, moved.code) == (at(MONDAY, 14), first.code)
        free = {s.starts_at for s in await rig.desk.free_slots("cab-murat", MONDAY, 1)}
        assert at(MONDAY, 9) in free and at(MONDAY, 14) not in free
        kinds = [
            n.kind for n in await rig.storage.notifications(appointment_id=first.appointment_id)
        ]
        assert NotificationKind.MOVED in kinds
        no_reason = await refusal(rig.desk.cancel(second.appointment_id, by="coord", reason=""))
        assert no_reason.reason is RefusalReason.REASON_REQUIRED
        cancelled = await rig.desk.cancel(
            second.appointment_id, by="coord", reason="appel du patient"
        )
        assert cancelled.cancelled_by == "coord"
        twice = await refusal(rig.desk.cancel(second.appointment_id, by="coord", reason="x"))
        assert twice.reason is RefusalReason.NOT_BOOKED
        unknown = await refusal(rig.desk.cancel("apt-none", by="coord", reason="x"))
        assert unknown.reason is RefusalReason.NOT_FOUND
        assert [e.actor_id for e in await rig.audit("appointment.moved")] == ["coord"]
        assert [e.actor_kind for e in await rig.audit("appointment.cancelled")] == [ActorKind.AGENT]

    scenario(tmp_path, body)


# --- at the cabin, and no-shows -------------------------------------------------------------------


def test_a_code_opens_its_cabin_from_thirty_minutes_before_and_once(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        booked = await rig.book(at(MONDAY, 11))
        desk = rig.desk
        assert await desk.check_code("cab-murat", booked.code, at(MONDAY, 10, 29)) is None
        assert await desk.check_code("cab-murat", booked.code, at(MONDAY, 10, 30)) == booked
        assert await desk.check_code("cab-murat", booked.code, at(MONDAY, 23, 59)) == booked
        assert (
            await desk.check_code("cab-murat", booked.code, at(MONDAY + timedelta(days=1), 0))
            is None
        )
        assert await desk.check_code("cab-flour", booked.code, at(MONDAY, 11)) is None
        assert await desk.check_code("cab-murat", "abcdef", at(MONDAY, 11)) is None
        assert await rig.audit("appointment.arrived") == []  # checking changes nothing
        rig.clock.advance((at(MONDAY, 10, 50) - NOW).total_seconds())
        arrived = await desk.arrive(booked.appointment_id, "consult-1")
        assert arrived is not None and arrived.status is AppointmentStatus.ARRIVED
        assert arrived.consultation_id == "consult-1"
        assert await desk.check_code("cab-murat", booked.code, at(MONDAY, 11)) is None  # used
        assert await desk.arrive(booked.appointment_id, "consult-2") is None
        [entry] = await rig.audit("appointment.arrived")
        assert (entry.actor_kind, entry.actor_id, entry.consultation_id) == (
            ActorKind.CABIN,
            "cab-murat",
            "consult-1",
        )
        done = await desk.fulfil(booked.appointment_id)
        assert done is not None and done.status is AppointmentStatus.FULFILLED

    scenario(tmp_path, body)


def test_a_booking_becomes_a_noshow_thirty_minutes_after_its_start(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        booked = await rig.book(at(MONDAY, 9))
        later = await rig.book(at(MONDAY, 9, 15), patient=OTHER)
        rig.clock.advance((at(MONDAY, 9, 29) - NOW).total_seconds())
        assert await rig.desk.mark_noshows() == []
        rig.clock.advance(60 + 1)
        [marked] = await rig.desk.mark_noshows()
        assert marked.appointment_id == booked.appointment_id
        assert marked.status is AppointmentStatus.NOSHOW
        assert await rig.desk.mark_noshows() == []  # marked once
        [entry] = await rig.audit("appointment.noshow")
        assert (entry.actor_kind, entry.subject) == (
            ActorKind.HUB,
            f"appointment:{booked.appointment_id}",
        )
        stored = await rig.storage.appointment(later.appointment_id)
        assert stored is not None and stored.status is AppointmentStatus.BOOKED
        late = await rig.desk.arrive(booked.appointment_id, None)  # a late patient is still seen
        assert late is not None and late.status is AppointmentStatus.ARRIVED

    scenario(tmp_path, body)


def test_the_noshow_timer_runs_and_stops(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        booked = await rig.book(at(MONDAY, 9))
        rig.clock.advance((at(MONDAY, 10) - NOW).total_seconds())
        rig.desk.start(every_s=0.01)
        try:
            for _ in range(500):
                stored = await rig.storage.appointment(booked.appointment_id)
                if stored is not None and stored.status is AppointmentStatus.NOSHOW:
                    break
                await asyncio.sleep(0.01)
            else:
                pytest.fail("the timer did not mark the no-show")
        finally:
            await rig.desk.stop()

    scenario(tmp_path, body)


# --- the rota, hours, closures ------------------------------------------------------------------


def test_rota_changes_allowed_and_refused(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        desk = rig.desk
        # several doctors on one day; one doctor on two cabins at the same time: both allowed
        await desk.add_shift("cab-murat", "dr.bernard", at(MONDAY, 8), at(MONDAY, 18), by="coord")
        await desk.add_shift("cab-flour", "dr.martin", at(MONDAY, 8), at(MONDAY, 18), by="coord")
        overlap = await refusal(
            desk.add_shift("cab-murat", "dr.martin", at(MONDAY, 10), at(MONDAY, 11), by="coord")
        )
        assert overlap.reason is RefusalReason.ROTA_CONFLICT
        assert [c.kind for c in overlap.conflicts] == [ConflictKind.DOCTOR_OVERLAP]
        assert "dr.martin" in overlap.fr
        backwards = await refusal(
            desk.add_shift("cab-murat", "dr.bernard", at(MONDAY, 18), at(MONDAY, 8), by="coord")
        )
        assert [c.kind for c in backwards.conflicts] == [ConflictKind.ENDS_BEFORE_START]
        saturday = MONDAY + timedelta(days=5)
        closed = await refusal(
            desk.add_shift("cab-flour", "dr.bernard", at(saturday, 8), at(saturday, 18), by="coord")
        )
        assert [c.kind for c in closed.conflicts] == [ConflictKind.CABIN_CLOSED]
        unknown = await refusal(
            desk.add_shift("cab-murat", "dr.nobody", at(MONDAY, 8), at(MONDAY, 9), by="c")
        )
        assert unknown.reason is RefusalReason.UNKNOWN_DOCTOR
        assert len(await rig.audit("shift.added")) == 2 + 2  # the rig's two weeks, and these two

    scenario(tmp_path, body)


def test_a_shift_whose_appointments_would_have_no_doctor_is_not_removed(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        desk = rig.desk
        martin = (
            await rig.storage.shifts(
                starts_before=at(MONDAY, 23), ends_after=at(MONDAY, 0), doctor="dr.martin"
            )
        )[0]
        await rig.book(at(MONDAY, 9))
        await rig.book(at(MONDAY + timedelta(days=1), 14), patient=OTHER)
        refused = await refusal(desk.remove_shift(martin.shift_id, by="coord"))
        [conflict] = refused.conflicts
        assert conflict.kind is ConflictKind.LEAVES_APPOINTMENTS and conflict.appointments == 2
        assert "2 rendez-vous" in refused.fr and "lundi 23 mars 2026 à 09:00" in refused.fr
        shorter = await refusal(
            desk.change_shift(martin.shift_id, martin.starts_at, at(MONDAY, 12), by="coord")
        )
        assert shorter.conflicts[0].appointments == 1
        await desk.add_shift(
            "cab-murat", "dr.bernard", at(MONDAY, 8), at(MONDAY + timedelta(days=5), 0), by="coord"
        )
        removed = await desk.remove_shift(martin.shift_id, by="coord")
        assert removed == martin
        [entry] = await rig.audit("shift.removed")
        assert entry.subject == f"shift:{martin.shift_id}"
        gone = await refusal(desk.remove_shift(martin.shift_id, by="coord"))
        assert [c.kind for c in gone.conflicts] == [ConflictKind.UNKNOWN_SHIFT]

    scenario(tmp_path, body)


def test_a_shift_that_has_started_is_shortened_not_removed(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        desk = rig.desk
        martin = (
            await rig.storage.shifts(
                starts_before=at(MONDAY, 23), ends_after=at(MONDAY, 0), doctor="dr.martin"
            )
        )[0]
        rig.clock.advance((at(MONDAY, 10) - NOW).total_seconds())  # it runs since 08:00
        started = await refusal(desk.remove_shift(martin.shift_id, by="coord"))
        assert [c.kind for c in started.conflicts] == [ConflictKind.HAS_STARTED]
        moved_start = await refusal(
            desk.change_shift(martin.shift_id, at(MONDAY, 9), martin.ends_at, by="coord")
        )
        assert [c.kind for c in moved_start.conflicts] == [ConflictKind.HAS_STARTED]
        shorter = await desk.change_shift(
            martin.shift_id, martin.starts_at, at(MONDAY + timedelta(days=2), 0), by="coord"
        )
        assert shorter.shift_id == martin.shift_id and shorter.created_by == martin.created_by
        [stored] = await rig.storage.shifts(
            starts_before=at(MONDAY, 23), ends_after=at(MONDAY, 0), doctor="dr.martin"
        )
        assert stored.ends_at == at(MONDAY + timedelta(days=2), 0)
        assert await desk.free_slots("cab-murat", MONDAY + timedelta(days=2), 1) == []
        [entry] = await rig.audit("shift.changed")
        assert entry.subject == f"shift:{martin.shift_id}"

    scenario(tmp_path, body)


def test_hours_and_closures_are_refused_over_booked_appointments(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        desk = rig.desk
        await rig.book(at(MONDAY, 16))
        mornings = [OpeningHours("cab-murat", d, time(9), time(12)) for d in range(5)]
        refused = await refusal(desk.set_opening_hours("cab-murat", mornings, by="ops"))
        assert refused.reason is RefusalReason.HAS_APPOINTMENTS and "1 rendez-vous" in refused.fr
        overlapping = [
            OpeningHours("cab-murat", 0, time(9), time(12)),
            OpeningHours("cab-murat", 0, time(11), time(13)),
        ]
        assert (
            await refusal(desk.set_opening_hours("cab-murat", overlapping, by="ops"))
        ).reason is RefusalReason.BAD_HOURS
        closure = await refusal(desk.add_closure("cab-murat", MONDAY, MONDAY, "travaux", by="ops"))
        assert closure.reason is RefusalReason.HAS_APPOINTMENTS
        added = await desk.add_closure(
            "cab-murat", MONDAY + timedelta(days=1), MONDAY + timedelta(days=2), "travaux", by="ops"
        )
        assert await desk.free_slots("cab-murat", added.first_day, 2) == []
        assert len(await rig.audit("closure.added")) == 1

    scenario(tmp_path, body)


def test_every_cabin_closes_on_the_public_holidays_in_one_action(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        easter_monday = date(2026, 4, 6)
        await rig.desk.add_shift(
            "cab-murat", "dr.bernard", at(easter_monday, 8), at(easter_monday, 18), by="c"
        )
        await rig.book(at(easter_monday, 9), channel=BookingChannel.PHONE, booked_by="c")
        result = await rig.desk.close_on_public_holidays(2026, by="ops")
        assert len(result.added) == 11 + 10  # Murat keeps Easter Monday: a booking that day
        assert [(cabin, day) for cabin, day, _ in result.refused] == [("cab-murat", easter_monday)]
        assert {c.reason for c in result.added} >= {"Lundi de Pâques", "Noël", "Fête nationale"}
        again = await rig.desk.close_on_public_holidays(2026, by="ops")
        assert again.added == () and len(again.refused) == 1
        may_first = date(2026, 5, 1)
        await rig.desk.add_shift(
            "cab-flour",
            "dr.bernard",
            at(may_first - timedelta(days=1), 8),
            at(may_first + timedelta(days=1), 18),
            by="c",
        )
        assert await rig.desk.free_slots("cab-flour", may_first, 1) == []

    scenario(tmp_path, body)


def test_towns_and_cabins_are_found_without_accents_case_or_abbreviations(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        assert await rig.desk.towns() == ["Murat", "Saint-Flour"]
        for typed in ("saint flour", "ST-FLOUR", "st flo", "Saint-Flour"):
            assert [c.cabin_id for c in await rig.desk.cabins_in_town(typed)] == ["cab-flour"]
        assert await rig.desk.cabins_in_town("  ") == []
        assert await rig.desk.cabins_in_town("Paris") == []
        assert fold_town("Île-d'Yeu") == "ile d yeu"

    scenario(tmp_path, body)


def test_the_agenda_shows_every_slot_appointment_and_shift(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        booked = await rig.book(at(MONDAY, 9))
        [murat, flour] = await rig.desk.agenda(["cab-murat", "cab-flour"], MONDAY, 7)
        monday = murat.days[0]
        assert len(murat.days) == 7 and monday.day == MONDAY
        assert len(monday.slots) == 24 and sum(s.walk_in for s in monday.slots) == 6
        assert monday.appointments == (booked,)
        assert monday.appointment_at(monday.slots[0]) == booked
        assert monday.appointment_at(monday.slots[1]) is None
        assert [s.doctor for s in monday.shifts] == ["dr.martin"]
        assert murat.days[5].slots == ()  # Saturday
        assert all(day.slots == () for day in flour.days)  # nobody on its rota

    scenario(tmp_path, body)


def test_phone_numbers_become_e164() -> None:
    assert normalize_phone("06 12 34 56 78") == "+33612345678"
    assert normalize_phone("+33 (0)6 12 34 56 78") == "+33612345678"
    assert normalize_phone("0033612345678") == "+33612345678"
    assert normalize_phone("+44 20 7946 0958") == "+442079460958"
    assert normalize_phone("") == ""
    for bad in ("12345", "06 12 34 56 7", "+33 6 12 34 56 78 99 99 99", "06-12-34-56-7x"):
        with pytest.raises(BookingRefused):
            normalize_phone(bad)


def test_calendar_settings_are_checked(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        for bad in (
            CabinCalendar("cab-x", "X", timezone="Mars/Olympus"),
            CabinCalendar("cab-x", "X", slot_minutes=0),
            CabinCalendar("cab-x", "X", walk_in_share=1.0),
            CabinCalendar("cab-x", " "),
        ):
            assert (
                await refusal(rig.desk.put_calendar(bad, by="ops"))
            ).reason is RefusalReason.BAD_CALENDAR
        assert await rig.storage.calendar("cab-x") is None

    scenario(tmp_path, body)


# --- two replicas on one PostgreSQL database --------------------------------------------------


@asynccontextmanager
async def two_replicas(server: PostgresServer) -> AsyncIterator[tuple[Rig, Rig]]:
    _, dsn = fresh_database(server, "desk")
    first = await open_postgres_storage(dsn)
    second = await open_postgres_storage(dsn)
    clock = FakeClock(NOW)
    try:
        one, two = new_desk(first, clock), new_desk(second, clock)
        await seed(one, first)
        yield Rig(one, first, clock), Rig(two, second, clock)
    finally:
        await first.close()
        await second.close()


def test_a_hundred_bookings_of_one_slot_on_two_replicas_one_wins(
    postgres_server: PostgresServer,
) -> None:
    async def body() -> None:
        async with asyncio.timeout(60), two_replicas(postgres_server) as (one, two):
            slot = at(MONDAY, 10)
            calls = [
                (one if n % 2 else two).book(
                    slot, patient=msgspec.structs.replace(PATIENT, family_name=f"P{n}")
                )
                for n in range(100)
            ]
            results = await asyncio.gather(*calls, return_exceptions=True)
            won = [r for r in results if isinstance(r, Appointment)]
            lost = [r for r in results if isinstance(r, BookingRefused)]
            assert len(won) == 1 and len(lost) == 99, [
                r for r in results if isinstance(r, Exception) and not isinstance(r, BookingRefused)
            ]
            assert {r.reason for r in lost} == {RefusalReason.SLOT_TAKEN}
            held = await two.storage.appointments(
                cabin_ids=["cab-murat"], starts_from=slot, starts_before=slot + timedelta(minutes=1)
            )
            assert [a.appointment_id for a in held] == [won[0].appointment_id]
            assert len(await one.audit("appointment.booked")) == 1

    asyncio.run(body())


def test_two_replicas_mark_each_noshow_once(postgres_server: PostgresServer) -> None:
    async def body() -> None:
        async with asyncio.timeout(60), two_replicas(postgres_server) as (one, two):
            free = (await one.desk.free_slots("cab-murat", MONDAY, 1))[:6]
            for n, slot in enumerate(free):
                await one.book(
                    slot.starts_at, patient=msgspec.structs.replace(PATIENT, family_name=f"P{n}")
                )
            one.clock.advance((at(MONDAY, 12) - NOW).total_seconds())
            first, second = await asyncio.gather(one.desk.mark_noshows(), two.desk.mark_noshows())
            marked = [a.appointment_id for a in first + second]
            assert len(marked) == len(set(marked)) == 6  # each one, once
            entries = await one.audit("appointment.noshow")
            assert sorted(e.subject or "" for e in entries) == sorted(
                f"appointment:{m}" for m in marked
            )

    asyncio.run(body())


def test_the_hub_builds_one_desk_whose_noshow_timer_runs_until_it_stops(tmp_path: Path) -> None:
    async def body() -> None:
        async with asyncio.timeout(30), running_hub(tmp_path) as hub_rig:
            desk = hub_rig.hub.app[BOOKING_DESK]
            assert desk.timer_running
            assert desk.settings.noshow_after_min == 30
            await hub_rig.hub.stop()
            assert not desk.timer_running

    asyncio.run(body())


def test_the_booking_section_is_checked() -> None:
    assert load_hub_config(None).booking == BookingSection()
    custom = load_hub_config(None, overrides={"booking": {"slot_minutes": 20}})
    assert custom.booking.slot_minutes == 20 and custom.booking.walk_in_share == 0.25
    for bad, said in (
        ({"timezone": "Mars/Olympus"}, "booking: `timezone`"),
        ({"walk_in_share": 1.0}, "booking.walk_in_share"),
        ({"slot_minutes": 2}, "booking.slot_minutes"),
        ({"slots_minutes": 15}, "booking"),
    ):
        with pytest.raises(ConfigError, match=re.escape(said)):
            load_hub_config(None, overrides={"booking": bad})

"""The rota's overlaps refused by the database (20 at once: one wins), appointments handed to
another doctor (only the booked ones), every appointment read a page at a time grouped by
patient, and the operators' export tokens, on both backends."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
from collections.abc import Awaitable
from datetime import UTC, datetime, time, timedelta
from typing import TypeVar

from hub.booking import Appointment, AppointmentStatus, CabinSetup, ShiftOverlap
from hub.schedule import CabinCalendar, Closure, OpeningHours, RotaShift
from hub.storage import Storage
from tests.hub.storage_conformance.conftest import Backend
from tests.hub.storage_conformance.samples import (
    NOW,
    OTHER_PATIENT,
    PATIENT,
    SLOT,
    appointment,
)

T = TypeVar("T")
TIMEOUT_S = 60.0
MONDAY = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
LATER = timedelta(minutes=15)


async def _within(awaitable: Awaitable[T]) -> T:
    async with asyncio.timeout(TIMEOUT_S):
        return await awaitable


def _shift(
    shift_id: str,
    *,
    doctor: str = "dr.é",
    cabin_id: str = "cabin-1",
    start_h: float = 0,
    hours: float = 8,
) -> RotaShift:
    starts_at = MONDAY + timedelta(hours=start_h)
    return RotaShift(
        shift_id, doctor, cabin_id, starts_at, starts_at + timedelta(hours=hours), "coord", NOW
    )


def _overlapping(count: int) -> list[RotaShift]:
    """`count` shifts of one doctor on one cabin, each overlapping all the others."""
    return [_shift(f"s-{n:02d}", start_h=n * 0.1, hours=8) for n in range(count)]


def _check_one_won(results: list[BaseException | None], stored: list[RotaShift]) -> None:
    won = [r for r in results if r is None]
    refused = [r for r in results if r is not None]
    assert len(won) == 1, results
    assert all(isinstance(r, ShiftOverlap) for r in refused), refused
    assert len(stored) == 1


def test_twenty_overlapping_shifts_added_at_once_from_two_replicas_one_wins(
    storage: Backend,
) -> None:
    async def scenario() -> None:
        async with storage.opened() as one, storage.opened() as two:
            shifts = _overlapping(20)
            replicas = [one, two] * 10 if storage.name == "postgresql" else [one] * 20
            results = await _within(
                asyncio.gather(
                    *(r.add_shift(s) for r, s in zip(replicas, shifts, strict=True)),
                    return_exceptions=True,
                )
            )
            stored = await one.shifts(
                starts_before=MONDAY + timedelta(days=1), ends_after=MONDAY, doctor="dr.é"
            )
            _check_one_won(list(results), stored)
            assert (
                await two.shifts(
                    starts_before=MONDAY + timedelta(days=1), ends_after=MONDAY, doctor="dr.é"
                )
                == stored
            )

    asyncio.run(scenario())


def test_twenty_overlapping_shifts_added_at_once_on_one_storage_one_wins(
    storage: Backend,
) -> None:
    async def scenario(storage: Storage) -> None:
        results = await _within(
            asyncio.gather(*map(storage.add_shift, _overlapping(20)), return_exceptions=True)
        )
        stored = await storage.shifts(
            starts_before=MONDAY + timedelta(days=1), ends_after=MONDAY, doctor="dr.é"
        )
        _check_one_won(list(results), stored)

    storage.run(scenario)


def test_shifts_that_touch_or_differ_in_doctor_or_cabin_are_not_overlaps(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_shift(_shift("a", hours=8))
        await storage.add_shift(_shift("b", start_h=8, hours=4))  # starts when "a" ends
        await storage.add_shift(_shift("c", cabin_id="cabin-2"))  # a remote doctor
        await storage.add_shift(_shift("d", doctor="dr.other"))  # two doctors at once
        try:
            await storage.add_shift(_shift("e", start_h=7, hours=2))
        except ShiftOverlap:
            pass
        else:
            raise AssertionError("an overlap was stored")
        stored = await storage.shifts(starts_before=MONDAY + timedelta(days=1), ends_after=MONDAY)
        assert sorted(s.shift_id for s in stored) == ["a", "b", "c", "d"]
        # a removed shift's time can be covered again
        assert await storage.remove_shift("a")
        await storage.add_shift(_shift("f", start_h=1, hours=2))

    storage.run(scenario)


def test_booked_appointments_are_reassigned_others_left_as_they_are(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_appointment(appointment("ap-1", code="100001"))
        await storage.add_appointment(
            appointment("ap-2", code="100002", starts_at=SLOT + LATER, who=OTHER_PATIENT)
        )
        await storage.add_appointment(
            appointment("ap-3", code="100003", starts_at=SLOT + 2 * LATER)
        )
        await storage.mark_arrived("ap-3", at=SLOT, consultation_id="c-1")
        changed = await storage.reassign_appointments(
            ["ap-2", "ap-3", "ap-1", "ap-9"], doctor="dr.b"
        )
        assert [a.appointment_id for a in changed] == ["ap-1", "ap-2"]  # by start
        assert changed[0] == dataclasses.replace(appointment("ap-1", code="100001"), doctor="dr.b")
        assert all(a.status is AppointmentStatus.BOOKED for a in changed)
        stored = {
            a.appointment_id: a
            for a in await storage.appointments(
                cabin_ids=None, starts_from=SLOT, starts_before=SLOT + 3 * LATER
            )
        }
        assert stored["ap-1"].doctor == stored["ap-2"].doctor == "dr.b"
        assert stored["ap-3"].doctor == "dr.é"  # arrived: the patient is with their doctor
        assert await storage.reassign_appointments([], doctor="dr.b") == []

    storage.run(scenario)


def test_every_appointment_is_read_page_by_page_a_patients_together(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        ids = []
        for n in range(11):
            who = PATIENT if n % 2 else OTHER_PATIENT
            await storage.add_appointment(
                appointment(f"ap-{n:02d}", code=f"2000{n:02d}", starts_at=SLOT + n * LATER, who=who)
            )
            ids.append(f"ap-{n:02d}")
        await storage.cancel_appointment("ap-03", at=NOW, reason="r", by="patient")
        read: list[Appointment] = []
        after = ""
        pages = 0
        while True:
            page = await storage.appointments_page(after=after, limit=4)
            pages += 1
            read += page.appointments
            if not page.next_after:
                break
            after = page.next_after
        assert pages == 3
        assert sorted(a.appointment_id for a in read) == ids
        assert {a.status for a in read} == {AppointmentStatus.BOOKED, AppointmentStatus.CANCELLED}
        patients = [a.patient for a in read]
        # one patient's appointments come together: the patient changes once
        changes = sum(1 for x, y in itertools.pairwise(patients) if x != y)
        assert changes == 1
        empty = await storage.appointments_page(after="", limit=100)
        assert len(empty.appointments) == 11 and empty.next_after == ""

    storage.run(scenario)


def test_an_operator_token_is_kept_as_its_hash_replaced_and_revoked(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        first = hashlib.sha256(b"first token").hexdigest()
        second = hashlib.sha256(b"second token").hexdigest()
        assert await storage.operator_token_name(first) is None
        await storage.put_operator_token("mairie", first, at=NOW)
        await storage.put_operator_token("archives", second, at=NOW)
        assert await storage.operator_token_name(first) == "mairie"
        assert await storage.operator_token_name(second) == "archives"
        third = hashlib.sha256(b"third token").hexdigest()
        await storage.put_operator_token("mairie", third, at=NOW + LATER)  # a new one
        assert await storage.operator_token_name(first) is None
        assert await storage.operator_token_name(third) == "mairie"
        assert await storage.revoke_operator_token("mairie")
        assert not await storage.revoke_operator_token("mairie")
        assert await storage.operator_token_name(third) is None
        assert await storage.operator_token_name(second) == "archives"

    storage.run(scenario)


def test_cabin_setups_are_what_calendar_hours_and_closures_give_read_together(
    storage: Backend,
) -> None:
    async def scenario(storage: Storage) -> None:
        first = MONDAY.date()
        for n, town in ((1, "Murat"), (2, "Allanche"), (3, "Riom")):
            await storage.put_calendar(CabinCalendar(f"cabin-{n}", town, slot_minutes=10 + n))
        await storage.set_opening_hours(
            "cabin-1",
            [
                OpeningHours("cabin-1", 2, time(14), time(18)),
                OpeningHours("cabin-1", 0, time(9), time(12)),
                OpeningHours("cabin-1", 0, time(14), time(17, 30)),
            ],
        )
        await storage.set_opening_hours("cabin-2", [OpeningHours("cabin-2", 4, time(8), time(9))])
        await storage.add_closure(Closure("c-b", "cabin-1", first, first + timedelta(days=1), "x"))
        await storage.add_closure(Closure("c-a", "cabin-1", first, first, "y"))
        await storage.add_closure(
            Closure("c-old", "cabin-1", first - timedelta(days=9), first - timedelta(days=8), "z")
        )
        await storage.add_closure(
            Closure("c-2", "cabin-2", first + timedelta(days=3), first + timedelta(days=3), "w")
        )
        last = first + timedelta(days=31)
        wanted = ["cabin-2", "nowhere", "cabin-1", "cabin-3"]
        setups = await storage.cabin_setups(wanted, first_day=first, last_day=last)
        expected = []
        for cabin_id in wanted:
            calendar = await storage.calendar(cabin_id)
            if calendar is None:
                continue
            expected.append(
                CabinSetup(
                    calendar,
                    tuple(await storage.opening_hours(cabin_id)),
                    tuple(await storage.closures(cabin_id, first_day=first, last_day=last)),
                )
            )
        assert setups == expected
        assert [s.calendar.cabin_id for s in setups] == ["cabin-2", "cabin-1", "cabin-3"]
        assert [c.closure_id for c in setups[1].closures] == ["c-a", "c-b"]
        assert setups[2].hours == () and setups[2].closures == ()
        assert await storage.cabin_setups([], first_day=first, last_day=last) == []

    storage.run(scenario)


def test_a_shift_changes_its_times_in_place_and_never_onto_another(storage: Backend) -> None:
    async def scenario(storage: Storage) -> None:
        await storage.add_shift(_shift("a", hours=4))
        await storage.add_shift(_shift("b", start_h=6, hours=4))
        shorter = _shift("a", hours=2)
        assert await storage.change_shift(shorter)
        longer_b = _shift("b", start_h=2, hours=8)  # now touches "a": allowed
        assert await storage.change_shift(longer_b)
        try:
            await storage.change_shift(_shift("a", hours=3))
        except ShiftOverlap:
            pass
        else:
            raise AssertionError("an overlap was stored")
        assert not await storage.change_shift(_shift("nowhere"))
        stored = await storage.shifts(starts_before=MONDAY + timedelta(days=1), ends_after=MONDAY)
        assert stored == [shorter, longer_b]

    storage.run(scenario)


def test_two_shifts_changed_onto_each_other_at_once_from_two_replicas_one_wins(
    storage: Backend,
) -> None:
    async def scenario() -> None:
        async with storage.opened() as one, storage.opened() as two:
            # each change alone fits; together they overlap from 4 to 5
            await one.add_shift(_shift("a", hours=2))
            await one.add_shift(_shift("b", start_h=6, hours=2))
            for _ in range(5):
                results = await _within(
                    asyncio.gather(
                        one.change_shift(_shift("a", hours=5)),
                        two.change_shift(_shift("b", start_h=4, hours=4)),
                        return_exceptions=True,
                    )
                )
                assert [r is True for r in results].count(True) == 1, results
                assert [isinstance(r, ShiftOverlap) for r in results].count(True) == 1, results
                assert await one.change_shift(_shift("a", hours=2))
                assert await one.change_shift(_shift("b", start_h=6, hours=2))

    asyncio.run(scenario())

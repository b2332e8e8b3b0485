"""The free-slot search's cache of slot spans (`SlotSpanCache`) gives what `day_slot_spans`
gives, day by day, across the daylight-saving change, closures and part-day shifts; a changed
rota or opening hours is never answered from the cache; and the desk's search finds the same
free slots as slots minus held spans computed the plain way."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import date, time, timedelta
from pathlib import Path

from hub.schedule import (
    CabinCalendar,
    Closure,
    OpeningHours,
    RotaShift,
    SlotSpanCache,
    day_slot_spans,
    day_slots,
    slots_not_held,
)
from tests.hub.test_bookings import MONDAY, NOW, OTHER, Rig, at, scenario

CAL = CabinCalendar("cab-1", "Murat", walk_in_share=0.2)
HOURS = [
    OpeningHours("cab-1", weekday, opens, closes)
    for weekday in range(6)
    for opens, closes in ((time(9), time(12)), (time(14), time(17, 30)))
]
FIRST = date(2026, 3, 16)  # two weeks before the March change
DAYS = 28


def _rota() -> list[RotaShift]:
    shifts = []
    for week in range(4):
        monday = FIRST + timedelta(days=7 * week)
        shifts.append(
            RotaShift(f"w{week}", "dr.a", "cab-1", at(monday, 0), at(monday + timedelta(days=7), 0))
        )
        shifts.append(
            RotaShift(
                f"t{week}",
                "dr.b",
                "cab-1",
                at(monday + timedelta(days=1), 10, 30),
                at(monday + timedelta(days=1), 15),
            )
        )
    shifts.append(RotaShift("other", "dr.c", "cab-2", at(FIRST, 0), at(FIRST, 23)))
    return shifts


def _plain(
    hours: list[OpeningHours], closures: list[Closure], shifts: list[RotaShift]
) -> list[list[object]]:
    return [
        list(day_slot_spans(CAL, hours, closures, shifts, FIRST + timedelta(days=n)))
        for n in range(DAYS)
    ]


def test_the_cache_gives_what_day_slot_spans_gives_and_follows_every_change() -> None:
    cache = SlotSpanCache()
    shifts = _rota()
    closures = [Closure("c1", "cab-1", FIRST + timedelta(days=2), FIRST + timedelta(days=3), "x")]
    first = cache.days(CAL, HOURS, closures, shifts, FIRST, DAYS)
    assert first == _plain(HOURS, closures, shifts)
    assert sum(map(len, first)) > 400
    bookable = cache.bookable(CAL, HOURS, closures, shifts, FIRST, DAYS)
    assert bookable == [
        [
            s
            for s in day_slots(CAL, HOURS, closures, shifts, FIRST + timedelta(days=n))
            if not s.walk_in
        ]
        for n in range(DAYS)
    ]
    again = cache.days(CAL, HOURS, closures, shifts, FIRST, DAYS)
    assert again == first and all(a is b for a, b in zip(again, first, strict=True) if a)
    # a shorter shift, other hours, another calendar, no closure: never the cached answer
    shorter = [
        dataclasses.replace(s, ends_at=s.ends_at - timedelta(hours=30)) if s.shift_id == "w1" else s
        for s in shifts
    ]
    assert cache.days(CAL, HOURS, closures, shorter, FIRST, DAYS) == _plain(
        HOURS, closures, shorter
    )
    fewer_hours = HOURS[:-2]
    assert cache.days(CAL, fewer_hours, closures, shifts, FIRST, DAYS) == _plain(
        fewer_hours, closures, shifts
    )
    longer_slots = dataclasses.replace(CAL, slot_minutes=20)
    assert cache.days(longer_slots, HOURS, [], shifts, FIRST, DAYS) == [
        day_slot_spans(longer_slots, HOURS, [], shifts, FIRST + timedelta(days=n))
        for n in range(DAYS)
    ]
    assert cache.days(CAL, HOURS, [], shifts, FIRST, DAYS) == _plain(HOURS, [], shifts)


def test_the_cache_stays_within_its_bounds() -> None:
    cache = SlotSpanCache(max_days=40)
    shifts = _rota()
    for slot_minutes in (10, 15, 20, 30):
        calendar = dataclasses.replace(CAL, slot_minutes=slot_minutes)
        for _ in range(2):
            got = cache.days(calendar, HOURS, [], shifts, FIRST, DAYS)
            assert got == [
                day_slot_spans(calendar, HOURS, [], shifts, FIRST + timedelta(days=n))
                for n in range(DAYS)
            ]
    held = cache._setups
    assert sum(map(len, held.values())) <= 40
    # 28 days a setting: the one used before the last is dropped whole
    assert list(held) == [(calendar, tuple(HOURS))] and len(held[(calendar, tuple(HOURS))]) == 28
    small = SlotSpanCache(max_days=3)
    got = small.days(CAL, HOURS, [], shifts, FIRST, DAYS)
    assert got == [
        day_slot_spans(CAL, HOURS, [], shifts, FIRST + timedelta(days=n)) for n in range(DAYS)
    ]
    assert sum(map(len, small._setups.values())) == 3


def test_the_desks_free_slots_are_the_plain_slots_minus_the_held_ones(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        desk = rig.desk

        async def plain(cabin_id: str) -> list[object]:
            calendar = await rig.storage.calendar(cabin_id)
            assert calendar is not None
            hours = await rig.storage.opening_hours(cabin_id)
            shifts = await rig.storage.shifts(
                starts_before=at(MONDAY + timedelta(days=15), 0),
                ends_after=at(MONDAY - timedelta(days=5), 0),
                cabin_id=cabin_id,
            )
            slots = [
                slot
                for n in range(14)
                for slot in day_slots(calendar, hours, [], shifts, MONDAY + timedelta(days=n))
                if slot.starts_at > rig.clock.now()
            ]
            booked = await rig.storage.appointments(
                cabin_ids=[cabin_id],
                starts_from=NOW - timedelta(days=1),
                starts_before=at(MONDAY + timedelta(days=15), 0),
            )
            return list(slots_not_held(slots, [a for a in booked if a.status.value != "cancelled"]))

        await rig.book(at(MONDAY, 9))
        await rig.book(at(MONDAY, 9, 30), patient=OTHER)
        for _ in range(2):  # the second answer comes from the cache
            found = await desk.free_slots_of(["cab-murat", "cab-flour"], MONDAY, 14)
            assert found["cab-murat"] == await plain("cab-murat")
            assert found["cab-flour"] == []  # nobody on its rota
        await desk.add_shift(
            "cab-flour", "dr.bernard", at(MONDAY, 8), at(MONDAY + timedelta(days=2), 0), by="c"
        )
        cancelled = await rig.book(at(MONDAY, 10))
        await desk.cancel(cancelled.appointment_id, reason="r", by="coord")
        found = await desk.free_slots_of(["cab-murat", "cab-flour"], MONDAY, 14)
        assert found["cab-murat"] == await plain("cab-murat")
        assert found["cab-flour"] == await plain("cab-flour") != []

    scenario(tmp_path, body)


def test_many_searches_at_once_agree(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        answers = await asyncio.gather(
            *(rig.desk.free_slots_of(["cab-murat", "cab-flour"], MONDAY, 14) for _ in range(8))
        )
        assert all(a == answers[0] for a in answers) and answers[0]["cab-murat"]

    scenario(tmp_path, body)

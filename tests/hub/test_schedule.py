"""Slots from opening hours x the rota, walk-ins, daylight-saving changes, the rota's conflicts
and French public holidays (`hub.schedule`, `hub.holidays`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

import wire
from hub.booking import Appointment, AppointmentStatus, BookingChannel
from hub.holidays import easter_sunday, french_public_holidays
from hub.schedule import (
    CabinCalendar,
    Closure,
    ConflictKind,
    OpeningHours,
    RotaConflict,
    RotaShift,
    ScheduleError,
    Slot,
    day_slots,
    free_slots,
    local_instant,
    removal_conflicts,
    rota_conflicts,
    walk_in_flags,
    zone,
)

PARIS = ZoneInfo("Europe/Paris")
CAL = CabinCalendar("cab-murat", "Murat", walk_in_share=0.25)
NO_WALK_IN = CabinCalendar("cab-murat", "Murat", walk_in_share=0)
PATIENT = wire.PatientSummary(
    family_name="Durand", given_names="Jeanne", birth_date=date(1950, 3, 2)
)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    """A Paris wall time as a UTC instant."""
    return datetime.combine(day, time(hh, mm), tzinfo=PARIS).astimezone(UTC)


def every_day(
    opens: time = time(9), closes: time = time(12), cabin: str = "cab-murat"
) -> list[OpeningHours]:
    return [OpeningHours(cabin, weekday, opens, closes) for weekday in range(7)]


def shift(
    doctor: str, first: datetime, last: datetime, *, cabin: str = "cab-murat", shift_id: str = ""
) -> RotaShift:
    return RotaShift(shift_id or f"s-{doctor}-{first:%m%d%H%M}", doctor, cabin, first, last)


def week_of(doctor: str, monday: date, *, cabin: str = "cab-murat") -> RotaShift:
    return shift(doctor, at(monday, 0), at(monday + timedelta(days=7), 0), cabin=cabin)


def appointment(
    starts_at: datetime,
    *,
    minutes: int = 15,
    status: AppointmentStatus = AppointmentStatus.BOOKED,
    cabin: str = "cab-murat",
    appointment_id: str = "",
) -> Appointment:
    return Appointment(
        appointment_id=appointment_id or f"a-{starts_at:%m%d%H%M}",
        cabin_id=cabin,
        doctor="dr.martin",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        status=status,
        patient=PATIENT,
        code="123456",
        channel=BookingChannel.PHONE,
        booked_at=starts_at - timedelta(days=3),
    )


MONDAY = date(2026, 4, 6)


def local_times(slots: list[Slot]) -> list[str]:
    return [f"{s.starts_at.astimezone(PARIS):%H:%M}" for s in slots]


# --- slots ------------------------------------------------------------------------------------


def test_a_morning_is_cut_into_fifteen_minute_slots_with_the_doctor_on_duty() -> None:
    slots = day_slots(NO_WALK_IN, every_day(), [], [week_of("dr.martin", MONDAY)], MONDAY)
    assert len(slots) == 12
    assert local_times(slots)[:3] == ["09:00", "09:15", "09:30"]
    assert local_times(slots)[-1] == "11:45"
    assert all(s.doctors == ("dr.martin",) and not s.walk_in for s in slots)
    assert all(s.ends_at - s.starts_at == timedelta(minutes=15) for s in slots)
    assert all(s.starts_at.tzinfo is UTC for s in slots)


def test_two_spans_a_day_and_a_slot_cut_short_is_dropped() -> None:
    hours = [
        OpeningHours("cab-murat", MONDAY.weekday(), time(9), time(10, 10)),
        OpeningHours("cab-murat", MONDAY.weekday(), time(14), time(15)),
        OpeningHours("cab-autre", MONDAY.weekday(), time(6), time(20)),
    ]
    cal = CabinCalendar("cab-murat", "Murat", slot_minutes=20, walk_in_share=0)
    slots = day_slots(cal, hours, [], [week_of("dr.martin", MONDAY)], MONDAY)
    assert local_times(slots) == ["09:00", "09:20", "09:40", "14:00", "14:20", "14:40"]


def test_no_slot_on_a_closed_day_nor_on_a_weekday_without_hours() -> None:
    rota = [week_of("dr.martin", MONDAY)]
    closure = Closure("c1", "cab-murat", MONDAY, MONDAY + timedelta(days=1), "Lundi de Pâques")
    other = Closure("c2", "cab-autre", MONDAY, MONDAY, "travaux")
    assert day_slots(CAL, every_day(), [closure], rota, MONDAY) == []
    assert day_slots(CAL, every_day(), [closure], rota, MONDAY + timedelta(days=1)) == []
    assert len(day_slots(CAL, every_day(), [closure], rota, MONDAY + timedelta(days=2))) == 12
    assert len(day_slots(CAL, every_day(), [other], rota, MONDAY)) == 12
    weekdays_only = [h for h in every_day() if h.weekday < 5]
    assert day_slots(CAL, weekdays_only, [], rota, MONDAY + timedelta(days=5)) == []


def test_no_doctor_no_slot_and_each_slot_names_the_doctors_on_duty_for_all_of_it() -> None:
    rota = [
        shift("dr.martin", at(MONDAY, 9, 10), at(MONDAY, 10, 30)),
        shift("dr.bernard", at(MONDAY, 10), at(MONDAY, 12)),
        shift("dr.martin", at(MONDAY, 9), at(MONDAY, 12), cabin="cab-autre"),
    ]
    slots = day_slots(NO_WALK_IN, every_day(), [], rota, MONDAY)
    by_time = {t: s.doctors for t, s in zip(local_times(slots), slots, strict=True)}
    assert "09:00" not in by_time  # dr.martin starts at 09:10: not for all of the 09:00 slot
    assert by_time["09:15"] == ("dr.martin",)
    assert by_time["10:00"] == ("dr.bernard", "dr.martin")  # several doctors on one slot
    assert by_time["10:15"] == ("dr.bernard", "dr.martin")
    assert by_time["10:30"] == ("dr.bernard",)
    assert day_slots(NO_WALK_IN, every_day(), [], [], MONDAY) == []


def test_a_quarter_of_the_day_is_kept_for_walk_ins_every_fourth_slot() -> None:
    slots = day_slots(CAL, every_day(), [], [week_of("dr.martin", MONDAY)], MONDAY)
    assert [i for i, s in enumerate(slots) if s.walk_in] == [3, 7, 11]
    again = day_slots(CAL, every_day(), [], [week_of("dr.martin", MONDAY)], MONDAY)
    assert again == slots  # deterministic


def test_the_walk_in_share_is_rounded_up_and_spread() -> None:
    assert walk_in_flags(10, 0.25).count(True) == 3  # 2.5 -> 3
    assert [i for i, f in enumerate(walk_in_flags(10, 0.25)) if f] == [3, 6, 9]
    assert walk_in_flags(8, 0.25).count(True) == 2
    assert walk_in_flags(30, 0.1).count(True) == 3  # 0.1 x 30 is 3.0000000000000004
    assert walk_in_flags(1, 0.25) == [True]
    assert walk_in_flags(12, 0) == [False] * 12
    assert walk_in_flags(0, 0.5) == []
    assert walk_in_flags(3, 1.0) == [True] * 3


@given(st.integers(min_value=1, max_value=200), st.floats(min_value=0.01, max_value=0.99))
def test_walk_ins_are_the_share_rounded_up_never_two_groups_apart(count: int, share: float) -> None:
    flags = walk_in_flags(count, share)
    kept = [i for i, f in enumerate(flags) if f]
    # rounded up, float noise aside (0.1 x 30 is 3.0000000000000004: 3, not 4)
    assert count * share - 1e-9 <= len(kept) < count * share + 1
    gaps = [b - a for a, b in zip([-1, *kept], kept, strict=False)]
    assert max(gaps) - min(gaps) <= 1  # evenly spread


def test_walk_ins_stay_where_they_are_when_the_rota_changes() -> None:
    morning_only = [shift("dr.martin", at(MONDAY, 9), at(MONDAY, 10))]
    whole = [week_of("dr.martin", MONDAY)]
    partial = {
        s.starts_at: s.walk_in for s in day_slots(CAL, every_day(), [], morning_only, MONDAY)
    }
    full = {s.starts_at: s.walk_in for s in day_slots(CAL, every_day(), [], whole, MONDAY)}
    assert all(full[start] == walk_in for start, walk_in in partial.items())


@pytest.mark.parametrize(
    ("before", "change", "after"),
    [
        (date(2026, 3, 27), date(2026, 3, 29), date(2026, 3, 30)),  # CET -> CEST
        (date(2026, 10, 23), date(2026, 10, 25), date(2026, 10, 26)),  # CEST -> CET
    ],
    ids=["march", "october"],
)
def test_a_nine_oclock_slot_stays_at_nine_local_across_the_change(
    before: date, change: date, after: date
) -> None:
    rota = [shift("dr.martin", at(before, 0), at(after + timedelta(days=1), 0))]
    offsets = []
    for day in (before, change, after):
        slots = day_slots(NO_WALK_IN, every_day(), [], rota, day)
        assert local_times(slots)[0] == "09:00"
        assert local_times(slots)[-1] == "11:45"
        assert len(slots) == 12
        offsets.append(slots[0].starts_at.hour)
    # the UTC hour moves by one, the local one does not
    assert offsets[0] != offsets[2]
    assert offsets[1] == offsets[2]


def test_the_march_night_is_an_hour_shorter_and_a_time_in_the_gap_is_read_rfc5545() -> None:
    sunday = date(2026, 3, 29)
    rota = [shift("dr.nuit", at(sunday - timedelta(days=1), 0), at(sunday + timedelta(days=1), 0))]
    night = [OpeningHours("cab-murat", 6, time(0), time(6))]
    slots = day_slots(NO_WALK_IN, night, [], rota, sunday)
    assert len(slots) == 5 * 4  # 00:00 CET to 06:00 CEST is five hours
    assert "02:00" not in local_times(slots) and "03:00" in local_times(slots)
    # 02:30 does not exist that night: read with the offset before the gap, it is 03:30 CEST
    assert local_instant(sunday, time(2, 30), PARIS) == at(sunday, 3, 30)
    gap = [OpeningHours("cab-murat", 6, time(2, 30), time(4))]
    assert local_times(day_slots(NO_WALK_IN, gap, [], rota, sunday)) == ["03:30", "03:45"]


def test_the_october_night_is_an_hour_longer_and_a_repeated_time_is_its_first() -> None:
    sunday = date(2026, 10, 25)
    rota = [shift("dr.nuit", at(sunday - timedelta(days=1), 0), at(sunday + timedelta(days=1), 0))]
    night = [OpeningHours("cab-murat", 6, time(0), time(6))]
    slots = day_slots(NO_WALK_IN, night, [], rota, sunday)
    assert len(slots) == 7 * 4  # 00:00 CEST to 06:00 CET is seven hours
    assert local_times(slots).count("02:15") == 2  # the repeated hour, once in each offset
    first = local_instant(sunday, time(2, 30), PARIS)
    assert first == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, the first one


def test_an_unknown_time_zone_is_refused_plainly() -> None:
    with pytest.raises(ScheduleError, match="Mars/Olympus"):
        zone("Mars/Olympus")


def test_free_slots_leave_out_walk_ins_and_slots_held_by_an_appointment_not_cancelled() -> None:
    slots = day_slots(CAL, every_day(), [], [week_of("dr.martin", MONDAY)], MONDAY)
    booked = [
        appointment(at(MONDAY, 9)),
        appointment(at(MONDAY, 9, 15), status=AppointmentStatus.CANCELLED),
        appointment(at(MONDAY, 9, 30), status=AppointmentStatus.NOSHOW),
        appointment(at(MONDAY, 10), minutes=30),  # another slot length: holds 10:00 and 10:15
        appointment(at(MONDAY, 11), cabin="cab-autre"),
    ]
    free = local_times(free_slots(slots, booked))
    assert free == ["09:15", "10:30", "11:00", "11:15", "11:30"]


# --- the rota's conflicts ------------------------------------------------------------------------


def kinds(conflicts: list[RotaConflict]) -> list[ConflictKind]:
    return [c.kind for c in conflicts]


def test_several_doctors_one_day_and_one_doctor_on_several_cabins_are_allowed() -> None:
    existing = [
        week_of("dr.martin", MONDAY),
        week_of("dr.bernard", MONDAY, cabin="cab-allanche"),
    ]
    second_doctor = shift("dr.bernard", at(MONDAY, 9), at(MONDAY, 12))
    assert rota_conflicts(second_doctor, existing, [], CAL, every_day()) == []
    remote = week_of("dr.martin", MONDAY, cabin="cab-allanche")
    allanche = CabinCalendar("cab-allanche", "Allanche")
    assert rota_conflicts(remote, existing, [], allanche, every_day(cabin="cab-allanche")) == []


def test_a_shift_that_ends_before_it_starts_is_refused() -> None:
    backwards = shift("dr.martin", at(MONDAY, 12), at(MONDAY, 9))
    conflicts = rota_conflicts(backwards, [], [], CAL, every_day())
    assert kinds(conflicts) == [ConflictKind.ENDS_BEFORE_START]
    assert conflicts[0].fr and conflicts[0].en
    empty = shift("dr.martin", at(MONDAY, 9), at(MONDAY, 9))
    assert kinds(rota_conflicts(empty, [], [], CAL, every_day())) == [
        ConflictKind.ENDS_BEFORE_START
    ]


def test_the_same_doctor_twice_on_the_same_cabin_at_once_is_refused_and_explained() -> None:
    existing = week_of("dr.martin", MONDAY)
    again = shift(
        "dr.martin", at(MONDAY + timedelta(days=2), 9), at(MONDAY + timedelta(days=2), 11)
    )
    conflicts = rota_conflicts(again, [existing], [], CAL, every_day())
    assert kinds(conflicts) == [ConflictKind.DOCTOR_OVERLAP]
    assert conflicts[0].other_shift_id == existing.shift_id
    assert "lundi 6 avril 2026 à 00:00" in conflicts[0].fr
    assert "Monday 6 April 2026 at 00:00" in conflicts[0].en
    next_week = week_of("dr.martin", MONDAY + timedelta(days=7))  # touching, not overlapping
    assert rota_conflicts(next_week, [existing], [], CAL, every_day()) == []


def test_a_shift_entirely_on_closed_days_or_hours_is_refused() -> None:
    evening = shift("dr.martin", at(MONDAY, 18), at(MONDAY, 22))
    assert kinds(rota_conflicts(evening, [], [], CAL, every_day())) == [ConflictKind.CABIN_CLOSED]
    closed_day = shift("dr.martin", at(MONDAY, 8), at(MONDAY, 13))
    holiday = Closure("c1", "cab-murat", MONDAY, MONDAY, "Lundi de Pâques")
    assert kinds(rota_conflicts(closed_day, [], [holiday], CAL, every_day())) == [
        ConflictKind.CABIN_CLOSED
    ]
    # partly open is fine: the open part gives slots
    assert rota_conflicts(week_of("dr.martin", MONDAY), [], [holiday], CAL, every_day()) == []


def test_a_shift_of_months_is_a_mistake() -> None:
    long = shift("dr.martin", at(MONDAY, 0), at(MONDAY + timedelta(days=120), 0))
    assert kinds(rota_conflicts(long, [], [], CAL, every_day())) == [ConflictKind.TOO_LONG]


def test_removing_a_shift_that_leaves_appointments_without_a_doctor_is_refused() -> None:
    martin = week_of("dr.martin", MONDAY)
    booked = [
        appointment(at(MONDAY, 9)),
        appointment(at(MONDAY + timedelta(days=1), 10, 30)),
        appointment(at(MONDAY, 10), status=AppointmentStatus.CANCELLED),
        appointment(at(MONDAY + timedelta(days=8), 10)),  # next week: not this shift's
    ]
    conflicts = removal_conflicts(martin, booked, [martin])
    assert kinds(conflicts) == [ConflictKind.LEAVES_APPOINTMENTS]
    assert conflicts[0].appointments == 2
    assert conflicts[0].first_at == at(MONDAY, 9)
    assert conflicts[0].last_at == at(MONDAY + timedelta(days=1), 10, 30)
    assert "2 rendez-vous" in conflicts[0].fr and "lundi 6 avril 2026 à 09:00" in conflicts[0].fr
    assert "2 appointments" in conflicts[0].en


def test_removing_a_shift_is_allowed_when_another_doctor_covers_its_appointments() -> None:
    martin = week_of("dr.martin", MONDAY)
    bernard = shift("dr.bernard", at(MONDAY, 8), at(MONDAY + timedelta(days=2), 0))
    booked = [appointment(at(MONDAY, 9)), appointment(at(MONDAY + timedelta(days=1), 10, 30))]
    assert removal_conflicts(martin, booked, [martin, bernard]) == []
    elsewhere = week_of("dr.bernard", MONDAY, cabin="cab-autre")
    assert removal_conflicts(martin, booked, [martin, elsewhere])[0].appointments == 2


def test_shortening_a_shift_counts_only_what_falls_out() -> None:
    martin = week_of("dr.martin", MONDAY)
    shorter = shift("dr.martin", at(MONDAY, 0), at(MONDAY, 10), shift_id=martin.shift_id)
    booked = [
        appointment(at(MONDAY, 9)),
        appointment(at(MONDAY, 9, 45)),
        appointment(at(MONDAY, 11)),
    ]
    conflicts = removal_conflicts(martin, booked, [martin], replacement=shorter)
    assert conflicts[0].appointments == 1
    assert "Un rendez-vous" in conflicts[0].fr and "11:00" in conflicts[0].fr


# --- public holidays ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "easter"),
    [
        (1818, date(1818, 3, 22)),  # the earliest possible
        (1943, date(1943, 4, 25)),  # the latest possible
        (2000, date(2000, 4, 23)),
        (2024, date(2024, 3, 31)),
        (2025, date(2025, 4, 20)),
        (2026, date(2026, 4, 5)),
        (2027, date(2027, 3, 28)),
        (2038, date(2038, 4, 25)),
        (2285, date(2285, 3, 22)),
    ],
)
def test_easter(year: int, easter: date) -> None:
    assert easter_sunday(year) == easter


@given(st.integers(min_value=1583, max_value=4099))
def test_easter_is_a_sunday_between_march_22_and_april_25(year: int) -> None:
    easter = easter_sunday(year)
    assert easter.weekday() == 6
    assert date(year, 3, 22) <= easter <= date(year, 4, 25)


def test_the_french_public_holidays_of_2026() -> None:
    assert french_public_holidays(2026) == [
        (date(2026, 1, 1), "Jour de l'an"),
        (date(2026, 4, 6), "Lundi de Pâques"),
        (date(2026, 5, 1), "Fête du Travail"),
        (date(2026, 5, 8), "Victoire 1945"),
        (date(2026, 5, 14), "Ascension"),
        (date(2026, 5, 25), "Lundi de Pentecôte"),
        (date(2026, 7, 14), "Fête nationale"),
        (date(2026, 8, 15), "Assomption"),
        (date(2026, 11, 1), "Toussaint"),
        (date(2026, 11, 11), "Armistice 1918"),
        (date(2026, 12, 25), "Noël"),
    ]
    alsace = dict(french_public_holidays(2026, alsace_moselle=True))
    assert alsace[date(2026, 4, 3)] == "Vendredi saint"
    assert alsace[date(2026, 12, 26)] == "Saint-Étienne"
    assert len(alsace) == 13

"""The six-digit appointment codes: drawn uniformly, encoding nothing, valid from 30 minutes
before the slot to the end of its local day, for active appointments only."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

import wire
from hub.appointment_codes import code_valid, new_code, normalize_code, valid_until
from hub.booking import Appointment, AppointmentStatus, BookingChannel
from hub.schedule import CabinCalendar

PARIS = ZoneInfo("Europe/Paris")
CAL = CabinCalendar("cab-murat", "Murat")
SLOT = datetime(2026, 4, 6, 14, 0, tzinfo=PARIS).astimezone(UTC)

APPOINTMENT = Appointment(
    appointment_id="a1",
    cabin_id="cab-murat",
    doctor="dr.martin",
    starts_at=SLOT,
    ends_at=SLOT + timedelta(minutes=15),
    status=AppointmentStatus.BOOKED,
    patient=wire.PatientSummary(
        family_name="Durand", given_names="Jeanne", birth_date=date(1950, 3, 2)
    ),
    code="004217",
    channel=BookingChannel.ONLINE,
    booked_at=SLOT - timedelta(days=2),
)


def test_a_code_is_six_ascii_digits() -> None:
    for _ in range(2000):
        code = new_code()
        assert len(code) == 6 and code.isascii() and code.isdigit()


def test_codes_are_uniform_leading_zeros_included() -> None:
    """Each of the six positions is a uniform digit: a chi-squared test per position at a
    threshold a uniform source exceeds about once in a million runs (df 9: 38.0)."""
    draws = [new_code() for _ in range(60_000)]
    for position in range(6):
        counts = Counter(code[position] for code in draws)
        expected = len(draws) / 10
        chi2 = sum((counts.get(str(d), 0) - expected) ** 2 / expected for d in range(10))
        assert chi2 < 38.0, (position, counts)
    assert any(code.startswith("0") for code in draws)
    assert len(set(draws)) > 57_900  # 60 k draws among 1 M codes: about 1,800 repeats (sd 42)


def test_typed_codes_are_normalized_and_anything_else_refused() -> None:
    assert normalize_code("004217") == "004217"
    assert normalize_code(" 004 217 ") == "004217"
    assert normalize_code("004-217") == "004217"
    for bad in ("", "00421", "0042177", "00421a", "٠٠٤٢١٧", "004217\x00"):
        assert normalize_code(bad) is None


@pytest.mark.parametrize(
    ("minutes", "valid"),
    [
        (-31, False),
        (-30, True),
        (-1, True),
        (0, True),
        (15, True),
        (9 * 60 + 59, True),
        (10 * 60, False),
    ],
)
def test_valid_from_thirty_minutes_before_to_the_end_of_the_local_day(
    minutes: int, valid: bool
) -> None:
    now = SLOT + timedelta(minutes=minutes)  # the slot is 14:00 local: midnight is 10 h later
    assert code_valid(APPOINTMENT, now, CAL) is valid


def test_the_window_before_is_configurable() -> None:
    now = SLOT - timedelta(minutes=45)
    assert not code_valid(APPOINTMENT, now, CAL)
    assert code_valid(APPOINTMENT, now, CAL, before_min=60)


@pytest.mark.parametrize("status", list(AppointmentStatus))
def test_only_an_active_appointment_has_a_valid_code(status: AppointmentStatus) -> None:
    appointment = dataclasses.replace(APPOINTMENT, status=status)
    active = status in (AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED)
    assert code_valid(appointment, SLOT, CAL) is active


def test_the_day_ends_at_local_midnight_in_the_cabins_zone_on_a_change_day() -> None:
    october = datetime(2026, 10, 25, 9, 0, tzinfo=PARIS).astimezone(UTC)
    appointment = dataclasses.replace(
        APPOINTMENT, starts_at=october, ends_at=october + timedelta(minutes=15)
    )
    assert valid_until(appointment, CAL) == datetime(
        2026, 10, 25, 23, 0, tzinfo=UTC
    )  # CET midnight
    cayenne = CabinCalendar("cab-guyane", "Maripasoula", timezone="America/Cayenne")
    assert valid_until(appointment, cayenne) == datetime(2026, 10, 26, 3, 0, tzinfo=UTC)
    late = datetime(2026, 10, 25, 23, 30, tzinfo=PARIS)  # local evening, the same day
    assert code_valid(appointment, late, CAL)

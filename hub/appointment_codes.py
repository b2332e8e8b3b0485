"""The six-digit appointment code a patient types at the cabin.

Six digits drawn uniformly by `secrets` (000000 to 999999: leading zeros are codes too). A
code encodes nothing (no date, no cabin, no check digit): only the hub's database ties it to an
appointment, and its unique index makes it unique among active appointments (`CodeTaken`: draw
again). A code opens its appointment from `before_min` minutes before the slot until the end of
the slot's local day, while the appointment is active.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from hub.booking import ACTIVE, Appointment
from hub.schedule import CabinCalendar, day_bounds, local_day, zone

CODE_DIGITS = 6
CODE_PATTERN = re.compile(r"^[0-9]{6}$")
DEFAULT_VALID_BEFORE_MIN = 30


def new_code() -> str:
    """Six uniformly random digits."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def normalize_code(text: str) -> str | None:
    """The code typed (spaces and dashes allowed: "123 456"), or None if it is not six digits."""
    digits = re.sub(r"[\s-]", "", text)
    return digits if CODE_PATTERN.fullmatch(digits) and digits.isascii() else None


def valid_from(appointment: Appointment, *, before_min: int = DEFAULT_VALID_BEFORE_MIN) -> datetime:
    return appointment.starts_at - timedelta(minutes=before_min)


def valid_until(appointment: Appointment, calendar: CabinCalendar) -> datetime:
    """The end of the slot's day, at local midnight in the cabin's time zone (exclusive)."""
    tz = zone(calendar.timezone)
    return day_bounds(local_day(appointment.starts_at, tz), tz)[1]


def code_valid(
    appointment: Appointment,
    now: datetime,
    calendar: CabinCalendar,
    *,
    before_min: int = DEFAULT_VALID_BEFORE_MIN,
) -> bool:
    """Whether the appointment's code opens the cabin at `now`: the appointment is active, and
    `now` is from `before_min` minutes before its slot to the end of the slot's local day."""
    return appointment.status in ACTIVE and valid_from(
        appointment, before_min=before_min
    ) <= now < valid_until(appointment, calendar)

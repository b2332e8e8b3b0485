"""When a cabin can be booked: its opening hours and closures, the doctors' rota, and the
slots they make.

Opening hours are wall-clock times in the cabin's time zone (a 09:00 opening stays at 09:00
across the daylight-saving changes); rota shifts and slots are UTC instants. Slots come from
opening hours x the rota: a cabin holds one patient at a time, so a slot is bookable once,
whichever of the doctors on duty then takes it; a share of each day's slots is kept for
walk-ins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

DEFAULT_TIMEZONE = "Europe/Paris"
DEFAULT_SLOT_MINUTES = 15
DEFAULT_WALK_IN_SHARE = 0.25


@dataclass(frozen=True, slots=True)
class CabinCalendar:
    """A cabin's booking settings."""

    cabin_id: str
    town: str
    """What a patient types to find it ("Murat", "Saint-Flour")."""
    timezone: str = DEFAULT_TIMEZONE
    """An IANA zone name: where the cabin's times are shown."""
    slot_minutes: int = DEFAULT_SLOT_MINUTES
    walk_in_share: float = DEFAULT_WALK_IN_SHARE
    """The share (0 to 1) of each day's slots that is never booked ahead."""
    bookable_days: int = 60
    """How far ahead the public page offers slots."""


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """One opening span on one weekday (a cabin open 9-12 and 14-18 has two)."""

    cabin_id: str
    weekday: int
    """0 Monday ... 6 Sunday."""
    opens: time
    closes: time


@dataclass(frozen=True, slots=True)
class Closure:
    """Days the cabin is closed (a public holiday, works), both ends included."""

    closure_id: str
    cabin_id: str
    first_day: date
    last_day: date
    reason: str


@dataclass(frozen=True, slots=True)
class RotaShift:
    """A doctor covering a cabin from `starts_at` to `ends_at` (a week, a day, some hours)."""

    shift_id: str
    doctor: str
    cabin_id: str
    starts_at: datetime
    ends_at: datetime
    created_by: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Slot:
    """A bookable (or walk-in) span of a cabin, and the doctors on duty then."""

    cabin_id: str
    starts_at: datetime
    ends_at: datetime
    doctors: tuple[str, ...]
    walk_in: bool = False
    """Kept for patients who come without an appointment."""

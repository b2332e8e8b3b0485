"""When a cabin can be booked: its opening hours and closures, the doctors' rota, and the
slots they make.

Opening hours are wall-clock times in the cabin's time zone (a 09:00 opening stays at 09:00
across the daylight-saving changes); rota shifts and slots are UTC instants. Slots come from
opening hours x the rota: a cabin holds one patient at a time, so a slot is bookable once,
whichever of the doctors on duty then takes it; a share of each day's slots is kept for
walk-ins.
"""

from __future__ import annotations

import bisect
import enum
import functools
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.errors import HubError

if TYPE_CHECKING:
    from hub.booking import Appointment

DEFAULT_TIMEZONE = "Europe/Paris"
DEFAULT_SLOT_MINUTES = 15
DEFAULT_WALK_IN_SHARE = 0.25


_CANCELLED = "cancelled"
_ACTIVE = frozenset({"booked", "arrived"})
"""`hub.booking`'s CANCELLED and ACTIVE, by value (`AppointmentStatus` is a StrEnum): that
module imports this one."""


class ScheduleError(HubError):
    """A calendar setting that cannot be used (an unknown time zone...)."""


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


# --- slots ------------------------------------------------------------------------------------
#
# Local wall times are read as RFC 5545 (iCalendar, 3.3.5) reads them, which is also Python's
# `fold=0`: a time that occurs twice (the October change, 02:00-03:00 in Paris) is its first
# occurrence; a time that does not exist (the March change, 02:00-03:00 in Paris) is read with
# the offset in force before the gap, i.e. one hour later on the clock (an opening at 02:30 on
# that Sunday is at 03:30 CEST). A span's length is real time: a cabin open 00:00-06:00 on the
# March Sunday is open five hours, on the October Sunday seven, and its slots are cut from the
# span's first instant on. Openings at ordinary hours (09:00) are therefore always 09:00 local.


def zone(name: str) -> ZoneInfo:
    """The time zone of a calendar (`ScheduleError` naming it if it is not an IANA zone)."""
    try:
        return _zone(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(f"{name!r} is not a known time zone (Europe/Paris...)") from exc


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_instant(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of the wall time `wall` on `day` in `tz` (RFC 5545 rules, above)."""
    return datetime.combine(day, wall.replace(tzinfo=None, fold=0), tzinfo=tz).astimezone(UTC)


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants of the start of `day` and of the next day, local midnight to midnight
    (23 or 25 hours on the change days)."""
    return local_instant(day, time(0), tz), local_instant(day + timedelta(days=1), time(0), tz)


def local_day(at: datetime, tz: ZoneInfo) -> date:
    """The local date of an instant."""
    return at.astimezone(tz).date()


def is_closed(closures: Iterable[Closure], cabin_id: str, day: date) -> bool:
    return any(c.cabin_id == cabin_id and c.first_day <= day <= c.last_day for c in closures)


def opening_spans(
    calendar: CabinCalendar, hours: Iterable[OpeningHours], day: date
) -> list[tuple[datetime, datetime]]:
    """The cabin's opening spans on `day` as UTC instants, in order, overlapping ones merged
    (closures not taken into account)."""
    tz = zone(calendar.timezone)
    weekday = day.weekday()
    spans = sorted(
        (local_instant(day, h.opens, tz), local_instant(day, h.closes, tz))
        for h in hours
        if h.weekday == weekday and h.cabin_id == calendar.cabin_id
    )
    merged: list[tuple[datetime, datetime]] = []
    for start, end in spans:
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def walk_in_flags(count: int, share: float) -> list[bool]:
    """Which of `count` slots are kept for walk-ins: ceil(count x share) of them, evenly spread,
    the last of each group (share 0.25: the 4th, 8th, 12th...)."""
    if count <= 0 or share <= 0:
        return [False] * max(count, 0)
    kept = min(count, math.ceil(count * min(share, 1.0) - 1e-9))
    return [(i + 1) * kept // count > i * kept // count for i in range(count)]


SlotSpan = tuple[datetime, datetime, tuple[str, ...], bool]
"""A slot before it is a `Slot`: start, end, doctors on duty, walk-in."""


def day_slots(
    calendar: CabinCalendar,
    hours: Iterable[OpeningHours],
    closures: Iterable[Closure],
    shifts: Iterable[RotaShift],
    day: date,
) -> list[Slot]:
    """The cabin's slots on the local day `day`, in order.

    The opening spans of that weekday (none on a closed day) are cut into `slot_minutes`
    pieces from each span's opening (a piece the closing cuts short is dropped). That grid is
    the day's: `walk_in_share` of it, rounded up and evenly spread, is kept for walk-ins. Then
    only the pieces some doctor of the rota covers from start to end stay, each with the
    doctors on duty for all of it (sorted). Walk-ins are chosen on the grid, before the rota,
    so that adding or removing a shift never turns a booked slot into a walk-in one.
    """
    cabin_id = calendar.cabin_id
    return [
        Slot(cabin_id, start, end, doctors, walk_in)
        for start, end, doctors, walk_in in day_slot_spans(calendar, hours, closures, shifts, day)
    ]


def day_slot_spans(
    calendar: CabinCalendar,
    hours: Iterable[OpeningHours],
    closures: Iterable[Closure],
    shifts: Iterable[RotaShift],
    day: date,
) -> list[SlotSpan]:
    """`day_slots` as plain tuples (the free-slot search makes `Slot`s of the free ones only)."""
    if is_closed(closures, calendar.cabin_id, day):
        return []
    step = timedelta(minutes=calendar.slot_minutes)
    grid: list[tuple[datetime, datetime]] = []
    for start, end in opening_spans(calendar, hours, day):
        edges = [start + n * step for n in range((end - start) // step + 1)]
        grid += itertools.pairwise(edges)
    if not grid:
        return []
    first, last = grid[0][0], grid[-1][1]
    on_duty = [
        s
        for s in shifts
        if s.cabin_id == calendar.cabin_id and s.starts_at < last and s.ends_at > first
    ]
    if not on_duty:
        return []
    flags = walk_in_flags(len(grid), calendar.walk_in_share)
    # Most shifts cover the whole day (a week, a day): their doctors are on every slot; only
    # the others are looked at slot by slot.
    all_day = {s.doctor for s in on_duty if s.starts_at <= first and s.ends_at >= last}
    some_hours = [
        (s.starts_at, s.ends_at, s.doctor)
        for s in on_duty
        if s.doctor not in all_day and not (s.starts_at <= first and s.ends_at >= last)
    ]
    whole_day = tuple(sorted(all_day))
    spans: list[SlotSpan] = []
    for (start, end), walk_in in zip(grid, flags, strict=True):
        doctors = whole_day
        if some_hours:
            more = {doctor for s, e, doctor in some_hours if s <= start and e >= end}
            if more:
                doctors = tuple(sorted(all_day | more))
        if doctors:
            spans.append((start, end, doctors, walk_in))
    return spans


class SlotSpanCache:
    """`day_slot_spans` kept between searches, by what makes them: the cabin's calendar and
    opening hours, the day, and the rota's shifts of the cabin that touch that day. A booking
    changes none of these (free slots are found afterwards, against the held spans); a changed
    calendar, opening hours or rota is another key, so nothing is ever stale. Bounded: at most
    `max_days` days in all (a few kB each: 10,000 is a few tens of MB), the settings used
    longest ago dropped first, then a setting's oldest days."""

    def __init__(self, *, max_days: int = 10_000) -> None:
        self._max_days = max_days
        self._count = 0
        self._setups: dict[
            tuple[CabinCalendar, tuple[OpeningHours, ...]],
            dict[tuple[date, tuple[RotaShift, ...]], tuple[list[SlotSpan], list[Slot]]],
        ] = {}

    def days(
        self,
        calendar: CabinCalendar,
        hours: Iterable[OpeningHours],
        closures: Iterable[Closure],
        shifts: Iterable[RotaShift],
        first_day: date,
        count: int,
    ) -> list[list[SlotSpan]]:
        """`day_slot_spans` of each of the `count` days from `first_day`, in order."""
        return [
            spans for spans, _ in self._days(calendar, hours, closures, shifts, first_day, count)
        ]

    def _make_room(self, current: dict[tuple[date, tuple[RotaShift, ...]], Any]) -> None:
        while self._count >= self._max_days:
            oldest = next(iter(self._setups.values()))
            if oldest is current or len(self._setups) == 1:
                del current[next(iter(current))]
                self._count -= 1
            else:
                self._count -= len(oldest)
                del self._setups[next(iter(self._setups))]

    def bookable(
        self,
        calendar: CabinCalendar,
        hours: Iterable[OpeningHours],
        closures: Iterable[Closure],
        shifts: Iterable[RotaShift],
        first_day: date,
        count: int,
    ) -> list[list[Slot]]:
        """The `Slot`s not kept for walk-ins of `days`, taken or not (the same objects each
        time: a `Slot` is frozen)."""
        return [
            slots for _, slots in self._days(calendar, hours, closures, shifts, first_day, count)
        ]

    def _days(
        self,
        calendar: CabinCalendar,
        hours: Iterable[OpeningHours],
        closures: Iterable[Closure],
        shifts: Iterable[RotaShift],
        first_day: date,
        count: int,
    ) -> list[tuple[list[SlotSpan], list[Slot]]]:
        hours = tuple(hours)
        closures = [c for c in closures if c.cabin_id == calendar.cabin_id]
        tz = zone(calendar.timezone)
        last_day = first_day + timedelta(days=count - 1)
        by_day: dict[date, list[RotaShift]] = {}
        for shift in shifts:
            if shift.cabin_id != calendar.cabin_id or shift.ends_at <= shift.starts_at:
                continue
            day = max(first_day, local_day(shift.starts_at, tz))
            until = min(last_day, local_day(shift.ends_at, tz))
            while day <= until:
                by_day.setdefault(day, []).append(shift)
                day += timedelta(days=1)
        key = (calendar, hours)
        cached = self._setups.pop(key, None)  # put back last: the most recently used
        if cached is None:
            cached = {}
        self._setups[key] = cached
        found: list[tuple[list[SlotSpan], list[Slot]]] = []
        nothing: tuple[list[SlotSpan], list[Slot]] = ([], [])
        cabin_id = calendar.cabin_id
        for offset in range(count):
            day = first_day + timedelta(days=offset)
            on_day = by_day.get(day)
            if not on_day or is_closed(closures, cabin_id, day):
                found.append(nothing)
                continue
            day_key = (day, tuple(on_day))
            entry = cached.get(day_key)
            if entry is None:
                spans = day_slot_spans(calendar, hours, (), on_day, day)
                slots = [Slot(cabin_id, b, e, d) for b, e, d, walk_in in spans if not walk_in]
                entry = (spans, slots)
                self._make_room(cached)
                cached[day_key] = entry
                self._count += 1
            found.append(entry)
        return found


def holds_slot(appointment: Appointment) -> bool:
    """An appointment not cancelled holds its slot (the database's unique index says the same)."""
    return appointment.status != _CANCELLED


class Span(Protocol):
    """Something that holds a cabin's time: an `Appointment`, a `HeldSpan`."""

    @property
    def cabin_id(self) -> str: ...

    @property
    def starts_at(self) -> datetime: ...

    @property
    def ends_at(self) -> datetime: ...


def free_slots(slots: Iterable[Slot], booked: Iterable[Appointment]) -> list[Slot]:
    """The slots that may be booked: not walk-in, and not overlapped by an appointment of their
    cabin that is not cancelled (an appointment made with another slot length holds every slot
    it overlaps)."""
    return slots_not_held(slots, (a for a in booked if holds_slot(a)))


class HeldIndex:
    """The spans that hold cabins' time, to ask quickly whether a slot is free."""

    def __init__(self, held: Iterable[Span]) -> None:
        spans: dict[str, list[tuple[datetime, datetime]]] = {}
        for span in held:
            spans.setdefault(span.cabin_id, []).append((span.starts_at, span.ends_at))
        self._starts: dict[str, list[datetime]] = {}
        self._reach: dict[str, list[datetime]] = {}
        """Per cabin, the latest end among the spans up to each one (by start)."""
        for cabin_id, cabin_spans in spans.items():
            cabin_spans.sort()
            self._starts[cabin_id] = [start for start, _ in cabin_spans]
            self._reach[cabin_id] = list(itertools.accumulate((end for _, end in cabin_spans), max))

    def holds(self, cabin_id: str, starts_at: datetime, ends_at: datetime) -> bool:
        """Whether a span of the cabin overlaps [starts_at, ends_at)."""
        starts = self._starts.get(cabin_id)
        if not starts:
            return False
        before_end = bisect.bisect_left(starts, ends_at)
        return before_end > 0 and self._reach[cabin_id][before_end - 1] > starts_at

    def free_of(self, cabin_id: str, slots: list[Slot], after: datetime) -> list[Slot]:
        """The cabin's `slots` (in order, none kept for walk-ins) that start after `after`
        and no span overlaps: the same `Slot` objects (`SlotSpanCache.bookable`'s)."""
        if not slots or slots[-1].starts_at <= after:
            return []
        return _free_of(self._starts.get(cabin_id, []), self._reach.get(cabin_id, []), slots, after)

    def free(self, cabin_id: str, spans: Iterable[SlotSpan], after: datetime) -> list[Slot]:
        """The `Slot`s of the cabin's slot spans (in order) that start after `after`, are not
        kept for walk-ins, and no span overlaps (the free-slot search's inner loop)."""
        starts = self._starts.get(cabin_id, [])
        reach = self._reach.get(cabin_id, [])
        find = bisect.bisect_left
        free = []
        for begins, ends, doctors, walk_in in spans:
            if walk_in or begins <= after:
                continue
            before_end = find(starts, ends)
            if before_end and reach[before_end - 1] > begins:
                continue
            free.append(Slot(cabin_id, begins, ends, doctors))
        return free


def _free_of(
    starts: list[datetime], reach: list[datetime], slots: list[Slot], after: datetime
) -> list[Slot]:
    """`HeldIndex.free_of`'s loop: the slots (in order) starting after `after` that no held
    span overlaps; `starts` and `reach` as `HeldIndex` keeps them."""
    find = bisect.bisect_left
    free = []
    lo = 0
    for slot in slots:
        begins = slot.starts_at
        if begins <= after:
            continue
        lo = find(starts, slot.ends_at, lo)  # the slots come in order: never look back
        if lo and reach[lo - 1] > begins:
            continue
        free.append(slot)
    return free


def slots_not_held(slots: Iterable[Slot], held: Iterable[Span]) -> list[Slot]:
    """The slots not walk-in that none of the `held` spans of their cabin overlaps."""
    index = HeldIndex(held)
    return [
        slot
        for slot in slots
        if not slot.walk_in and not index.holds(slot.cabin_id, slot.starts_at, slot.ends_at)
    ]


# --- the rota's conflicts -----------------------------------------------------------------------

MAX_SHIFT_DAYS = 92
"""A shift longer than a quarter is a typing mistake (a rota is made of weeks and days)."""


class ConflictKind(enum.StrEnum):
    ENDS_BEFORE_START = "ends_before_start"
    TOO_LONG = "too_long"
    DOCTOR_OVERLAP = "doctor_overlap"
    """The doctor already covers this cabin for part of that time."""
    CABIN_CLOSED = "cabin_closed"
    """The cabin is closed (closures, opening hours) for all of the shift."""
    LEAVES_APPOINTMENTS = "leaves_appointments"
    """Removing or shortening the shift leaves booked appointments without any doctor."""
    HAS_STARTED = "has_started"
    """A shift that has started is shortened, not removed (it is the record of who was on duty)."""
    UNKNOWN_CABIN = "unknown_cabin"
    UNKNOWN_SHIFT = "unknown_shift"


@dataclass(frozen=True, slots=True)
class RotaConflict:
    """Why a change to the rota is refused, in words for the coordinator (French, English)."""

    kind: ConflictKind
    fr: str
    en: str
    other_shift_id: str = ""
    appointments: int = 0
    """How many booked appointments the change would leave without a doctor."""
    first_at: datetime | None = None
    last_at: datetime | None = None


def rota_conflicts(
    shift: RotaShift,
    existing_shifts: Iterable[RotaShift],
    closures: Iterable[Closure],
    calendar: CabinCalendar,
    hours: Iterable[OpeningHours],
) -> list[RotaConflict]:
    """What refuses adding `shift` to the rota (empty: it may be added).

    Refused: a shift that ends before it starts, or lasts more than `MAX_SHIFT_DAYS`; the same
    doctor covering the same cabin twice at once; a shift during which the cabin is never open.
    Allowed (the issue asks for both): several doctors on one cabin the same day or hour, and
    one doctor covering several cabins at the same time (a remote doctor)."""
    tz = zone(calendar.timezone)
    if shift.ends_at <= shift.starts_at:
        return [
            RotaConflict(
                ConflictKind.ENDS_BEFORE_START,
                fr="La permanence doit finir après son début.",
                en="The shift must end after it starts.",
            )
        ]
    if shift.ends_at - shift.starts_at > timedelta(days=MAX_SHIFT_DAYS):
        return [
            RotaConflict(
                ConflictKind.TOO_LONG,
                fr=f"Une permanence dure au plus {MAX_SHIFT_DAYS} jours : découpez-la.",
                en=f"A shift lasts at most {MAX_SHIFT_DAYS} days: split it.",
            )
        ]
    conflicts: list[RotaConflict] = []
    for other in existing_shifts:
        if (
            other.shift_id != shift.shift_id
            and other.doctor == shift.doctor
            and other.cabin_id == shift.cabin_id
            and other.starts_at < shift.ends_at
            and other.ends_at > shift.starts_at
        ):
            conflicts.append(
                RotaConflict(
                    ConflictKind.DOCTOR_OVERLAP,
                    fr=(
                        f"{shift.doctor} couvre déjà cette cabine du"
                        f" {when_fr(other.starts_at, tz)} au {when_fr(other.ends_at, tz)}."
                    ),
                    en=(
                        f"{shift.doctor} already covers this cabin from"
                        f" {when_en(other.starts_at, tz)} to {when_en(other.ends_at, tz)}."
                    ),
                    other_shift_id=other.shift_id,
                )
            )
    closures = list(closures)
    hours = list(hours)
    day = local_day(shift.starts_at, tz)
    last_day = local_day(shift.ends_at, tz)
    open_at_all = False
    while day <= last_day and not open_at_all:
        if not is_closed(closures, calendar.cabin_id, day):
            open_at_all = any(
                start < shift.ends_at and end > shift.starts_at
                for start, end in opening_spans(calendar, hours, day)
            )
        day += timedelta(days=1)
    if not open_at_all:
        conflicts.append(
            RotaConflict(
                ConflictKind.CABIN_CLOSED,
                fr=(
                    "La cabine est fermée pendant toute cette permanence (horaires d'ouverture,"
                    " fermetures) : aucun patient ne pourrait y être vu."
                ),
                en=(
                    "The cabin is closed for all of this shift (opening hours, closures):"
                    " no patient could be seen."
                ),
            )
        )
    return conflicts


def removal_conflicts(
    shift: RotaShift,
    booked_appointments: Iterable[Appointment],
    other_shifts: Iterable[RotaShift],
    *,
    replacement: RotaShift | None = None,
    timezone: str = DEFAULT_TIMEZONE,
) -> list[RotaConflict]:
    """What refuses removing `shift` (or replacing it with `replacement`, a shorter one): the
    booked (or arrived) appointments of its cabin during it that no other shift (nor the
    replacement) covers from start to end, counted, with the first and last of them."""
    tz = zone(timezone)
    remaining = [
        s for s in other_shifts if s.shift_id != shift.shift_id and s.cabin_id == shift.cabin_id
    ]
    if replacement is not None:
        remaining.append(replacement)
    orphans = sorted(
        a.starts_at
        for a in booked_appointments
        if a.status in _ACTIVE
        and a.cabin_id == shift.cabin_id
        and a.starts_at < shift.ends_at
        and a.ends_at > shift.starts_at
        and not any(s.starts_at <= a.starts_at and s.ends_at >= a.ends_at for s in remaining)
    )
    if not orphans:
        return []
    count = len(orphans)
    first, last = orphans[0], orphans[-1]
    if count == 1:
        fr = f"Un rendez-vous, le {when_fr(first, tz)}, resterait sans médecin."
        en = f"One appointment, on {when_en(first, tz)}, would be left without a doctor."
    else:
        fr = (
            f"{count} rendez-vous, du {when_fr(first, tz)} au {when_fr(last, tz)},"
            " resteraient sans médecin."
        )
        en = (
            f"{count} appointments, from {when_en(first, tz)} to {when_en(last, tz)},"
            " would be left without a doctor."
        )
    return [
        RotaConflict(
            ConflictKind.LEAVES_APPOINTMENTS,
            fr=fr + " Déplacez-les ou ajoutez d'abord un autre médecin.",
            en=en + " Move them, or add another doctor first.",
            appointments=count,
            first_at=first,
            last_at=last,
        )
    ]


# --- dates in words -----------------------------------------------------------------------------

_DAYS_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_MONTHS_FR = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
_DAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def long_date_fr(local: datetime) -> str:
    """``lundi 6 avril 2026`` (``1er`` on the first; no locale needed)."""
    day = "1er" if local.day == 1 else str(local.day)
    return f"{_DAYS_FR[local.weekday()]} {day} {_MONTHS_FR[local.month - 1]} {local.year}"


def long_date_en(local: datetime) -> str:
    """``Monday 6 April 2026``."""
    return f"{_DAYS_EN[local.weekday()]} {local.day} {_MONTHS_EN[local.month - 1]} {local.year}"


def when_fr(at: datetime, tz: ZoneInfo) -> str:
    """``lundi 6 avril 2026 à 09:00`` (local time; no locale needed)."""
    local = at.astimezone(tz)
    return f"{long_date_fr(local)} à {local:%H:%M}"


def when_en(at: datetime, tz: ZoneInfo) -> str:
    """``Monday 6 April 2026 at 09:00`` (local time)."""
    local = at.astimezone(tz)
    return f"{long_date_en(local)} at {local:%H:%M}"

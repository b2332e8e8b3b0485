"""Appointments, as the hub keeps them: the values, and what a storage must do with them.

The vocabulary is FHIR's (Schedule, Slot, Appointment): a cabin's calendar and the doctors'
rota (`hub.schedule`) make slots; a patient, online or through a coordinator on the phone,
books one and gets a six-digit code; the cabin checks the code when they arrive; the
appointment ends fulfilled, or a no-show. Confirmations and reminders wait in an outbox
(`Notification`) that every replica may work, each message claimed by one.

Times are aware UTC datetimes; a cabin's calendar says in which time zone they are shown.
Double booking and reused codes are refused by the database itself (a unique index on the
slot of every appointment not cancelled, and one on the code of every active one), never by a
check before the insert: `SlotTaken` and `CodeTaken` say which.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

import wire
from hub.errors import StorageError
from hub.schedule import CabinCalendar, Closure, OpeningHours, RotaShift


class AppointmentStatus(enum.StrEnum):
    """FHIR Appointment.status, the five a cabin's appointment goes through."""

    BOOKED = "booked"
    ARRIVED = "arrived"
    """The code was checked at the cabin: the patient is there."""
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    NOSHOW = "noshow"


ACTIVE = frozenset({AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED})
"""The statuses whose code still opens the cabin (until the code's validity ends)."""


class BookingChannel(enum.StrEnum):
    ONLINE = "online"
    """The public booking page: the patient, or a relative for them."""
    PHONE = "phone"
    """A coordinator or a town hall agent, for a caller."""


@dataclass(frozen=True, slots=True)
class Appointment:
    appointment_id: str
    cabin_id: str
    doctor: str | None
    """The doctor of the rota the slot was booked with (None: no doctor on the rota yet)."""
    starts_at: datetime
    ends_at: datetime
    status: AppointmentStatus
    patient: wire.PatientSummary
    code: str
    """Six random digits. Sealed at rest in PostgreSQL, found by a keyed hash."""
    channel: BookingChannel
    booked_at: datetime
    booked_by: str = ""
    """The coordinator's username; "" when booked online."""
    phone: str = ""
    """E.164 (+33612345678) or ""."""
    email: str = ""
    language: wire.Language = wire.Language.FR
    reason: str = ""
    """What the patient said it is for (optional)."""
    consent_at: datetime | None = None
    """When they consented to the use of their data (online: required)."""
    cancelled_at: datetime | None = None
    cancel_reason: str = ""
    cancelled_by: str = ""
    """The coordinator's username, "patient" on the public page, "" if not cancelled."""
    arrived_at: datetime | None = None
    consultation_id: str | None = None
    """The consultation the patient joined with this appointment."""
    closed_at: datetime | None = None
    """When it became fulfilled or a no-show."""


@dataclass(frozen=True, slots=True)
class HeldSpan:
    """The time an appointment not cancelled holds at a cabin: all a free-slot search needs
    (`BookingStore.held_spans`), without who booked it."""

    cabin_id: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class CabinSetup:
    """What makes a cabin's slots besides the rota: its calendar, weekly opening hours and
    closures (`BookingStore.cabin_setups`)."""

    calendar: CabinCalendar
    hours: tuple[OpeningHours, ...]
    closures: tuple[Closure, ...]


@dataclass(frozen=True, slots=True)
class AppointmentPage:
    """A page of `BookingStore.appointments_page`."""

    appointments: tuple[Appointment, ...]
    next_after: str
    """What to pass for the next page; "" when this one is the last."""


class NotificationChannel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"


class NotificationKind(enum.StrEnum):
    CONFIRMATION = "confirmation"
    REMINDER_DAY = "reminder_day"
    """The day before."""
    REMINDER_HOUR = "reminder_hour"
    """An hour before (both configurable)."""
    CANCELLATION = "cancellation"
    MOVED = "moved"


class NotificationState(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    """Claimed by one replica until `claimed_until`."""
    SENT = "sent"
    FAILED = "failed"
    """Given up after its last try: shown on the coordinator's page."""
    DROPPED = "dropped"
    """No longer to send: the appointment was cancelled or moved before it was due."""


@dataclass(frozen=True, slots=True)
class Notification:
    notification_id: str
    appointment_id: str
    channel: NotificationChannel
    kind: NotificationKind
    due_at: datetime
    state: NotificationState = NotificationState.PENDING
    attempts: int = 0
    last_error: str = ""
    claimed_by: str = ""
    claimed_until: datetime | None = None
    sent_at: datetime | None = None


class SlotTaken(StorageError):
    """Another active appointment holds this cabin's slot (the database's unique index)."""


class CodeTaken(StorageError):
    """Another active appointment has this code: draw another one."""


class ShiftOverlap(StorageError):
    """The doctor already covers this cabin for part of the shift's time: refused by the
    database itself (SQLite: a trigger; PostgreSQL: the insert serialised per doctor under an
    advisory lock), so two coordinators adding overlapping shifts at once never both succeed."""


class BookingStore(Protocol):
    """What the hub keeps of calendars, the rota, appointments and their messages. Both
    `SqliteStorage` and `PostgresStorage` implement it; the conformance suite checks both."""

    # --- calendars and the rota -----------------------------------------------------------

    async def put_calendar(self, calendar: CabinCalendar) -> None:
        """Create or replace a cabin's calendar settings (town, time zone, slot length...)."""
        ...

    async def calendar(self, cabin_id: str) -> CabinCalendar | None: ...

    async def calendars(self) -> list[CabinCalendar]: ...

    async def set_opening_hours(self, cabin_id: str, hours: list[OpeningHours]) -> None:
        """Replace the cabin's weekly opening hours with `hours`."""
        ...

    async def opening_hours(self, cabin_id: str) -> list[OpeningHours]: ...

    async def cabin_setups(
        self, cabin_ids: list[str], *, first_day: date, last_day: date
    ) -> list[CabinSetup]:
        """The calendar, opening hours (by weekday, opening) and closures touching
        [first_day, last_day] (by first day, id) of each of these cabins that has a calendar,
        in the order given: what `calendar`, `opening_hours` and `closures` give, read together
        (the free-slot search of twenty cabins, in one round trip)."""
        ...

    async def add_closure(self, closure: Closure) -> None: ...

    async def remove_closure(self, closure_id: str) -> bool: ...

    async def closures(self, cabin_id: str, *, first_day: date, last_day: date) -> list[Closure]:
        """The closures of the cabin that touch [first_day, last_day]."""
        ...

    async def add_shift(self, shift: RotaShift) -> None:
        """Store a new shift; `ShiftOverlap` if the doctor already covers the cabin for part
        of its time (decided by the database, never by a look before the insert)."""
        ...

    async def change_shift(self, shift: RotaShift) -> bool:
        """Give the stored shift `shift.shift_id` the times of `shift`, in one statement (a
        shortened shift is never off the rota meanwhile); False if there is no such shift;
        `ShiftOverlap` if the doctor covers the cabin at the new times with another shift."""
        ...

    async def remove_shift(self, shift_id: str) -> bool: ...

    async def shifts(
        self,
        *,
        starts_before: datetime,
        ends_after: datetime,
        cabin_id: str | None = None,
        doctor: str | None = None,
    ) -> list[RotaShift]:
        """The shifts that overlap (ends_after, starts_before), of one cabin or doctor if given."""
        ...

    # --- appointments -----------------------------------------------------------------------

    async def add_appointment(self, appointment: Appointment) -> None:
        """Store a new appointment; `SlotTaken` if an appointment not cancelled holds the
        cabin's slot (`starts_at`), `CodeTaken` if an active one has its code."""
        ...

    async def appointment(self, appointment_id: str) -> Appointment | None: ...

    async def appointment_by_code(self, code: str) -> Appointment | None:
        """The active appointment with this code (BOOKED or ARRIVED), if any."""
        ...

    async def appointments(
        self, *, cabin_ids: list[str] | None, starts_from: datetime, starts_before: datetime
    ) -> list[Appointment]:
        """Every appointment (any status) of these cabins (None: all) starting in the range,
        by start time."""
        ...

    async def held_spans(
        self, *, cabin_ids: list[str] | None, starts_from: datetime, starts_before: datetime
    ) -> list[HeldSpan]:
        """The spans of the appointments not cancelled of these cabins (None: all) starting in
        the range, by start: what the free-slot search reads, nothing of the patients (so
        nothing to unseal), a few columns of the slot index."""
        ...

    async def appointments_of_patient(self, patient: wire.PatientSummary) -> list[Appointment]:
        """Every appointment of the patient (by the match key of `hub.patients`), newest first."""
        ...

    async def cancel_appointment(
        self, appointment_id: str, *, at: datetime, reason: str, by: str
    ) -> Appointment | None:
        """BOOKED -> CANCELLED, its pending notifications DROPPED; None if it was not BOOKED."""
        ...

    async def move_appointment(
        self, appointment_id: str, *, starts_at: datetime, ends_at: datetime, doctor: str | None
    ) -> Appointment | None:
        """A BOOKED appointment to another slot (same cabin), its pending reminders DROPPED;
        `SlotTaken` if the slot is held; None if it was not BOOKED."""
        ...

    async def mark_arrived(
        self, appointment_id: str, *, at: datetime, consultation_id: str | None
    ) -> Appointment | None:
        """BOOKED (or NOSHOW: a late patient) -> ARRIVED; None otherwise (the code is used once)."""
        ...

    async def mark_fulfilled(self, appointment_id: str, *, at: datetime) -> Appointment | None:
        """ARRIVED -> FULFILLED; None otherwise."""
        ...

    async def mark_noshows(self, *, started_before: datetime, at: datetime) -> list[Appointment]:
        """Every BOOKED appointment that started before `started_before` -> NOSHOW, atomically
        (two replicas never both mark one); the ones marked."""
        ...

    async def reassign_appointments(
        self, appointment_ids: list[str], *, doctor: str
    ) -> list[Appointment]:
        """The BOOKED ones of these appointments to `doctor` (their shift removed or shortened,
        another doctor on duty covers them), in one statement; the ones changed, by start.
        An appointment no longer BOOKED (arrived, cancelled meanwhile) is left as it is."""
        ...

    async def appointments_page(self, *, after: str = "", limit: int = 500) -> AppointmentPage:
        """Every appointment (any status), a page at a time, those of one patient together
        (by the patient's match key, then id): the operator's export reads them so, never all
        at once. `after` is the `next_after` of the page before ("" for the first)."""
        ...

    # --- the operator's tokens (the export endpoint) ------------------------------------------

    async def put_operator_token(self, name: str, token_sha256: str, *, at: datetime) -> None:
        """Create the operator token `name`, or replace its hash (a new token for that name:
        the old one stops working). Only the token's SHA-256 is stored."""
        ...

    async def revoke_operator_token(self, name: str) -> bool:
        """Forget the token `name`; False if there was none."""
        ...

    async def operator_token_name(self, token_sha256: str) -> str | None:
        """The name of the operator token with this SHA-256, if any."""
        ...

    # --- the outbox ---------------------------------------------------------------------------

    async def add_notifications(self, notifications: list[Notification]) -> None: ...

    async def claim_notifications(
        self, *, now: datetime, claimer: str, lease_until: datetime, limit: int
    ) -> list[Notification]:
        """Due PENDING notifications (and SENDING ones whose lease ran out) -> SENDING by
        `claimer` until `lease_until`, atomically: two replicas never claim the same one."""
        ...

    async def mark_notification_sent(self, notification_id: str, *, at: datetime) -> None: ...

    async def mark_notification_failed(
        self, notification_id: str, *, error: str, retry_at: datetime | None
    ) -> None:
        """Back to PENDING, due at `retry_at`; FAILED for good if `retry_at` is None."""
        ...

    async def drop_notification(self, notification_id: str, *, reason: str) -> None:
        """PENDING or SENDING -> DROPPED, `reason` kept as its last error: a message its
        sender found no longer due (the appointment cancelled or moved meanwhile, the
        patient already there, a reminder past its slot)."""
        ...

    async def notifications(
        self,
        *,
        appointment_id: str | None = None,
        states: frozenset[NotificationState] | None = None,
        limit: int = 1000,
    ) -> list[Notification]: ...

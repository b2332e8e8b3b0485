"""The booking desk: what every booking page does, in one place.

The public page (a patient booking online), the coordinator's page (a caller on the phone),
the cabin (a code typed on the keypad) and the doctor's console all go through `BookingDesk`:
it finds cabins by town, offers free slots (opening hours x the rota, walk-ins kept), books
(a six-digit code drawn until the database takes it; a slot taken meanwhile is a typed
refusal, never a double booking: the database's unique index decides), cancels, moves,
checks codes, marks arrivals and no-shows, and edits the rota, opening hours and closures with
their conflicts explained. Every change is audited (`hub.audit`, subject ``appointment:<id>``,
``shift:<id>`` or ``cabin:<id>``); log lines name ids, never a patient, a phone, an e-mail or a
code.

Refusals are `BookingRefused`, with a `RefusalReason` and the words for a person in French and
English (`fr`, `en`); a rota change refused carries the `RotaConflict` values that explain it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import hmac
import itertools
import logging
import re
import secrets
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from aiohttp import web

import wire
from hub.appointment_codes import code_valid, new_code, normalize_code
from hub.audit import AuditLog
from hub.booking import (
    Appointment,
    AppointmentStatus,
    BookingChannel,
    CodeTaken,
    Notification,
    NotificationKind,
    ShiftOverlap,
    SlotTaken,
)
from hub.cancellation import cancel_and_wait
from hub.clock import Clock
from hub.config import BookingSection
from hub.errors import HubError, StorageError
from hub.holidays import french_public_holidays
from hub.schedule import (
    CabinCalendar,
    Closure,
    ConflictKind,
    HeldIndex,
    OpeningHours,
    RotaConflict,
    RotaShift,
    ScheduleError,
    Slot,
    SlotSpanCache,
    day_bounds,
    day_slots,
    holds_slot,
    is_closed,
    local_day,
    opening_spans,
    removal_conflicts,
    rota_conflicts,
    when_en,
    when_fr,
    zone,
)
from hub.storage import ActorKind, Storage

log = logging.getLogger(__name__)

CODE_DRAWS = 20
"""Codes drawn for one booking before giving up (with 1 M codes, a few thousand active ones
make even a second draw rare)."""
NOSHOW_CHECK_S = 60.0
MAX_REASON_CHARS = 300
MAX_AGENDA_DAYS = 62
PATIENT_ACTOR = "patient"
"""`Appointment.cancelled_by` and the audit's actor when the patient acts on the public page."""
HUB_ACTOR = "hub"
_FAR = timedelta(days=3660)
UTC_ZONE = ZoneInfo("UTC")
_LONGEST_APPOINTMENT = timedelta(hours=4)
"""An appointment starting this long before a slot may still hold it (a slot length since
changed): looked for when slots are offered."""
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")


class RefusalReason(enum.StrEnum):
    UNKNOWN_CABIN = "unknown_cabin"
    UNKNOWN_DOCTOR = "unknown_doctor"
    NOT_A_SLOT = "not_a_slot"
    WALK_IN = "walk_in"
    PAST = "past"
    TOO_FAR = "too_far"
    SLOT_TAKEN = "slot_taken"
    NO_CONSENT = "no_consent"
    BAD_PHONE = "bad_phone"
    BAD_EMAIL = "bad_email"
    BAD_TEXT = "bad_text"
    REASON_REQUIRED = "reason_required"
    NOT_FOUND = "not_found"
    """The code and birth date match no appointment (never says which was wrong)."""
    NOT_BOOKED = "not_booked"
    """Cancelled, moved or checked in already, or its time has passed."""
    NO_CODE = "no_code"
    ROTA_CONFLICT = "rota_conflict"
    BAD_HOURS = "bad_hours"
    HAS_APPOINTMENTS = "has_appointments"
    BAD_CALENDAR = "bad_calendar"


_WORDS: dict[RefusalReason, tuple[str, str]] = {
    RefusalReason.UNKNOWN_CABIN: ("Cette cabine n'existe pas.", "There is no such cabin."),
    RefusalReason.UNKNOWN_DOCTOR: ("Ce médecin n'existe pas.", "There is no such doctor."),
    RefusalReason.NOT_A_SLOT: (
        "Ce créneau n'existe pas (cabine fermée ou sans médecin).",
        "There is no such slot (the cabin is closed or has no doctor then).",
    ),
    RefusalReason.WALK_IN: (
        "Ce créneau est gardé pour les patients sans rendez-vous.",
        "This slot is kept for patients without an appointment.",
    ),
    RefusalReason.PAST: ("Ce créneau est déjà passé.", "This slot has already passed."),
    RefusalReason.TOO_FAR: (
        "Ce créneau est trop loin dans le temps pour être réservé en ligne.",
        "This slot is too far ahead to be booked online.",
    ),
    RefusalReason.SLOT_TAKEN: (
        "Ce créneau vient d'être pris. Choisissez-en un autre.",
        "This slot has just been taken. Please choose another one.",
    ),
    RefusalReason.NO_CONSENT: (
        "Votre accord pour l'utilisation de vos données est nécessaire.",
        "Your consent to the use of your data is needed.",
    ),
    RefusalReason.BAD_PHONE: (
        "Ce numéro de téléphone n'est pas valable (exemple : 06 12 34 56 78).",
        "This phone number is not valid (example: +33 6 12 34 56 78).",
    ),
    RefusalReason.BAD_EMAIL: (
        "Cette adresse e-mail n'est pas valable.",
        "This e-mail address is not valid.",
    ),
    RefusalReason.BAD_TEXT: ("Ce texte est trop long.", "This text is too long."),
    RefusalReason.REASON_REQUIRED: (
        "Dites-nous pourquoi vous annulez.",
        "Please tell us why you cancel.",
    ),
    RefusalReason.NOT_FOUND: (
        "Ce code et cette date de naissance ne correspondent à aucun rendez-vous à venir.",
        "This code and birth date match no upcoming appointment.",
    ),
    RefusalReason.NOT_BOOKED: (
        "Ce rendez-vous ne peut plus être changé (annulé, passé ou patient déjà arrivé).",
        "This appointment can no longer be changed (cancelled, past, or the patient is in).",
    ),
    RefusalReason.NO_CODE: (
        "Aucun code libre n'a pu être tiré. Réessayez.",
        "No free code could be drawn. Please try again.",
    ),
    RefusalReason.ROTA_CONFLICT: (
        "Ce changement du planning est refusé.",
        "This change to the rota is refused.",
    ),
    RefusalReason.BAD_HOURS: ("Ces horaires ne sont pas valables.", "These hours are not valid."),
    RefusalReason.HAS_APPOINTMENTS: (
        "Des rendez-vous sont pris à ces dates.",
        "Appointments are booked on those days.",
    ),
    RefusalReason.BAD_CALENDAR: (
        "Ces réglages de la cabine ne sont pas valables.",
        "These cabin settings are not valid.",
    ),
}


class BookingRefused(HubError):
    """A booking action refused, with words for the person who asked (French, English)."""

    def __init__(
        self,
        reason: RefusalReason,
        *,
        fr: str = "",
        en: str = "",
        conflicts: Sequence[RotaConflict] = (),
    ) -> None:
        default_fr, default_en = _WORDS[reason]
        self.reason = reason
        self.fr = fr or default_fr
        self.en = en or default_en
        self.conflicts = tuple(conflicts)
        super().__init__(self.en)


class NotificationPlanner(Protocol):
    """Which messages an appointment gets, and when (`hub.notifications` implements it): the
    desk stores what it plans in the outbox."""

    def plan(
        self, appointment: Appointment, kinds: set[NotificationKind], now: datetime
    ) -> list[Notification]: ...


@dataclass(frozen=True, slots=True)
class AgendaDay:
    day: date
    """The cabin's local date."""
    slots: tuple[Slot, ...]
    """Every slot of the day, walk-in ones included."""
    appointments: tuple[Appointment, ...]
    """Every appointment starting that day, any status, by start."""
    shifts: tuple[RotaShift, ...]
    """The rota's shifts of the cabin that touch the day."""
    closure: Closure | None = None

    def appointment_at(self, slot: Slot) -> Appointment | None:
        """The appointment not cancelled that holds `slot`, if any."""
        for a in self.appointments:
            if holds_slot(a) and a.starts_at < slot.ends_at and a.ends_at > slot.starts_at:
                return a
        return None


@dataclass(frozen=True, slots=True)
class CabinAgenda:
    calendar: CabinCalendar
    days: tuple[AgendaDay, ...]


@dataclass(frozen=True, slots=True)
class HolidayClosures:
    """What `close_on_public_holidays` did: the closures added, and those refused (a cabin
    with appointments booked that day: move or cancel them first) with the reason."""

    added: tuple[Closure, ...]
    refused: tuple[tuple[str, date, str], ...]
    """(cabin, day, the refusal in French)."""


def fold_town(text: str) -> str:
    """A town's name as searched: no accents, no case, hyphens and apostrophes as spaces,
    ``St``/``Ste`` as ``saint``/``sainte`` ("St-Flour" finds "Saint-Flour")."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    words = re.sub(r"[^0-9a-z]+", " ", bare).split()
    return " ".join({"st": "saint", "ste": "sainte"}.get(word, word) for word in words)


def normalize_phone(text: str) -> str:
    """A phone number as E.164 (``+33612345678``), French national numbers (``06 12 34 56
    78``) and ``0033`` prefixes included; "" stays ""; anything else is refused."""
    compact = re.sub(r"[\s.\-()/]", "", text)
    if not compact:
        return ""
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    elif re.fullmatch(r"0[1-9][0-9]{8}", compact):
        compact = "+33" + compact[1:]
    if compact.startswith("+330"):
        compact = "+33" + compact[4:]
    if not compact.isascii() or not _E164.fullmatch(compact):
        raise BookingRefused(RefusalReason.BAD_PHONE)
    return compact


def check_email(text: str) -> str:
    email = text.strip()
    if email and (len(email) > 254 or not email.isascii() or not _EMAIL.fullmatch(email)):
        raise BookingRefused(RefusalReason.BAD_EMAIL)
    return email


def _text(text: str, *, required: RefusalReason | None = None) -> str:
    cleaned = " ".join(text.split())
    if len(cleaned) > MAX_REASON_CHARS or any(unicodedata.category(c) == "Cc" for c in cleaned):
        raise BookingRefused(RefusalReason.BAD_TEXT)
    if required is not None and not cleaned:
        raise BookingRefused(required)
    return cleaned


def _new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


class BookingDesk:
    """The booking service every page uses (see the module's docstring). The hub builds one
    (`hub.app`, in the application as `BOOKING_DESK`) and starts its no-show timer."""

    def __init__(
        self,
        *,
        storage: Storage,
        audit: AuditLog,
        clock: Clock,
        settings: BookingSection,
        notify: NotificationPlanner,
        on_change: Callable[[Appointment], None] | None = None,
    ) -> None:
        """`on_change`: told of every appointment booked, moved or cancelled (the hub sends
        the cabin its day's list again, for its offline code checks)."""
        self._storage = storage
        self._audit = audit
        self._clock = clock
        self._settings = settings
        self._notify = notify
        self._on_change = on_change
        self._noshow_task: asyncio.Task[None] | None = None
        self._spans = SlotSpanCache()
        """The cabins' slot spans by calendar, hours, day and rota: the free-slot search's."""

    @property
    def settings(self) -> BookingSection:
        return self._settings

    # --- cabins ---------------------------------------------------------------------------------

    def new_calendar(self, cabin_id: str, town: str) -> CabinCalendar:
        """A calendar with the `[booking]` defaults."""
        s = self._settings
        return CabinCalendar(
            cabin_id=cabin_id,
            town=town,
            timezone=s.timezone,
            slot_minutes=s.slot_minutes,
            walk_in_share=s.walk_in_share,
            bookable_days=s.bookable_days,
        )

    async def put_calendar(
        self, calendar: CabinCalendar, *, by: str, actor_kind: ActorKind = ActorKind.OPERATOR
    ) -> None:
        """Create or change a cabin's booking settings (audited ``calendar.set``)."""
        try:
            zone(calendar.timezone)
        except ScheduleError:
            raise BookingRefused(
                RefusalReason.BAD_CALENDAR,
                fr=f"Fuseau horaire inconnu : {calendar.timezone}.",
                en=f"Unknown time zone: {calendar.timezone}.",
            ) from None
        if not (
            calendar.town.strip()
            and 5 <= calendar.slot_minutes <= 240
            and 0 <= calendar.walk_in_share < 1
            and 1 <= calendar.bookable_days <= 366
        ):
            raise BookingRefused(RefusalReason.BAD_CALENDAR)
        await self._storage.put_calendar(calendar)
        await self._audit.record(
            "calendar.set", actor_kind=actor_kind, actor_id=by, subject=f"cabin:{calendar.cabin_id}"
        )

    async def calendar(self, cabin_id: str) -> CabinCalendar:
        calendar = await self._storage.calendar(cabin_id)
        if calendar is None:
            raise BookingRefused(RefusalReason.UNKNOWN_CABIN)
        return calendar

    async def towns(self) -> list[str]:
        """The towns with a bookable cabin, in alphabetical order (accents ignored)."""
        towns = {c.town for c in await self._storage.calendars()}
        return sorted(towns, key=lambda town: (fold_town(town), town))

    async def cabins_in_town(self, text: str) -> list[CabinCalendar]:
        """The cabins whose town is `text` (accents, case, hyphens ignored), then those whose
        town starts with it."""
        wanted = fold_town(text)
        if not wanted:
            return []
        found = [
            (fold_town(c.town) != wanted, fold_town(c.town), c.cabin_id, c)
            for c in await self._storage.calendars()
            if fold_town(c.town).startswith(wanted)
        ]
        return [c for *_, c in sorted(found, key=lambda entry: entry[:3])]

    # --- slots and agendas ----------------------------------------------------------------------

    async def _days(
        self, calendar: CabinCalendar, first_day: date, days: int
    ) -> tuple[list[tuple[date, list[Slot], Closure | None]], list[RotaShift]]:
        tz = zone(calendar.timezone)
        last_day = first_day + timedelta(days=days - 1)
        start, _ = day_bounds(first_day, tz)
        _, end = day_bounds(last_day, tz)
        hours = await self._storage.opening_hours(calendar.cabin_id)
        closures = await self._storage.closures(
            calendar.cabin_id, first_day=first_day, last_day=last_day
        )
        shifts = await self._storage.shifts(
            starts_before=end, ends_after=start, cabin_id=calendar.cabin_id
        )
        plan = []
        for offset in range(days):
            day = first_day + timedelta(days=offset)
            closure = next((c for c in closures if c.first_day <= day <= c.last_day), None)
            plan.append((day, day_slots(calendar, hours, closures, shifts, day), closure))
        return plan, shifts

    async def free_slots(self, cabin_id: str, first_day: date, days: int) -> list[Slot]:
        """The slots a patient may book at the cabin from `first_day` (its local date) for
        `days` days: future, within its `bookable_days`, not walk-in, not taken."""
        return (await self.free_slots_of([cabin_id], first_day, days))[cabin_id]

    async def free_slots_of(
        self, cabin_ids: Sequence[str], first_day: date, days: int
    ) -> dict[str, list[Slot]]:
        """`free_slots` of several cabins (a town's, a coordinator's), read together: the
        rota and the held spans in one query each, nothing of the patients."""
        setups = await self._storage.cabin_setups(
            list(cabin_ids), first_day=first_day, last_day=first_day + timedelta(days=days)
        )
        if len(setups) != len(cabin_ids):
            raise BookingRefused(RefusalReason.UNKNOWN_CABIN)
        now = self._clock.now()
        ranges: dict[str, tuple[date, int]] = {}
        for setup in setups:
            calendar = setup.calendar
            tz = zone(calendar.timezone)
            today = local_day(now, tz)
            first = max(first_day, today)
            last = min(first + timedelta(days=days), today + timedelta(calendar.bookable_days))
            ranges[calendar.cabin_id] = (first, (last - first).days)
        found: dict[str, list[Slot]] = {cabin_id: [] for cabin_id in cabin_ids}
        wanted = [s for s in setups if ranges[s.calendar.cabin_id][1] > 0]
        if not wanted:
            return found
        # every cabin's range lies within (the first day's start - a day, the last's end + a day)
        lowest = min(ranges[s.calendar.cabin_id][0] for s in wanted)
        highest = max(
            ranges[s.calendar.cabin_id][0] + timedelta(ranges[s.calendar.cabin_id][1])
            for s in wanted
        )
        start = max(now, day_bounds(lowest, UTC_ZONE)[0] - timedelta(days=1))
        end = day_bounds(highest, UTC_ZONE)[0] + timedelta(days=1)
        only = wanted[0].calendar.cabin_id if len(wanted) == 1 else None
        shifts = await self._storage.shifts(starts_before=end, ends_after=start, cabin_id=only)
        held = HeldIndex(
            await self._storage.held_spans(
                cabin_ids=[s.calendar.cabin_id for s in wanted],
                starts_from=start - _LONGEST_APPOINTMENT,
                starts_before=end,
            )
        )
        for setup in wanted:
            calendar = setup.calendar
            cabin_id = calendar.cabin_id
            first, count = ranges[cabin_id]
            cabin_slots = found[cabin_id]
            for slots in self._spans.bookable(
                calendar, setup.hours, setup.closures, shifts, first, count
            ):
                if slots:
                    cabin_slots += held.free_of(cabin_id, slots, now)
        return found

    async def agenda(
        self, cabin_ids: Iterable[str], first_day: date, days: int
    ) -> list[CabinAgenda]:
        """The cabins' days side by side: every slot, appointment (any status) and shift."""
        days = max(1, min(days, MAX_AGENDA_DAYS))
        agendas = []
        for cabin_id in cabin_ids:
            calendar = await self.calendar(cabin_id)
            tz = zone(calendar.timezone)
            plan, shifts = await self._days(calendar, first_day, days)
            start, _ = day_bounds(first_day, tz)
            _, end = day_bounds(first_day + timedelta(days=days - 1), tz)
            appointments = await self._storage.appointments(
                cabin_ids=[cabin_id], starts_from=start, starts_before=end
            )
            agenda_days = []
            for day, slots, closure in plan:
                day_start, day_end = day_bounds(day, tz)
                agenda_days.append(
                    AgendaDay(
                        day=day,
                        slots=tuple(slots),
                        appointments=tuple(
                            a for a in appointments if day_start <= a.starts_at < day_end
                        ),
                        shifts=tuple(
                            s for s in shifts if s.starts_at < day_end and s.ends_at > day_start
                        ),
                        closure=closure,
                    )
                )
            agendas.append(CabinAgenda(calendar, tuple(agenda_days)))
        return agendas

    async def _slot(self, calendar: CabinCalendar, starts_at: datetime) -> Slot:
        """The bookable slot of the cabin starting at `starts_at` (refusals otherwise)."""
        tz = zone(calendar.timezone)
        if starts_at <= self._clock.now():
            raise BookingRefused(RefusalReason.PAST)
        plan, _ = await self._days(calendar, local_day(starts_at, tz), 1)
        slot = next((s for s in plan[0][1] if s.starts_at == starts_at), None)
        if slot is None:
            raise BookingRefused(RefusalReason.NOT_A_SLOT)
        if slot.walk_in:
            raise BookingRefused(RefusalReason.WALK_IN)
        return slot

    async def _least_busy(self, slot: Slot, tz_name: str, *, besides: str = "") -> str:
        """The doctor on duty for `slot` with the fewest bookings that day, over every cabin
        (a remote doctor covers several); the first by name among equals."""
        if len(slot.doctors) == 1:
            return slot.doctors[0]
        tz = zone(tz_name)
        start, end = day_bounds(local_day(slot.starts_at, tz), tz)
        that_day = await self._storage.appointments(
            cabin_ids=None, starts_from=start, starts_before=end
        )
        counts = Counter(
            a.doctor for a in that_day if holds_slot(a) and a.appointment_id != besides
        )
        return min(slot.doctors, key=lambda doctor: (counts[doctor], doctor))

    def _reminder_kinds(self) -> set[NotificationKind]:
        kinds = set()
        if self._settings.reminder_day_before:
            kinds.add(NotificationKind.REMINDER_DAY)
        if self._settings.reminder_hours_before > 0:
            kinds.add(NotificationKind.REMINDER_HOUR)
        return kinds

    async def _queue(
        self, appointment: Appointment, kinds: set[NotificationKind], now: datetime
    ) -> None:
        if self._on_change is not None:
            self._on_change(appointment)
        planned = self._notify.plan(appointment, kinds, now)
        if planned:
            await self._storage.add_notifications(planned)

    # --- booking ----------------------------------------------------------------------------

    async def book(
        self,
        cabin_id: str,
        starts_at: datetime,
        *,
        patient: wire.PatientSummary,
        phone: str = "",
        email: str = "",
        language: wire.Language = wire.Language.FR,
        channel: BookingChannel,
        booked_by: str = "",
        consent: bool,
        reason: str = "",
        client_address: str | None = None,
    ) -> Appointment:
        """Book the slot starting at `starts_at` for the patient: the appointment, with its
        code; its confirmation and reminders queued; audited ``appointment.booked``."""
        calendar = await self.calendar(cabin_id)
        if channel is BookingChannel.ONLINE and not consent:
            raise BookingRefused(RefusalReason.NO_CONSENT)
        phone = normalize_phone(phone)
        email = check_email(email)
        reason = _text(reason)
        now = self._clock.now()
        tz = zone(calendar.timezone)
        horizon = day_bounds(local_day(now, tz) + timedelta(days=calendar.bookable_days), tz)[0]
        if channel is BookingChannel.ONLINE and starts_at >= horizon:
            raise BookingRefused(RefusalReason.TOO_FAR)
        slot = await self._slot(calendar, starts_at)
        doctor = await self._least_busy(slot, calendar.timezone)
        appointment = None
        for _ in range(CODE_DRAWS):
            candidate = Appointment(
                appointment_id=_new_id("apt"),
                cabin_id=cabin_id,
                doctor=doctor,
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                status=AppointmentStatus.BOOKED,
                patient=patient,
                code=new_code(),
                channel=channel,
                booked_at=now,
                booked_by=booked_by if channel is BookingChannel.PHONE else "",
                phone=phone,
                email=email,
                language=language,
                reason=reason,
                consent_at=now if consent else None,
            )
            try:
                await self._storage.add_appointment(candidate)
            except CodeTaken:
                log.info("booking.code_taken cabin=%s", cabin_id)
                continue
            except SlotTaken:
                raise BookingRefused(RefusalReason.SLOT_TAKEN) from None
            appointment = candidate
            break
        if appointment is None:
            log.warning("booking.no_free_code cabin=%s draws=%d", cabin_id, CODE_DRAWS)
            raise BookingRefused(RefusalReason.NO_CODE)
        await self._queue(
            appointment, {NotificationKind.CONFIRMATION} | self._reminder_kinds(), now
        )
        online = channel is BookingChannel.ONLINE
        await self._audit.record(
            "appointment.booked",
            actor_kind=ActorKind.PUBLIC if online else ActorKind.AGENT,
            actor_id=PATIENT_ACTOR if online else booked_by,
            client_address=client_address,
            subject=f"appointment:{appointment.appointment_id}",
        )
        log.info(
            "booking.booked appointment=%s cabin=%s channel=%s doctor=%s",
            appointment.appointment_id,
            cabin_id,
            channel.value,
            doctor,
        )
        return appointment

    async def cancel_by_patient(
        self, code: str, birth_date: date, reason: str, *, client_address: str | None = None
    ) -> Appointment:
        """The patient cancels on the public page with the code and their birth date, saying
        why. A wrong code or birth date get the same refusal (`NOT_FOUND`), compared in
        constant time."""
        reason = _text(reason, required=RefusalReason.REASON_REQUIRED)
        typed = normalize_code(code) or "------"
        found = await self._storage.appointment_by_code(typed) if typed.isdigit() else None
        stored_code = found.code if found is not None else "!!!!!!"
        stored_birth = found.patient.birth_date.isoformat() if found is not None else "!"
        same_code = hmac.compare_digest(stored_code.encode(), typed.encode())
        same_birth = hmac.compare_digest(stored_birth.encode(), birth_date.isoformat().encode())
        if found is None or not (same_code & same_birth):
            log.info("booking.patient_cancel_refused")
            raise BookingRefused(RefusalReason.NOT_FOUND)
        now = self._clock.now()
        if found.status is not AppointmentStatus.BOOKED or found.starts_at <= now:
            raise BookingRefused(RefusalReason.NOT_BOOKED)
        cancelled = await self._storage.cancel_appointment(
            found.appointment_id, at=now, reason=reason, by=PATIENT_ACTOR
        )
        if cancelled is None:
            raise BookingRefused(RefusalReason.NOT_BOOKED)
        await self._cancelled(cancelled, ActorKind.PUBLIC, PATIENT_ACTOR, now, client_address)
        return cancelled

    async def cancel(
        self,
        appointment_id: str,
        *,
        by: str,
        reason: str,
        actor_kind: ActorKind = ActorKind.AGENT,
    ) -> Appointment:
        """A coordinator cancels for a caller (the reason is required too)."""
        reason = _text(reason, required=RefusalReason.REASON_REQUIRED)
        now = self._clock.now()
        cancelled = await self._storage.cancel_appointment(
            appointment_id, at=now, reason=reason, by=by
        )
        if cancelled is None:
            if await self._storage.appointment(appointment_id) is None:
                raise BookingRefused(RefusalReason.NOT_FOUND)
            raise BookingRefused(RefusalReason.NOT_BOOKED)
        await self._cancelled(cancelled, actor_kind, by, now, None)
        return cancelled

    async def _cancelled(
        self,
        appointment: Appointment,
        actor_kind: ActorKind,
        by: str,
        now: datetime,
        client_address: str | None,
    ) -> None:
        await self._queue(appointment, {NotificationKind.CANCELLATION}, now)
        await self._audit.record(
            "appointment.cancelled",
            actor_kind=actor_kind,
            actor_id=by,
            client_address=client_address,
            subject=f"appointment:{appointment.appointment_id}",
        )
        log.info("booking.cancelled appointment=%s", appointment.appointment_id)

    async def move(
        self,
        appointment_id: str,
        new_start: datetime,
        *,
        by: str,
        actor_kind: ActorKind = ActorKind.AGENT,
    ) -> Appointment:
        """Move a booked appointment to another free slot of its cabin (same code); the
        patient is told (``moved``) and the reminders planned again."""
        current = await self._storage.appointment(appointment_id)
        if current is None:
            raise BookingRefused(RefusalReason.NOT_FOUND)
        if current.status is not AppointmentStatus.BOOKED:
            raise BookingRefused(RefusalReason.NOT_BOOKED)
        calendar = await self.calendar(current.cabin_id)
        slot = await self._slot(calendar, new_start)
        doctor = await self._least_busy(slot, calendar.timezone, besides=appointment_id)
        try:
            moved = await self._storage.move_appointment(
                appointment_id, starts_at=slot.starts_at, ends_at=slot.ends_at, doctor=doctor
            )
        except SlotTaken:
            raise BookingRefused(RefusalReason.SLOT_TAKEN) from None
        if moved is None:
            raise BookingRefused(RefusalReason.NOT_BOOKED)
        now = self._clock.now()
        await self._queue(moved, {NotificationKind.MOVED} | self._reminder_kinds(), now)
        await self._audit.record(
            "appointment.moved",
            actor_kind=actor_kind,
            actor_id=by,
            subject=f"appointment:{appointment_id}",
        )
        log.info("booking.moved appointment=%s", appointment_id)
        return moved

    async def patient_bookings(self, patient: wire.PatientSummary) -> list[Appointment]:
        """The patient's appointments, newest first (the coordinator's search)."""
        return await self._storage.appointments_of_patient(patient)

    # --- at the cabin --------------------------------------------------------------------------

    async def check_code(
        self, cabin_id: str, code: str, now: datetime | None = None
    ) -> Appointment | None:
        """The booked appointment this code opens at this cabin now, or None. No side effect:
        the code is used by `arrive` (once: an arrived appointment's code opens nothing)."""
        typed = normalize_code(code)
        if typed is None:
            return None
        found = await self._storage.appointment_by_code(typed)
        if found is None or not hmac.compare_digest(found.code.encode(), typed.encode()):
            return None
        if found.cabin_id != cabin_id or found.status is not AppointmentStatus.BOOKED:
            return None
        calendar = await self._storage.calendar(cabin_id)
        if calendar is None:
            return None
        at = now or self._clock.now()
        if not code_valid(found, at, calendar, before_min=self._settings.code_valid_before_min):
            return None
        return found

    async def arrive(self, appointment_id: str, consultation_id: str | None) -> Appointment | None:
        """The patient is at the cabin (a late one, already a no-show, too); None if the
        appointment was not booked (its code is used once)."""
        arrived = await self._storage.mark_arrived(
            appointment_id, at=self._clock.now(), consultation_id=consultation_id
        )
        if arrived is None:
            return None
        await self._audit.record(
            "appointment.arrived",
            actor_kind=ActorKind.CABIN,
            actor_id=arrived.cabin_id,
            consultation_id=consultation_id,
            subject=f"appointment:{appointment_id}",
        )
        log.info("booking.arrived appointment=%s", appointment_id)
        return arrived

    async def fulfil(self, appointment_id: str) -> Appointment | None:
        """The consultation of an arrived appointment ended."""
        done = await self._storage.mark_fulfilled(appointment_id, at=self._clock.now())
        if done is not None:
            await self._audit.record(
                "appointment.fulfilled",
                actor_kind=ActorKind.HUB,
                actor_id=HUB_ACTOR,
                consultation_id=done.consultation_id,
                subject=f"appointment:{appointment_id}",
            )
        return done

    # --- no-shows -----------------------------------------------------------------------------

    async def mark_noshows(self) -> list[Appointment]:
        """Every booked appointment `noshow_after_min` past its start becomes a no-show. The
        storage's update is conditional: with two replicas, each appointment is marked (and
        audited) by one of them."""
        now = self._clock.now()
        marked = await self._storage.mark_noshows(
            started_before=now - timedelta(minutes=self._settings.noshow_after_min), at=now
        )
        for appointment in marked:
            await self._audit.record(
                "appointment.noshow",
                actor_kind=ActorKind.HUB,
                actor_id=HUB_ACTOR,
                subject=f"appointment:{appointment.appointment_id}",
            )
            log.info("booking.noshow appointment=%s", appointment.appointment_id)
        return marked

    def start(self, *, every_s: float = NOSHOW_CHECK_S) -> None:
        """Start the no-show timer (stopped by `stop`)."""
        if self._noshow_task is None:
            self._noshow_task = asyncio.get_running_loop().create_task(
                self._noshow_loop(every_s), name="hub-noshow-timer"
            )

    @property
    def timer_running(self) -> bool:
        return self._noshow_task is not None and not self._noshow_task.done()

    async def stop(self) -> None:
        if self._noshow_task is not None:
            await cancel_and_wait(self._noshow_task)
            self._noshow_task = None

    async def _noshow_loop(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.mark_noshows()
            except StorageError as exc:
                log.warning("booking.noshow_check_failed error=%s", type(exc).__name__)

    # --- the rota -------------------------------------------------------------------------------

    async def _rota_context(
        self, calendar: CabinCalendar, start: datetime, end: datetime
    ) -> tuple[list[Closure], list[OpeningHours]]:
        tz = zone(calendar.timezone)
        closures = await self._storage.closures(
            calendar.cabin_id, first_day=local_day(start, tz), last_day=local_day(end, tz)
        )
        return closures, await self._storage.opening_hours(calendar.cabin_id)

    async def add_shift(
        self,
        cabin_id: str,
        doctor: str,
        starts_at: datetime,
        ends_at: datetime,
        *,
        by: str,
        actor_kind: ActorKind = ActorKind.AGENT,
    ) -> RotaShift:
        """Put a doctor on the rota of a cabin (`RotaConflict`s refuse it, explained)."""
        calendar = await self.calendar(cabin_id)
        if await self._storage.doctor(doctor) is None:
            raise BookingRefused(RefusalReason.UNKNOWN_DOCTOR)
        shift = RotaShift(
            shift_id=_new_id("shift"),
            doctor=doctor,
            cabin_id=cabin_id,
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=by,
            created_at=self._clock.now(),
        )
        await self._check_new_shift(calendar, shift)
        await self._add_checked_shift(calendar, shift)
        await self._audit.record(
            "shift.added", actor_kind=actor_kind, actor_id=by, subject=f"shift:{shift.shift_id}"
        )
        log.info(
            "booking.shift_added shift=%s cabin=%s doctor=%s", shift.shift_id, cabin_id, doctor
        )
        return shift

    async def _check_new_shift(self, calendar: CabinCalendar, shift: RotaShift) -> None:
        if shift.ends_at > shift.starts_at:
            existing = await self._storage.shifts(
                starts_before=shift.ends_at,
                ends_after=shift.starts_at,
                cabin_id=shift.cabin_id,
                doctor=shift.doctor,
            )
            closures, hours = await self._rota_context(calendar, shift.starts_at, shift.ends_at)
        else:
            existing, closures, hours = [], [], []
        conflicts = rota_conflicts(shift, existing, closures, calendar, hours)
        if conflicts:
            raise _rota_refused(conflicts)

    async def _add_checked_shift(self, calendar: CabinCalendar, shift: RotaShift) -> None:
        """Store a shift the checks let through; the database refuses it if another
        coordinator added an overlapping one meanwhile, explained as the check explains it."""
        try:
            await self._storage.add_shift(shift)
        except ShiftOverlap:
            log.info("booking.shift_overlap cabin=%s doctor=%s", shift.cabin_id, shift.doctor)
            await self._check_new_shift(calendar, shift)  # names the other shift, now stored
            raise _rota_refused([_overlap(shift)]) from None

    async def _upcoming_shift(self, shift_id: str) -> RotaShift:
        now = self._clock.now()
        upcoming = await self._storage.shifts(starts_before=now + _FAR, ends_after=now)
        shift = next((s for s in upcoming if s.shift_id == shift_id), None)
        if shift is None:
            raise _rota_refused(
                [
                    RotaConflict(
                        ConflictKind.UNKNOWN_SHIFT,
                        fr="Cette permanence n'existe pas ou est terminée.",
                        en="There is no such shift, or it has ended.",
                    )
                ]
            )
        return shift

    async def _check_removal(
        self, calendar: CabinCalendar, shift: RotaShift, replacement: RotaShift | None
    ) -> dict[str, list[str]]:
        """Refuse the removal (or shortening) if it leaves booked appointments without any
        doctor; otherwise the appointments of the shift's doctor it uncovers, by the doctor
        on duty who takes them over (`_takers`)."""
        booked = await self._storage.appointments(
            cabin_ids=[shift.cabin_id],
            starts_from=shift.starts_at - timedelta(days=1),
            starts_before=shift.ends_at,
        )
        others = await self._storage.shifts(
            starts_before=shift.ends_at, ends_after=shift.starts_at, cabin_id=shift.cabin_id
        )
        conflicts = removal_conflicts(
            shift, booked, others, replacement=replacement, timezone=calendar.timezone
        )
        if conflicts:
            raise _rota_refused(conflicts)
        return _takers(shift, booked, others, replacement)

    async def _reassign(
        self, takers: dict[str, list[str]], *, shift_id: str, by: str, actor_kind: ActorKind
    ) -> list[Appointment]:
        """Give the appointments of a removed or shortened shift to the doctors who cover
        them (only those still BOOKED: the storage's update is conditional), each audited."""
        moved: list[Appointment] = []
        for doctor, appointment_ids in sorted(takers.items()):
            changed = await self._storage.reassign_appointments(appointment_ids, doctor=doctor)
            for a in changed:
                await self._audit.record(
                    "appointment.reassigned",
                    actor_kind=actor_kind,
                    actor_id=by,
                    subject=f"appointment:{a.appointment_id}",
                )
                log.info(
                    "booking.reassigned appointment=%s doctor=%s shift=%s",
                    a.appointment_id,
                    doctor,
                    shift_id,
                )
            moved += changed
        return moved

    async def remove_shift(
        self, shift_id: str, *, by: str, actor_kind: ActorKind = ActorKind.AGENT
    ) -> RotaShift:
        """Take a shift that has not started off the rota; refused if booked appointments
        would be left without a doctor (a shift that has started is shortened instead)."""
        shift = await self._upcoming_shift(shift_id)
        if shift.starts_at <= self._clock.now():
            raise _rota_refused([_HAS_STARTED])
        calendar = await self.calendar(shift.cabin_id)
        takers = await self._check_removal(calendar, shift, None)
        await self._storage.remove_shift(shift_id)
        await self._audit.record(
            "shift.removed", actor_kind=actor_kind, actor_id=by, subject=f"shift:{shift_id}"
        )
        log.info("booking.shift_removed shift=%s", shift_id)
        await self._reassign(takers, shift_id=shift_id, by=by, actor_kind=actor_kind)
        return shift

    async def change_shift(
        self,
        shift_id: str,
        starts_at: datetime,
        ends_at: datetime,
        *,
        by: str,
        actor_kind: ActorKind = ActorKind.AGENT,
    ) -> RotaShift:
        """Change a shift's times (a doctor leaving early: shorten it). A shift that has
        started keeps its start; the checks of adding and removing both apply."""
        shift = await self._upcoming_shift(shift_id)
        now = self._clock.now()
        if shift.starts_at <= now and starts_at != shift.starts_at:
            raise _rota_refused([_HAS_STARTED])
        if ends_at <= now:
            raise _rota_refused([_HAS_STARTED])
        calendar = await self.calendar(shift.cabin_id)
        changed = dataclasses.replace(shift, starts_at=starts_at, ends_at=ends_at)
        await self._check_new_shift(calendar, changed)
        takers = await self._check_removal(calendar, shift, changed)
        try:
            stored = await self._storage.change_shift(changed)
        except ShiftOverlap:  # another coordinator's shift, added since the check
            await self._check_new_shift(calendar, changed)  # names it
            raise _rota_refused([_overlap(changed)]) from None
        if not stored:  # removed meanwhile
            await self._upcoming_shift(shift_id)
        await self._audit.record(
            "shift.changed", actor_kind=actor_kind, actor_id=by, subject=f"shift:{shift_id}"
        )
        await self._reassign(takers, shift_id=shift_id, by=by, actor_kind=actor_kind)
        return changed

    # --- opening hours and closures -----------------------------------------------------------

    async def _booked_between(
        self, cabin_id: str, start: datetime, end: datetime
    ) -> list[Appointment]:
        now = self._clock.now()
        found = await self._storage.appointments(
            cabin_ids=[cabin_id], starts_from=max(start, now), starts_before=end
        )
        return [a for a in found if a.status is AppointmentStatus.BOOKED]

    async def set_opening_hours(
        self,
        cabin_id: str,
        hours: list[OpeningHours],
        *,
        by: str,
        actor_kind: ActorKind = ActorKind.AGENT,
    ) -> None:
        """Replace the cabin's weekly opening hours; refused if a booked appointment to come
        would fall outside them (move or cancel it first)."""
        calendar = await self.calendar(cabin_id)
        _check_hours(cabin_id, hours)
        tz = zone(calendar.timezone)
        now = self._clock.now()
        booked = await self._booked_between(cabin_id, now, now + timedelta(days=400))
        outside = [
            a
            for a in booked
            if not any(
                start <= a.starts_at and a.ends_at <= end
                for start, end in opening_spans(calendar, hours, local_day(a.starts_at, tz))
            )
        ]
        if outside:
            raise _has_appointments(outside, tz)
        await self._storage.set_opening_hours(cabin_id, hours)
        await self._audit.record(
            "cabin.opening_hours_set",
            actor_kind=actor_kind,
            actor_id=by,
            subject=f"cabin:{cabin_id}",
        )

    async def add_closure(
        self,
        cabin_id: str,
        first_day: date,
        last_day: date,
        reason: str,
        *,
        by: str,
        actor_kind: ActorKind = ActorKind.AGENT,
    ) -> Closure:
        """Close the cabin from `first_day` to `last_day` (both included); refused if
        appointments are booked then (move or cancel them first)."""
        calendar = await self.calendar(cabin_id)
        reason = _text(reason, required=RefusalReason.BAD_TEXT)
        if last_day < first_day:
            raise BookingRefused(
                RefusalReason.BAD_HOURS,
                fr="La fermeture doit finir le jour de son début ou après.",
                en="A closure ends on the day it starts or later.",
            )
        tz = zone(calendar.timezone)
        start, _ = day_bounds(first_day, tz)
        _, end = day_bounds(last_day, tz)
        booked = await self._booked_between(cabin_id, start, end)
        if booked:
            raise _has_appointments(booked, tz)
        closure = Closure(_new_id("closure"), cabin_id, first_day, last_day, reason)
        await self._storage.add_closure(closure)
        await self._audit.record(
            "closure.added", actor_kind=actor_kind, actor_id=by, subject=f"cabin:{cabin_id}"
        )
        return closure

    async def remove_closure(
        self, closure_id: str, *, cabin_id: str, by: str, actor_kind: ActorKind = ActorKind.AGENT
    ) -> bool:
        removed = await self._storage.remove_closure(closure_id)
        if removed:
            await self._audit.record(
                "closure.removed", actor_kind=actor_kind, actor_id=by, subject=f"cabin:{cabin_id}"
            )
        return removed

    async def close_on_public_holidays(
        self,
        year: int,
        *,
        by: str,
        cabin_ids: Iterable[str] | None = None,
        alsace_moselle: bool = False,
        actor_kind: ActorKind = ActorKind.OPERATOR,
    ) -> HolidayClosures:
        """Close every cabin (or those given) on the French public holidays of `year`, in one
        action; a day already closed is left as it is, one with bookings is refused."""
        wanted = None if cabin_ids is None else set(cabin_ids)
        holidays = french_public_holidays(year, alsace_moselle=alsace_moselle)
        added: list[Closure] = []
        refused: list[tuple[str, date, str]] = []
        for calendar in await self._storage.calendars():
            if wanted is not None and calendar.cabin_id not in wanted:
                continue
            existing = await self._storage.closures(
                calendar.cabin_id, first_day=date(year, 1, 1), last_day=date(year, 12, 31)
            )
            for day, name in holidays:
                if is_closed(existing, calendar.cabin_id, day):
                    continue
                try:
                    added.append(
                        await self.add_closure(
                            calendar.cabin_id, day, day, name, by=by, actor_kind=actor_kind
                        )
                    )
                except BookingRefused as refusal:
                    refused.append((calendar.cabin_id, day, refusal.fr))
        return HolidayClosures(tuple(added), tuple(refused))


BOOKING_DESK = web.AppKey("booking_desk", BookingDesk)
"""The hub's desk in its application (built by `hub.app`)."""

_HAS_STARTED = RotaConflict(
    ConflictKind.HAS_STARTED,
    fr="Cette permanence a commencé : raccourcissez-la plutôt (son début reste).",
    en="This shift has started: shorten it instead (its start stays).",
)


def _rota_refused(conflicts: Sequence[RotaConflict]) -> BookingRefused:
    return BookingRefused(
        RefusalReason.ROTA_CONFLICT,
        fr=" ".join(c.fr for c in conflicts),
        en=" ".join(c.en for c in conflicts),
        conflicts=conflicts,
    )


def _overlap(shift: RotaShift) -> RotaConflict:
    """The database refused an overlap the check did not see (the other shift gone since)."""
    return RotaConflict(
        ConflictKind.DOCTOR_OVERLAP,
        fr=f"{shift.doctor} couvre déjà cette cabine pendant ces horaires.",
        en=f"{shift.doctor} already covers this cabin at that time.",
    )


def _takers(
    shift: RotaShift,
    appointments: Sequence[Appointment],
    others: Sequence[RotaShift],
    replacement: RotaShift | None,
) -> dict[str, list[str]]:
    """The BOOKED appointments of `shift`'s doctor at its cabin that the removal (or the
    `replacement`) uncovers, by the doctor who takes each over: of the other doctors whose
    shift covers it from start to end, the one with the fewest of these appointments so far,
    the first by name among equals."""
    kept = [replacement] if replacement is not None else []
    remaining = [s for s in others if s.shift_id != shift.shift_id and s.cabin_id == shift.cabin_id]
    load: Counter[str] = Counter(a.doctor for a in appointments if a.doctor and holds_slot(a))
    takers: dict[str, list[str]] = {}
    for a in sorted(appointments, key=lambda a: (a.starts_at, a.appointment_id)):
        if (
            a.status is not AppointmentStatus.BOOKED
            or a.doctor != shift.doctor
            or a.cabin_id != shift.cabin_id
            or not (a.starts_at < shift.ends_at and a.ends_at > shift.starts_at)
        ):
            continue
        if any(
            s.doctor == shift.doctor and s.starts_at <= a.starts_at and s.ends_at >= a.ends_at
            for s in kept + remaining
        ):
            continue  # still on duty then (the shortened shift, or another of theirs)
        covering = sorted(
            {
                s.doctor
                for s in remaining
                if s.doctor != shift.doctor
                and s.starts_at <= a.starts_at
                and s.ends_at >= a.ends_at
            }
        )
        if not covering:
            continue
        taker = min(covering, key=lambda doctor: (load[doctor], doctor))
        load[taker] += 1
        load[shift.doctor] -= 1
        takers.setdefault(taker, []).append(a.appointment_id)
    return takers


def _has_appointments(appointments: Sequence[Appointment], tz: ZoneInfo) -> BookingRefused:
    first = min(a.starts_at for a in appointments)
    count = len(appointments)
    return BookingRefused(
        RefusalReason.HAS_APPOINTMENTS,
        fr=(
            f"{count} rendez-vous sont pris à ces horaires (le premier le"
            f" {when_fr(first, tz)}). Déplacez-les ou annulez-les d'abord."
        ),
        en=(
            f"{count} appointments are booked then (the first on"
            f" {when_en(first, tz)}). Move or cancel them first."
        ),
    )


def _check_hours(cabin_id: str, hours: list[OpeningHours]) -> None:
    spans: dict[int, list[tuple[time, time]]] = {}
    for h in hours:
        if h.cabin_id != cabin_id or not 0 <= h.weekday <= 6 or h.closes <= h.opens:
            raise BookingRefused(
                RefusalReason.BAD_HOURS,
                fr="Chaque plage ouvre avant de fermer, un jour de lundi (0) à dimanche (6).",
                en="Each span opens before it closes, on a day from Monday (0) to Sunday (6).",
            )
        spans.setdefault(h.weekday, []).append((h.opens, h.closes))
    for day_spans in spans.values():
        day_spans.sort()
        for (_, closes), (opens, _) in itertools.pairwise(day_spans):
            if opens < closes:
                raise BookingRefused(
                    RefusalReason.BAD_HOURS,
                    fr="Deux plages du même jour se chevauchent.",
                    en="Two spans of the same day overlap.",
                )

"""Confirmations and reminders of appointments, by e-mail and SMS, each sent exactly once.

Three parts:

- `NotificationPlanner` decides which messages an appointment gets and when (the booking
  desk stores them in the outbox with the appointment): for each channel the patient gave (an
  e-mail address, a phone number), a confirmation (or a cancellation, a "moved") due at once,
  a reminder the day before and one an hour before (`[booking]` says which, and how long
  before the second; the booking desk, `hub.bookings`, asks for them). The day-before reminder
  goes `reminder_day_hours_before` (24) hours before the slot, the same time of day the day
  before: it needs no time zone, and it is never at night for a slot in opening hours. A
  reminder whose time has passed when the appointment is booked is not planned.
- The templates (`render_email`, `render_sms`), in French or English (the appointment's
  language): the cabin's town, the date and time in the cabin's time zone, the doctor if
  known, the six-digit code, what to bring, and the link to cancel
  (``<public_url>/rendez-vous/annuler?code=XXXXXX``, the public page's). An SMS is folded to
  the GSM 7-bit alphabet (`hub.sms.gsm7`: ê becomes e...) so that it stays one 160-character
  SMS; an e-mail is text and HTML, its Message-ID made from the notification's id (a message
  resent after a crash is the same message to the patient's mail client), and its subject
  holds nothing of the patient but the date.
- `OutboxWorker`, a task of each hub replica: every `poll_s` it claims the due messages
  (`claim_notifications`: the database gives each to one replica only, for `lease_s`), sends
  them, and marks them sent, or failed with a retry after a doubling wait, FAILED for good
  after `max_attempts` (shown on the coordinator's page). A message of an appointment no longer
  booked (cancelled, moved, the patient already there) is dropped, unless it is the
  cancellation itself. Its log lines name the notification's id, never the patient.
"""

from __future__ import annotations

import asyncio
import html
import logging
import secrets
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

import wire
from hub.booking import (
    Appointment,
    AppointmentStatus,
    Notification,
    NotificationChannel,
    NotificationKind,
)
from hub.cancellation import cancel_and_wait
from hub.clock import Clock
from hub.config import HubConfig, NotificationsSection
from hub.errors import HubError
from hub.log_safe import log_safe
from hub.mail import MailError, MailSender, SmtpSender
from hub.schedule import DEFAULT_TIMEZONE, CabinCalendar, long_date_en, long_date_fr
from hub.sms import SMS_SEGMENT_CHARS, HttpSmsProvider, SmsError, SmsProvider, gsm7, gsm7_length
from hub.storage import DoctorRecord

log = logging.getLogger(__name__)

CANCEL_PATH = "/rendez-vous/annuler"
"""The public page's cancel form (`hub.booking_http`); ``?code=`` fills the code in."""
BOOK_PATH = "/rendez-vous"
AT_ONCE = frozenset(
    {NotificationKind.CONFIRMATION, NotificationKind.CANCELLATION, NotificationKind.MOVED}
)
REMINDERS = frozenset({NotificationKind.REMINDER_DAY, NotificationKind.REMINDER_HOUR})
_KIND_ORDER = list(NotificationKind)


def new_notification_id() -> str:
    return f"ntf-{secrets.token_hex(12)}"


def channels_of(appointment: Appointment) -> list[NotificationChannel]:
    """The channels the patient gave: an e-mail address, a phone number (for SMS)."""
    channels = []
    if appointment.email:
        channels.append(NotificationChannel.EMAIL)
    if appointment.phone:
        channels.append(NotificationChannel.SMS)
    return channels


class NotificationPlanner:
    """The messages an appointment gets (see the module's docstring). `channels`: those this
    hub can send (an unconfigured channel gets none)."""

    def __init__(
        self,
        *,
        reminder_day_before: timedelta | None = timedelta(hours=24),
        reminder_hour_before: timedelta | None = timedelta(hours=1),
        channels: Iterable[NotificationChannel] = tuple(NotificationChannel),
    ) -> None:
        """None: no such reminder, whatever the booking desk asks."""
        self.reminder_day_before = reminder_day_before
        self.reminder_hour_before = reminder_hour_before
        self.channels = frozenset(channels)

    @classmethod
    def from_config(cls, config: HubConfig) -> NotificationPlanner:
        """Reminders as `[booking]` says (the day before, and some hours before), the day
        before's at `[notifications] reminder_day_hours_before`; the channels this hub has."""
        channels = []
        if config.mail.enabled:
            channels.append(NotificationChannel.EMAIL)
        if config.sms.provider != "none":
            channels.append(NotificationChannel.SMS)
        booking = config.booking
        day = timedelta(hours=config.notifications.reminder_day_hours_before)
        hours = booking.reminder_hours_before
        return cls(
            reminder_day_before=day if booking.reminder_day_before else None,
            reminder_hour_before=timedelta(hours=hours) if hours > 0 else None,
            channels=channels,
        )

    def due_at(
        self, appointment: Appointment, kind: NotificationKind, now: datetime
    ) -> datetime | None:
        """When a message of `kind` is due; None: this hub sends no such reminder."""
        if kind is NotificationKind.REMINDER_DAY:
            before = self.reminder_day_before
        elif kind is NotificationKind.REMINDER_HOUR:
            before = self.reminder_hour_before
        else:
            return now
        return None if before is None else appointment.starts_at - before

    def plan(
        self, appointment: Appointment, kinds: set[NotificationKind], now: datetime
    ) -> list[Notification]:
        """The notifications of `kinds` for `appointment`, one per channel the patient gave
        and this hub sends; reminders already past at `now` are left out."""
        planned = []
        for kind in sorted(kinds, key=_KIND_ORDER.index):
            due = self.due_at(appointment, kind, now)
            if due is None or (kind in REMINDERS and due <= now):
                continue
            for channel in channels_of(appointment):
                if channel not in self.channels:
                    continue
                planned.append(
                    Notification(
                        notification_id=new_notification_id(),
                        appointment_id=appointment.appointment_id,
                        channel=channel,
                        kind=kind,
                        due_at=due,
                    )
                )
        return planned


# --- templates ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageContext:
    """What a message says besides the appointment itself."""

    town: str
    timezone: str = DEFAULT_TIMEZONE
    doctor_name: str = ""
    """The doctor's name as patients see it ("Dr Anne Martin"), "" when not known."""
    public_url: str = ""
    """Where patients reach the hub (``https://rdv.example.fr``), without a trailing slash."""

    def cancel_link(self, code: str) -> str:
        return f"{self.public_url}{CANCEL_PATH}?code={code}"

    def book_link(self) -> str:
        return f"{self.public_url}{BOOK_PATH}"

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo(DEFAULT_TIMEZONE)


@dataclass(frozen=True, slots=True)
class _When:
    long_date: str
    """lundi 14 décembre 2026 / Monday 14 December 2026"""
    short_date: str
    """14/12"""
    time: str
    """09:00"""
    zone_city: str


def _when(at: datetime, context: MessageContext, language: wire.Language) -> _When:
    local = at.astimezone(context.zone())
    city = context.timezone.rpartition("/")[2].replace("_", " ")
    long_date = long_date_en(local) if language is wire.Language.EN else long_date_fr(local)
    return _When(long_date, f"{local:%d/%m}", f"{local:%H:%M}", city)


def _spaced(code: str) -> str:
    """123456 -> "123 456", easier to read out and to type."""
    return f"{code[:3]} {code[3:]}" if len(code) == 6 else code


@dataclass(frozen=True, slots=True)
class _Text:
    subject: str
    greeting: str
    lead: str
    details: tuple[str, ...]
    code_label: str
    """"Votre code de rendez-vous :" ("" in a cancellation: no code any more)."""
    code_hint: str
    bring: str
    cancel_intro: str
    link: str
    signature: str


def _text(kind: NotificationKind, appointment: Appointment, context: MessageContext) -> _Text:
    english = appointment.language is wire.Language.EN
    when = _when(appointment.starts_at, context, appointment.language)
    name = f"{appointment.patient.given_names} {appointment.patient.family_name}"
    if english:
        greeting = f"Hello {name},"
        place = f"at the teleconsultation cabin of {context.town}"
        subjects = {
            NotificationKind.CONFIRMATION: f"Your appointment on {when.long_date} is confirmed",
            NotificationKind.REMINDER_DAY: f"Reminder: your appointment on {when.long_date}",
            NotificationKind.REMINDER_HOUR: f"Reminder: your appointment today at {when.time}",
            NotificationKind.CANCELLATION: f"Your appointment on {when.long_date} is cancelled",
            NotificationKind.MOVED: f"Your appointment is moved to {when.long_date}",
        }
        leads = {
            NotificationKind.CONFIRMATION: f"Your appointment {place} is confirmed:",
            NotificationKind.REMINDER_DAY: f"A reminder of your appointment {place}:",
            NotificationKind.REMINDER_HOUR: f"Your appointment {place} is in a little while:",
            NotificationKind.CANCELLATION: f"Your appointment {place} is cancelled:",
            NotificationKind.MOVED: f"Your appointment {place} is moved to:",
        }
        details = [f"{when.long_date} at {when.time} ({when.zone_city} time)"]
        if context.doctor_name:
            details.append(f"with {context.doctor_name}")
        cancelled = kind is NotificationKind.CANCELLATION
        return _Text(
            subject=subjects[kind],
            greeting=greeting,
            lead=leads[kind],
            details=tuple(details),
            code_label="" if cancelled else "Your appointment code:",
            code_hint="Type it on the cabin's screen when you arrive.",
            bring=""
            if cancelled
            else "Please bring your carte Vitale (health insurance card), an identity document,"
            " your current prescriptions and your latest test results.",
            cancel_intro="To book another appointment:"
            if cancelled
            else "If you cannot come, please cancel (you will need this code and your date of"
            " birth):",
            link=context.book_link() if cancelled else context.cancel_link(appointment.code),
            signature="La Box Médicale - this message was sent automatically, please do not reply.",
        )
    greeting = f"Bonjour {name},"
    place = f"à la cabine de téléconsultation de {context.town}"
    subjects = {
        NotificationKind.CONFIRMATION: f"Votre rendez-vous du {when.long_date} est confirmé",
        NotificationKind.REMINDER_DAY: f"Rappel : votre rendez-vous du {when.long_date}",
        NotificationKind.REMINDER_HOUR: f"Rappel : votre rendez-vous aujourd'hui à {when.time}",
        NotificationKind.CANCELLATION: f"Votre rendez-vous du {when.long_date} est annulé",
        NotificationKind.MOVED: f"Votre rendez-vous est déplacé au {when.long_date}",
    }
    leads = {
        NotificationKind.CONFIRMATION: f"Votre rendez-vous {place} est confirmé :",
        NotificationKind.REMINDER_DAY: f"Nous vous rappelons votre rendez-vous {place} :",
        NotificationKind.REMINDER_HOUR: f"Votre rendez-vous {place} approche :",
        NotificationKind.CANCELLATION: f"Votre rendez-vous {place} est annulé :",
        NotificationKind.MOVED: f"Votre rendez-vous {place} est déplacé au :",
    }
    details = [f"{when.long_date} à {when.time} (heure de {when.zone_city})"]
    if context.doctor_name:
        details.append(f"avec {context.doctor_name}")
    cancelled = kind is NotificationKind.CANCELLATION
    return _Text(
        subject=subjects[kind],
        greeting=greeting,
        lead=leads[kind],
        details=tuple(details),
        code_label="" if cancelled else "Votre code de rendez-vous :",
        code_hint="Tapez-le sur l'écran de la cabine en arrivant.",
        bring=""
        if cancelled
        else "Apportez votre carte Vitale, une pièce d'identité, vos ordonnances en cours et"
        " vos derniers résultats d'analyses.",
        cancel_intro="Pour prendre un autre rendez-vous :"
        if cancelled
        else "Si vous ne pouvez pas venir, merci d'annuler (il vous faudra ce code et votre date"
        " de naissance) :",
        link=context.book_link() if cancelled else context.cancel_link(appointment.code),
        signature="La Box Médicale - message envoyé automatiquement, merci de ne pas y répondre.",
    )


def message_id(notification_id: str, from_address: str) -> str:
    """The e-mail's Message-ID: the same for every try of one notification."""
    domain = from_address.rpartition("@")[2] or "cabin-hub.invalid"
    return f"<{notification_id}@{domain}>"


def render_email(
    notification: Notification,
    appointment: Appointment,
    context: MessageContext,
    *,
    from_address: str,
    from_name: str = "",
    now: datetime,
) -> EmailMessage:
    """The e-mail of `notification`: text and HTML, to the appointment's address."""
    text = _text(notification.kind, appointment, context)
    language = appointment.language.value
    message = EmailMessage()
    message["From"] = formataddr((from_name, from_address)) if from_name else from_address
    message["To"] = appointment.email
    message["Subject"] = text.subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(notification.notification_id, from_address)
    message["Auto-Submitted"] = "auto-generated"
    code = _spaced(appointment.code)
    blocks = [text.greeting, text.lead, "\n".join(f"    {line}" for line in text.details)]
    if text.code_label:
        blocks.append(f"{text.code_label} {code}\n{text.code_hint}")
    blocks += [part for part in (text.bring,) if part]
    blocks += [f"{text.cancel_intro}\n{text.link}", text.signature]
    message.set_content("\n\n".join(blocks) + "\n")
    paragraphs = [f"<p>{html.escape(text.greeting)}</p>", f"<p>{html.escape(text.lead)}</p>"]
    paragraphs.append(f"<p><strong>{'<br>'.join(map(html.escape, text.details))}</strong></p>")
    if text.code_label:
        paragraphs.append(
            f"<p>{html.escape(text.code_label)}<br>"
            '<strong style="font-size:1.6em;letter-spacing:0.1em;white-space:nowrap">'
            f"{html.escape(code)}</strong><br>{html.escape(text.code_hint)}</p>"
        )
    if text.bring:
        paragraphs.append(f"<p>{html.escape(text.bring)}</p>")
    link = html.escape(text.link, quote=True)
    paragraphs.append(
        f'<p>{html.escape(text.cancel_intro)}<br><a href="{link}" style="word-break:break-all">'
        f"{link}</a></p>"
    )
    paragraphs.append(f'<p style="color:#555">{html.escape(text.signature)}</p>')
    document = (
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        f"<title>{html.escape(text.subject)}</title></head>"
        f'<body style="font-family:sans-serif;font-size:18px;line-height:1.5">'
        f"{''.join(paragraphs)}</body></html>\n"
    )
    message.add_alternative(document, subtype="html")
    message["Content-Language"] = language  # after the content: set_content clears Content-*
    return message


def render_sms(
    notification: Notification, appointment: Appointment, context: MessageContext
) -> str:
    """The SMS of `notification`, in the GSM 7-bit alphabet: one SMS (160 characters) when it
    fits; with a long town name and a long public address, the town is left out rather than
    the code or the link (the patient knows where they booked; two SMS cost twice)."""
    full = _sms_text(notification.kind, appointment, context, context.town)
    if sms_segment_fits(full):
        return full
    return _sms_text(notification.kind, appointment, context, "")


def sms_segment_fits(text: str) -> bool:
    return 0 <= gsm7_length(text) <= SMS_SEGMENT_CHARS


def _sms_text(
    kind: NotificationKind, appointment: Appointment, context: MessageContext, town: str
) -> str:
    when = _when(appointment.starts_at, context, appointment.language)
    code = appointment.code
    if appointment.language is wire.Language.EN:
        at = f"{when.short_date} at {when.time}"
        cabin = f"{town} cabin" if town else "cabin"
        texts = {
            NotificationKind.CONFIRMATION: f"Appointment confirmed, {cabin}, {at}.",
            NotificationKind.REMINDER_DAY: f"Reminder: appointment {cabin} {at}.",
            NotificationKind.REMINDER_HOUR: f"Reminder: appointment {cabin} at {when.time} today.",
            NotificationKind.CANCELLATION: f"Your appointment of {at}, {cabin}, is cancelled.",
            NotificationKind.MOVED: f"Appointment moved: {cabin}, {at}.",
        }
        tail = (
            f" To book: {context.book_link()}"
            if kind is NotificationKind.CANCELLATION
            else f" Code {code}. Cancel: {context.cancel_link(code)}"
        )
    else:
        at = f"{when.short_date} à {when.time}"
        cabin = f"cabine de {town}" if town else "cabine"
        texts = {
            NotificationKind.CONFIRMATION: f"RDV confirmé {cabin} le {at}.",
            NotificationKind.REMINDER_DAY: f"Rappel : RDV {cabin} le {at}.",
            NotificationKind.REMINDER_HOUR: f"Rappel : RDV {cabin} à {when.time} aujourd'hui.",
            NotificationKind.CANCELLATION: f"Votre RDV du {at} {cabin} est annulé.",
            NotificationKind.MOVED: f"RDV déplacé : {cabin} le {at}.",
        }
        tail = (
            f" Reprendre RDV : {context.book_link()}"
            if kind is NotificationKind.CANCELLATION
            else f" Code {code}. Annuler : {context.cancel_link(code)}"
        )
    return gsm7(texts[kind] + tail)


# --- the outbox worker ----------------------------------------------------------------------


class NotificationError(HubError):
    """A message could not be sent (its text is safe to log and to show: no patient data)."""

    def __init__(self, text: str, *, permanent: bool = False) -> None:
        super().__init__(text)
        self.permanent = permanent


class OutboxStore(Protocol):
    """What the worker needs of the storage (`hub.booking.BookingStore` and accounts)."""

    async def appointment(self, appointment_id: str) -> Appointment | None: ...

    async def calendar(self, cabin_id: str) -> CabinCalendar | None: ...

    async def doctor(self, username: str) -> DoctorRecord | None: ...

    async def claim_notifications(
        self, *, now: datetime, claimer: str, lease_until: datetime, limit: int
    ) -> list[Notification]: ...

    async def mark_notification_sent(self, notification_id: str, *, at: datetime) -> None: ...

    async def mark_notification_failed(
        self, notification_id: str, *, error: str, retry_at: datetime | None
    ) -> None: ...

    async def drop_notification(self, notification_id: str, *, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class OutboxSettings:
    poll_s: float = 5.0
    lease_s: float = 120.0
    batch: int = 20
    max_attempts: int = 6
    retry_first_s: float = 30.0
    retry_max_s: float = 3600.0

    @classmethod
    def from_section(cls, section: NotificationsSection) -> OutboxSettings:
        return cls(
            poll_s=section.poll_s,
            lease_s=section.lease_s,
            batch=section.batch,
            max_attempts=section.max_attempts,
            retry_first_s=section.retry_first_s,
            retry_max_s=section.retry_max_s,
        )

    def retry_after_s(self, attempt: int) -> float:
        """The wait after the `attempt`-th failure (1, 2...): doubling, bounded."""
        return float(min(self.retry_max_s, self.retry_first_s * 2 ** max(0, attempt - 1)))


class OutboxWorker:
    """Sends the due messages of the outbox (see the module's docstring). One per replica,
    each with its own `claimer` name; started and stopped by the hub's composition root."""

    def __init__(
        self,
        storage: OutboxStore,
        clock: Clock,
        *,
        claimer: str,
        public_url: str,
        mail: MailSender | None = None,
        from_address: str = "",
        from_name: str = "",
        sms: SmsProvider | None = None,
        settings: OutboxSettings | None = None,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self.claimer = claimer
        self._public_url = public_url.rstrip("/")
        self._mail = mail
        self._from_address = from_address
        self._from_name = from_name
        self._sms = sms
        self.settings = settings or OutboxSettings()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"hub-outbox-{self.claimer}"
            )
            log.info(
                "hub.outbox_started claimer=%s email=%s sms=%s poll_s=%g",
                self.claimer,
                "on" if self._mail is not None else "off",
                "on" if self._sms is not None else "off",
                self.settings.poll_s,
            )

    async def stop(self) -> None:
        """Stop the task (a message being sent is claimed until its lease ends: another
        replica, or this one after a restart, sends it then) and close the SMS client."""
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        if self._sms is not None:
            await self._sms.close()

    def wake(self) -> None:
        """Look for due messages now (a booking was just made), not at the next poll."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                while await self.run_once() >= self.settings.batch:
                    pass  # a full batch: more may be due
            except HubError as exc:
                log.warning("hub.outbox_failed claimer=%s error=%s", self.claimer, log_safe(exc))
            except Exception as exc:  # noqa: BLE001 - the worker must outlive one bad message
                # Its type only: the text of an unexpected error might quote a patient's data.
                log.error("hub.outbox_error claimer=%s error=%s", self.claimer, type(exc).__name__)
            with_timeout = asyncio.timeout(self.settings.poll_s)
            try:
                async with with_timeout:
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()

    async def run_once(self) -> int:
        """Claim the due messages and send each; how many were claimed."""
        now = self._clock.now()
        lease = timedelta(seconds=self.settings.lease_s)
        claimed = await self._storage.claim_notifications(
            now=now, claimer=self.claimer, lease_until=now + lease, limit=self.settings.batch
        )
        send_limit = lease / 2
        for number, notification in enumerate(claimed):
            if self._clock.now() + send_limit > now + lease:
                # Slow servers ate the lease: the rest could be claimed by another replica
                # while this one sends them. They stay claimed until the lease ends, then any
                # replica takes them again.
                log.warning(
                    "hub.outbox_lease_short claimer=%s left=%d",
                    self.claimer,
                    len(claimed) - number,
                )
                break
            await self._deliver(notification)
        return len(claimed)

    async def _deliver(self, notification: Notification) -> None:
        attempt = notification.attempts or 1  # the claim counted this try
        appointment = await self._storage.appointment(notification.appointment_id)
        reason = _no_longer_due(notification, appointment, self._clock.now())
        if reason:
            await self._storage.drop_notification(notification.notification_id, reason=reason)
            log.info(
                "hub.notification_dropped notification=%s kind=%s reason=%s",
                notification.notification_id,
                notification.kind,
                reason,
            )
            return
        assert appointment is not None
        try:
            # Within half the lease: another replica may take it over only after the lease.
            async with asyncio.timeout(self.settings.lease_s / 2):
                await self._send(notification, appointment)
        except (NotificationError, MailError, SmsError, TimeoutError) as exc:
            await self._failed(notification, attempt, exc)
            return
        await self._storage.mark_notification_sent(
            notification.notification_id, at=self._clock.now()
        )
        log.info(
            "hub.notification_sent notification=%s appointment=%s channel=%s kind=%s attempt=%d",
            notification.notification_id,
            notification.appointment_id,
            notification.channel,
            notification.kind,
            attempt,
        )

    async def _failed(self, notification: Notification, attempt: int, exc: Exception) -> None:
        error = str(exc) if not isinstance(exc, TimeoutError) else "timed out"
        permanent = bool(getattr(exc, "permanent", False))
        final = permanent or attempt >= self.settings.max_attempts
        retry_at = (
            None
            if final
            else self._clock.now() + timedelta(seconds=self.settings.retry_after_s(attempt))
        )
        await self._storage.mark_notification_failed(
            notification.notification_id, error=error[:300], retry_at=retry_at
        )
        log.warning(
            "hub.notification_failed notification=%s channel=%s kind=%s attempt=%d error=%s"
            " retry_at=%s",
            notification.notification_id,
            notification.channel,
            notification.kind,
            attempt,
            log_safe(error),
            retry_at.isoformat() if retry_at else "never",
        )

    async def _context(self, appointment: Appointment) -> MessageContext:
        calendar = await self._storage.calendar(appointment.cabin_id)
        doctor_name = ""
        if appointment.doctor:
            doctor = await self._storage.doctor(appointment.doctor)
            if doctor is not None:
                doctor_name = doctor.display_name
        return MessageContext(
            town=calendar.town if calendar else appointment.cabin_id,
            timezone=calendar.timezone if calendar else DEFAULT_TIMEZONE,
            doctor_name=doctor_name,
            public_url=self._public_url,
        )

    async def _send(self, notification: Notification, appointment: Appointment) -> None:
        context = await self._context(appointment)
        if notification.channel is NotificationChannel.EMAIL:
            if self._mail is None:
                raise NotificationError("e-mail is not configured on this hub ([mail])")
            if not appointment.email:
                raise NotificationError("the appointment has no e-mail address", permanent=True)
            try:
                message = render_email(
                    notification,
                    appointment,
                    context,
                    from_address=self._from_address,
                    from_name=self._from_name,
                    now=self._clock.now(),
                )
            except ValueError:  # a line break in a header: never sent as it is
                raise NotificationError(
                    "the e-mail address cannot be used in a message", permanent=True
                ) from None
            await self._mail.send(message)
            return
        if self._sms is None:
            raise NotificationError("SMS is not configured on this hub ([sms])")
        if not appointment.phone:
            raise NotificationError("the appointment has no phone number", permanent=True)
        text = render_sms(notification, appointment, context)
        await self._sms.send(appointment.phone, text, notification.notification_id)


def build_outbox(
    config: HubConfig,
    storage: OutboxStore,
    clock: Clock,
    *,
    claimer: str,
    public_url: str,
    env: MutableMapping[str, str],
) -> OutboxWorker:
    """The worker of this replica, with the senders `[mail]` and `[sms]` configure (the SMTP
    password and the SMS token read from their sources in `env`)."""
    mail = SmtpSender.from_config(config, env) if config.mail.enabled else None
    sms = HttpSmsProvider.from_config(config, env) if config.sms.provider == "http" else None
    return OutboxWorker(
        storage,
        clock,
        claimer=claimer,
        public_url=public_url,
        mail=mail,
        from_address=config.mail.from_address,
        from_name=config.mail.from_name,
        sms=sms,
        settings=OutboxSettings.from_section(config.notifications),
    )


OUTBOX = web.AppKey("outbox", OutboxWorker)
"""The replica's worker in the hub's application: `wake` it after a booking."""


def _no_longer_due(
    notification: Notification, appointment: Appointment | None, now: datetime
) -> str:
    """Why `notification` must not be sent now, or ""."""
    if appointment is None:
        return "appointment_gone"
    if notification.kind is NotificationKind.CANCELLATION:
        return "" if appointment.status is AppointmentStatus.CANCELLED else "not_cancelled"
    if appointment.status is AppointmentStatus.CANCELLED:
        return "cancelled"
    if appointment.status is not AppointmentStatus.BOOKED:
        return f"appointment_{appointment.status.value}"
    if now >= appointment.starts_at:
        return "too_late"  # a hub down for hours: a reminder, even a confirmation, is no use now
    return ""

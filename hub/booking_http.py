"""The public booking page (``/rendez-vous``, ``/rendez-vous/annuler``) and its JSON API under
``/api/public/booking/``: no account, no password; a patient (or a relative) picks a town's
cabin, a day and a slot, gives who they are, and gets a six-digit code; the same code and their
birth date cancel it, with a reason.

Nobody signs in, so the API holds bots and brute force off by itself, without a CAPTCHA service:

- limits per client address (as `hub.auth.client_address` sees it behind trusted proxies) on
  reads, bookings and cancellations; per phone number and per e-mail on bookings; per code on
  cancellations; counted by every replica together when a cluster is configured (`FleetLimit`);
- a proof of work: the hub hands out a random challenge (with the slot list, or alone); the
  page finds a nonce such that sha256(challenge + nonce) starts with `proof_bits` zero bits
  (a fraction of a second on a phone); the hub checks it, and each challenge serves once,
  within `challenge_ttl_s` (kept in the cluster: any replica checks it);
- a honeypot field (``website``), hidden from people and screen readers: filled, the request is
  refused, in words a person understands without saying why. Not a fake success: a browser's
  autofill may fill a hidden field, and a real patient told "booked" would come to a cabin
  with a code that opens nothing; a bot that learns it was refused still pays the proof and
  meets the limits.

The limits on phone numbers, e-mails and codes are keyed by a SHA-256 of the value, never the
value itself (in Redis for a fleet). Bodies are msgspec Structs with bounds on every field;
what does not decode is a 400 with the field's name, never a 500. The booking itself is
`hub.bookings.BookingDesk`'s (the database refuses a double booking); its refusals become the
page's reasons (`_refused`). Log lines name cabins, appointments and addresses, never a
patient's name, birth date, phone, e-mail or code.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal, TypeVar
from zoneinfo import ZoneInfo

import msgspec
from aiohttp import web

import wire
from hub.auth import client_address
from hub.booking import Appointment, BookingChannel
from hub.bookings import BookingDesk, BookingRefused, RefusalReason, check_email, normalize_phone
from hub.cluster import Cluster, ClusterDown
from hub.errors import StorageError
from hub.log_safe import log_safe
from hub.notifications import OUTBOX
from hub.rate_limit import FleetLimit
from hub.schedule import CabinCalendar, ScheduleError, zone
from hub.services import SERVICES, HubServices
from hub.web_security import json_error

log = logging.getLogger(__name__)

PAGE_DIR = Path(__file__).parent / "booking_page"
PAGE_FILES = {
    "booking.css": "text/css; charset=utf-8",
    "main.js": "text/javascript; charset=utf-8",
    "i18n.js": "text/javascript; charset=utf-8",
}
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""Stricter than the hub's: the page's own script and style sheet, its own API, nothing else."""
API = "/api/public/booking"
MAX_BODY_BYTES = 4096
MAX_DAYS = 31
MAX_REASON_CHARS = 250
"""A cancellation's own words (the desk keeps 300 with the choice's prefix)."""
"""Days of slots one request may ask for."""
CHALLENGE_KEY = "hub:booking:challenge:"
USED_KEY = "hub:booking:challenge-used:"
MINUTE_S = 60.0
HOUR_S = 3600.0
DAY_S = 86_400.0

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Challenge = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")]
Nonce = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,16}$")]
CabinId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Code = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{6}$")]

_PHONE = re.compile(r"^(\+33[1-9][0-9]{8}|\+(?!33)[1-9][0-9]{8,14})$")
"""What the page accepts of the desk's E.164 (`normalize_phone`): a French number has nine
digits after +33; any other country's at least nine in all."""
_OLDEST_BIRTH_YEAR = 1900
_Body = TypeVar("_Body", "BookRequest", "CancelRequest")


class BookRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    cabin_id: CabinId
    starts_at: Annotated[datetime, msgspec.Meta(tz=True)]
    family_name: Name
    given_names: Name
    birth_date: date
    phone: Annotated[str, msgspec.Meta(max_length=32)] = ""
    email: Annotated[str, msgspec.Meta(max_length=254)] = ""
    language: wire.Language = wire.Language.FR
    consent: bool = False
    website: Annotated[str, msgspec.Meta(max_length=500)] = ""
    """The honeypot: people never see it, so it stays empty."""
    challenge: Challenge
    nonce: Nonce


CancelChoice = Literal["unavailable", "better", "elsewhere", "slot", "other"]


class CancelRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    code: Code
    birth_date: date
    reason: CancelChoice
    reason_text: Annotated[str, msgspec.Meta(max_length=300)] = ""
    """Required when `reason` is "other"."""
    website: Annotated[str, msgspec.Meta(max_length=500)] = ""
    challenge: Challenge
    nonce: Nonce


CANCEL_REASONS: dict[str, str] = {
    "unavailable": "Je ne suis plus disponible / No longer available",
    "better": "Je vais mieux / Feeling better",
    "elsewhere": "J'ai vu un médecin ailleurs / Saw a doctor elsewhere",
    "slot": "Je veux un autre créneau / Want another slot",
}
"""What the stored reason says for each choice (both languages: a coordinator reads it)."""


# --- answers ---------------------------------------------------------------------------------


class CabinOut(msgspec.Struct, frozen=True):
    cabin_id: str
    name: str
    town: str
    timezone: str
    unavailable: bool = False
    """Temporarily unavailable (`hub.fleet_desk.FleetDesk.unavailable`: offline, or its last
    self-test failed a check that stops consultations): no booking is taken for today."""


class SlotOut(msgspec.Struct, frozen=True):
    starts_at: datetime
    time: str
    """Its start in the cabin's zone, "09:15"."""


class DayOut(msgspec.Struct, frozen=True):
    day: date
    slots: list[SlotOut]


class ChallengeOut(msgspec.Struct, frozen=True):
    challenge: str
    bits: int
    expires_in_s: int


class SlotsOut(msgspec.Struct, frozen=True):
    cabin: CabinOut
    today: date
    """The cabin's date now: no day before it is offered."""
    first_day: date
    days: list[DayOut]
    last_bookable_day: date
    challenge: ChallengeOut


class BookedOut(msgspec.Struct, frozen=True):
    appointment_id: str
    code: str
    cabin: CabinOut
    day: date
    time: str
    starts_at: datetime
    by_email: bool
    by_sms: bool


class CancelledOut(msgspec.Struct, frozen=True):
    cabin: CabinOut
    day: date
    time: str


def _json(value: object, status: int = 200) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(value), status=status, content_type="application/json"
    )


def _limited(retry_after_s: float) -> web.Response:
    wait = max(1, int(retry_after_s))
    response = json_error(
        429, "too many requests; try again later", reason="rate_limited", retry_after_s=wait
    )
    response.headers["Retry-After"] = str(wait)
    return response


def _invalid(field: str, text: str) -> web.Response:
    return json_error(400, text, reason="invalid", field=field)


_SLOT_GONE = frozenset(
    {RefusalReason.NOT_A_SLOT, RefusalReason.WALK_IN, RefusalReason.PAST, RefusalReason.TOO_FAR}
)
_FIELDS = {
    RefusalReason.NO_CONSENT: "consent",
    RefusalReason.BAD_PHONE: "phone",
    RefusalReason.BAD_EMAIL: "email",
    RefusalReason.BAD_TEXT: "family_name",
    RefusalReason.REASON_REQUIRED: "reason_text",
}


def _wake_outbox(request: web.Request) -> None:
    """The confirmation (or the cancellation's notice) goes now, not at the outbox's next poll."""
    outbox = request.app.get(OUTBOX)
    if outbox is not None:
        outbox.wake()


def _refused(refused: BookingRefused) -> web.Response:
    """The desk's refusal as the page reads it: `reason` (its own words, by language) and the
    desk's words in both languages (`fr`, `en`) for any other client."""
    words = {"fr": refused.fr, "en": refused.en}
    reason = refused.reason
    if reason is RefusalReason.SLOT_TAKEN:
        return json_error(409, refused.en, reason="slot_taken", **words)
    if reason in _SLOT_GONE:
        return json_error(409, refused.en, reason="slot_unavailable", **words)
    if reason is RefusalReason.UNKNOWN_CABIN:
        return json_error(404, refused.en, reason="no_cabin", **words)
    if reason is RefusalReason.NOT_FOUND:
        return json_error(404, refused.en, reason="not_found", **words)
    if reason is RefusalReason.NOT_BOOKED:
        return json_error(409, refused.en, reason="not_booked", **words)
    if reason is RefusalReason.NO_CODE:
        return json_error(503, refused.en, reason="unavailable", **words)
    field = _FIELDS.get(reason)
    if field is not None:
        return json_error(400, refused.en, reason="invalid", field=field, **words)
    return json_error(409, refused.en, reason="refused", **words)


# --- values ----------------------------------------------------------------------------------


def accepted_phone(text: str) -> str | None:
    """The number as E.164 if the page takes it ("" for none given), None if not."""
    try:
        phone = normalize_phone(text)
    except BookingRefused:
        return None
    return phone if not phone or _PHONE.fullmatch(phone) else None


def proof_holds(challenge: str, nonce: str, bits: int) -> bool:
    """sha256(challenge + nonce), both as ASCII text, starts with `bits` zero bits."""
    digest = hashlib.sha256(f"{challenge}{nonce}".encode("ascii")).digest()
    return int.from_bytes(digest, "big") >> (256 - bits) == 0


def _zone(calendar: CabinCalendar) -> ZoneInfo:
    try:
        return zone(calendar.timezone)
    except ScheduleError:
        return ZoneInfo("Europe/Paris")


def _hashed(kind: str, value: str) -> str:
    """A limit's key for a phone number or e-mail: never the value itself in the cluster."""
    return hashlib.sha256(f"hub-booking-{kind}:{value}".encode()).hexdigest()[:32]


# --- the service -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Limits:
    reads: FleetLimit
    bookings: FleetLimit
    contacts: FleetLimit
    cancels: FleetLimit
    codes: FleetLimit


class PublicBooking:
    """The handlers of the page's API, with their limits and the challenges."""

    def __init__(self, desk: BookingDesk, services: HubServices) -> None:
        self._desk = desk
        self._services = services
        section = services.config.public_booking
        booking = services.config.booking
        self._bits = section.proof_bits
        self._ttl_s = section.challenge_ttl_s
        self._cluster: Cluster = services.cluster
        shared = services.cluster if services.config.cluster.backend == "redis" else None
        clock = services.clock

        def limit(name: str, count: int, window_s: float) -> FleetLimit:
            return FleetLimit(name, limit=count, window_s=window_s, clock=clock, cluster=shared)

        self._limits = _Limits(
            reads=limit("booking_read", section.reads_per_minute, MINUTE_S),
            bookings=limit("booking_book", booking.bookings_per_client_per_hour, HOUR_S),
            contacts=limit("booking_contact", booking.bookings_per_phone_per_day, DAY_S),
            cancels=limit("booking_cancel", section.cancels_per_hour, HOUR_S),
            codes=limit("booking_code", section.cancels_per_code_per_day, DAY_S),
        )

    # --- reads --------------------------------------------------------------------------------

    async def towns(self, request: web.Request) -> web.StreamResponse:
        refused = await self._read_limit(request)
        if refused is not None:
            return refused
        towns = await self._desk.towns()
        unavailable = await self._services.switchboard.fleet.unavailable()
        by_town: dict[str, list[bool]] = {}
        for calendar in await self._services.storage.calendars():
            by_town.setdefault(calendar.town, []).append(calendar.cabin_id in unavailable)
        # the towns whose every cabin is temporarily unavailable (the page says so)
        down = [town for town in towns if by_town.get(town) and all(by_town[town])]
        return _json({"towns": towns, "unavailable": down})

    async def cabins(self, request: web.Request) -> web.StreamResponse:
        refused = await self._read_limit(request)
        if refused is not None:
            return refused
        town = request.query.get("town", "").strip()
        if not 1 <= len(town) <= 100:
            return _invalid("town", "give a town (?town=...)")
        calendars = await self._desk.cabins_in_town(town)
        return _json({"cabins": [await self._cabin_out(c) for c in calendars]})

    async def slots(self, request: web.Request) -> web.StreamResponse:
        refused = await self._read_limit(request)
        if refused is not None:
            return refused
        cabin_id = request.query.get("cabin", "")
        calendar = await self._calendar(cabin_id) if 1 <= len(cabin_id) <= 64 else None
        if calendar is None:
            return json_error(404, "no such cabin", reason="no_cabin")
        zone = _zone(calendar)
        today = self._services.clock.now().astimezone(zone).date()
        last = today + timedelta(days=max(0, calendar.bookable_days - 1))
        try:
            first_day = date.fromisoformat(request.query.get("from", today.isoformat()))
            days = int(request.query.get("days", "14"))
        except ValueError:
            return _invalid("from", "from=YYYY-MM-DD&days=N")
        first_day = max(first_day, today)
        days = min(max(days, 1), MAX_DAYS, (last - first_day).days + 1)
        if days < 1:
            return _invalid("from", "that day cannot be booked yet")
        found = await self._desk.free_slots(calendar.cabin_id, first_day, days)
        by_day: dict[date, list[SlotOut]] = {first_day + timedelta(days=i): [] for i in range(days)}
        now = self._services.clock.now()
        closed_today = calendar.cabin_id in await self._services.switchboard.fleet.unavailable()
        for slot in sorted(found, key=lambda s: s.starts_at):
            if slot.walk_in or slot.starts_at <= now:
                continue
            local = slot.starts_at.astimezone(zone)
            if closed_today and local.date() == today:
                continue  # temporarily unavailable: nothing more today
            if local.date() in by_day:
                by_day[local.date()].append(SlotOut(slot.starts_at, local.strftime("%H:%M")))
        answer = SlotsOut(
            cabin=await self._cabin_out(calendar),
            today=today,
            first_day=first_day,
            days=[DayOut(day, slots) for day, slots in by_day.items()],
            last_bookable_day=last,
            challenge=await self._new_challenge(),
        )
        return _json(answer)

    async def challenge(self, request: web.Request) -> web.StreamResponse:
        refused = await self._read_limit(request)
        if refused is not None:
            return refused
        return _json(await self._new_challenge())

    # --- book and cancel ------------------------------------------------------------------------

    async def book(self, request: web.Request) -> web.StreamResponse:
        """Counted against the address once the form reads well (a patient correcting a typo
        does not spend their tries; malformed requests cost the hub nothing to refuse)."""
        address = client_address(request)
        body = await self._body(request, BookRequest)
        if isinstance(body, web.Response):
            return body
        if body.website:
            log.warning("hub.booking_refused reason=honeypot address=%s", log_safe(address))
            return json_error(400, "the request was refused", reason="refused")
        checked = self._check_booking(body)
        if isinstance(checked, web.Response):
            return checked
        phone, email = checked
        if await self._unavailable_today(body.cabin_id, body.starts_at):
            log.info(
                "hub.booking_refused reason=cabin_unavailable cabin=%s", log_safe(body.cabin_id)
            )
            return json_error(
                409,
                "this cabin is temporarily unavailable today; choose another day",
                reason="cabin_unavailable",
            )
        wait = await self._limits.bookings.attempt(address)
        if wait is not None:
            log.warning("hub.booking_refused reason=rate_limited address=%s", log_safe(address))
            return _limited(wait)
        refused = await self._spend_proof(body.challenge, body.nonce, address)
        if refused is not None:
            return refused
        for kind, value in (("phone", phone), ("email", email)):
            if not value:
                continue
            wait = await self._limits.contacts.attempt(_hashed(kind, value))
            if wait is not None:
                log.warning(
                    "hub.booking_refused reason=%s_limited address=%s", kind, log_safe(address)
                )
                return _limited(wait)
        patient = wire.PatientSummary(
            family_name=body.family_name.strip(),
            given_names=body.given_names.strip(),
            birth_date=body.birth_date,
        )
        try:
            appointment = await self._desk.book(
                body.cabin_id,
                body.starts_at.astimezone(UTC),
                patient=patient,
                phone=phone,
                email=email,
                language=body.language,
                channel=BookingChannel.ONLINE,
                consent=True,
                client_address=address,
            )
        except BookingRefused as refusal:
            log.info(
                "hub.booking_refused reason=%s cabin=%s address=%s",
                refusal.reason.value,
                log_safe(body.cabin_id),
                log_safe(address),
            )
            return _refused(refusal)
        except StorageError as exc:
            log.error("hub.booking_failed cabin=%s error=%s", log_safe(body.cabin_id), exc)
            return json_error(503, "the hub cannot book right now", reason="unavailable")
        log.info(
            "hub.booked appointment=%s cabin=%s address=%s",
            appointment.appointment_id,
            log_safe(appointment.cabin_id),
            log_safe(address),
        )
        _wake_outbox(request)
        return _json(await self._booked_out(appointment), 201)

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        address = client_address(request)
        wait = await self._limits.cancels.attempt(address)
        if wait is not None:
            log.warning("hub.cancel_refused reason=rate_limited address=%s", log_safe(address))
            return _limited(wait)
        body = await self._body(request, CancelRequest)
        if isinstance(body, web.Response):
            return body
        if body.website:
            log.warning("hub.cancel_refused reason=honeypot address=%s", log_safe(address))
            return json_error(400, "the request was refused", reason="refused")
        if body.reason == "other" and not body.reason_text.strip():
            return _invalid("reason_text", "say why you cancel")
        if len(body.reason_text) > MAX_REASON_CHARS:
            return _invalid("reason_text", "say it in fewer words")
        refused = await self._spend_proof(body.challenge, body.nonce, address)
        if refused is not None:
            return refused
        wait = await self._limits.codes.attempt(_hashed("code", body.code))
        if wait is not None:
            log.warning("hub.cancel_refused reason=code_limited address=%s", log_safe(address))
            return _limited(wait)
        reason = CANCEL_REASONS.get(body.reason) or f"Autre / Other: {body.reason_text.strip()}"
        try:
            cancelled = await self._desk.cancel_by_patient(
                body.code, body.birth_date, reason, client_address=address
            )
        except BookingRefused as refusal:
            log.info(
                "hub.cancel_refused reason=%s address=%s", refusal.reason.value, log_safe(address)
            )
            if refusal.reason is RefusalReason.BAD_TEXT:
                return _invalid("reason_text", "say it in fewer words")
            return _refused(refusal)
        except StorageError as exc:
            log.error("hub.cancel_failed error=%s", exc)
            return json_error(503, "the hub cannot cancel right now", reason="unavailable")
        log.info(
            "hub.cancelled appointment=%s cabin=%s address=%s",
            cancelled.appointment_id,
            log_safe(cancelled.cabin_id),
            log_safe(address),
        )
        _wake_outbox(request)
        cabin = await self._cabin_of(cancelled.cabin_id)
        local = cancelled.starts_at.astimezone(ZoneInfo(cabin.timezone))
        return _json(CancelledOut(cabin, local.date(), local.strftime("%H:%M")))

    # --- parts ----------------------------------------------------------------------------------

    async def _read_limit(self, request: web.Request) -> web.Response | None:
        address = client_address(request)
        wait = await self._limits.reads.attempt(address)
        if wait is None:
            return None
        log.warning("hub.booking_read_refused reason=rate_limited address=%s", log_safe(address))
        return _limited(wait)

    async def _body(self, request: web.Request, kind: type[_Body]) -> _Body | web.Response:
        if request.content_type != "application/json":
            return json_error(415, "send JSON (Content-Type: application/json)")
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return json_error(413, "the request is too large", reason="too_large")
        data = await request.read()
        if len(data) > MAX_BODY_BYTES:
            return json_error(413, "the request is too large", reason="too_large")
        try:
            return msgspec.json.decode(data, type=kind)
        except msgspec.ValidationError as exc:
            field = str(exc).rpartition("$.")[2].rstrip("`").split("[")[0] or "body"
            return _invalid(field, f"invalid request: {exc}")
        except msgspec.DecodeError:
            return _invalid("body", "send a JSON object")

    def _check_booking(self, body: BookRequest) -> tuple[str, str] | web.Response:
        if not body.consent:
            return _invalid("consent", "the consent is required")
        if not body.family_name.strip():
            return _invalid("family_name", "give the family name")
        if not body.given_names.strip():
            return _invalid("given_names", "give the given names")
        today = self._services.clock.now().date()
        if not date(_OLDEST_BIRTH_YEAR, 1, 1) <= body.birth_date <= today:
            return _invalid("birth_date", "the birth date is not possible")
        phone = accepted_phone(body.phone)
        if phone is None:
            return _invalid("phone", "this is not a phone number")
        try:
            email = check_email(body.email)
        except BookingRefused:
            return _invalid("email", "this is not an e-mail address")
        return phone, email

    async def _new_challenge(self) -> ChallengeOut:
        challenge = secrets.token_hex(16)
        try:
            await self._cluster.put(CHALLENGE_KEY + challenge, b"1", ttl_s=self._ttl_s)
        except ClusterDown as exc:
            log.warning("hub.cluster_down task=booking_challenge error=%s", log_safe(exc))
        return ChallengeOut(challenge, self._bits, int(self._ttl_s))

    async def _spend_proof(self, challenge: str, nonce: str, address: str) -> web.Response | None:
        """None if the nonce proves the work for a challenge this hub gave and nobody used;
        the challenge is used either way."""
        try:
            issued = await self._cluster.get(CHALLENGE_KEY + challenge)
            first = issued is not None and await self._cluster.claim(
                USED_KEY + challenge, ttl_s=self._ttl_s
            )
            if issued is not None:
                await self._cluster.delete(CHALLENGE_KEY + challenge)
        except ClusterDown as exc:
            log.warning("hub.cluster_down task=booking_proof error=%s", log_safe(exc))
            return json_error(503, "the hub is busy; try again in a moment", reason="unavailable")
        if first and proof_holds(challenge, nonce, self._bits):
            return None
        why = "wrong" if first else "unknown_or_used"
        log.warning("hub.booking_proof_refused reason=%s address=%s", why, log_safe(address))
        return json_error(403, "the page's proof is stale; try again", reason="proof")

    async def _unavailable_today(self, cabin_id: str, starts_at: datetime) -> bool:
        """The cabin is temporarily unavailable and the slot is today, in its zone."""
        if cabin_id not in await self._services.switchboard.fleet.unavailable():
            return False
        calendar = await self._calendar(cabin_id)
        if calendar is None:
            return False
        zone = _zone(calendar)
        return (
            starts_at.astimezone(zone).date() == self._services.clock.now().astimezone(zone).date()
        )

    async def _calendar(self, cabin_id: str) -> CabinCalendar | None:
        try:
            return await self._desk.calendar(cabin_id)
        except BookingRefused:
            return None

    async def _cabin_of(self, cabin_id: str) -> CabinOut:
        calendar = await self._calendar(cabin_id)
        return await self._cabin_out(calendar or CabinCalendar(cabin_id, ""))

    async def _cabin_out(self, calendar: CabinCalendar) -> CabinOut:
        cabin = await self._services.storage.cabin(calendar.cabin_id)
        name = cabin.name if cabin is not None else calendar.cabin_id
        unavailable = calendar.cabin_id in await self._services.switchboard.fleet.unavailable()
        return CabinOut(calendar.cabin_id, name, calendar.town, _zone(calendar).key, unavailable)

    async def _booked_out(self, appointment: Appointment) -> BookedOut:
        cabin = await self._cabin_of(appointment.cabin_id)
        local = appointment.starts_at.astimezone(ZoneInfo(cabin.timezone))
        return BookedOut(
            appointment_id=appointment.appointment_id,
            code=appointment.code,
            cabin=cabin,
            day=local.date(),
            time=local.strftime("%H:%M"),
            starts_at=appointment.starts_at,
            by_email=bool(appointment.email),
            by_sms=bool(appointment.phone),
        )


# --- the page's files --------------------------------------------------------------------------


def _page_response(path: Path, content_type: str) -> web.StreamResponse:
    return web.FileResponse(
        path,
        headers={
            "Content-Type": content_type,
            "Cache-Control": "no-cache",
            "Content-Security-Policy": PAGE_POLICY,
            "X-Robots-Tag": "noindex",
        },
    )


def _page_handlers(
    page_dir: Path,
) -> tuple[
    Callable[[web.Request], Awaitable[web.StreamResponse]],
    Callable[[web.Request], Awaitable[web.StreamResponse]],
]:
    async def index(_request: web.Request) -> web.StreamResponse:
        path = page_dir / "index.html"
        if not path.is_file():
            return web.Response(status=404, text="the booking page is not installed")
        return _page_response(path, "text/html; charset=utf-8")

    async def page_file(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        content_type = PAGE_FILES.get(name)
        if content_type is None or not (page_dir / name).is_file():
            return web.Response(status=404, text="not found")
        return _page_response(page_dir / name, content_type)

    return index, page_file


def add_routes(app: web.Application, desk: BookingDesk, *, page_dir: Path = PAGE_DIR) -> None:
    """The page (``/rendez-vous``, ``/rendez-vous/annuler``, its files) and its API; the
    hub's services must be in `app` already, and this comes before `hub.http_api`'s routes
    (its ``/api/{rest}`` answers 404 to whatever is added after it)."""
    public = PublicBooking(desk, app[SERVICES])
    index, page_file = _page_handlers(page_dir)
    app.router.add_get("/rendez-vous", index)
    app.router.add_get("/rendez-vous/", index)
    app.router.add_get("/rendez-vous/annuler", index)
    app.router.add_get("/rendez-vous/{name}", page_file)
    app.router.add_get(f"{API}/towns", public.towns)
    app.router.add_get(f"{API}/cabins", public.cabins)
    app.router.add_get(f"{API}/slots", public.slots)
    app.router.add_get(f"{API}/challenge", public.challenge)
    app.router.add_post(f"{API}/book", public.book)
    app.router.add_post(f"{API}/cancel", public.cancel)

"""The console's JSON API for the doctor's agenda, the handover and the follow-up flags.

Doctors only (an agent's session is refused); every state-changing request has passed
`hub.web_security.state_change_guard` (the hub's Origin, the session's CSRF token). What is
written, read, flagged or cleared is audited by `hub.handover.HandoverDesk`; reading a
consultation linked from a handover or a flag is audited as ``history.read``.

    GET  /api/agenda?day=YYYY-MM-DD&span=day|week
    GET  /api/handovers                       the inbox: addressed to me, and mine
    GET  /api/handovers/draft                 what the form offers: cabins, next doctors,
                                              my consultations of the week
    POST /api/handovers                       write one
    PUT  /api/handovers/{id}                  edit mine
    POST /api/handovers/{id}/read             "I have read it"
    GET  /api/handovers/{id}/consultations/{cid}/history
    GET  /api/followups                       the patients to follow up (my cabins, mine)
    GET  /api/consultations/{cid}/followups   a consultation's flags (the call screen)
    POST /api/consultations/{cid}/followups   flag it {"note"}
    POST /api/followups/{id}/clear            {"note"}
    GET  /api/followups/{id}/history

Register with `add_routes(app)` before `hub.http_api.add_routes` (its catch-all for /api/).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Annotated, TypeVar

import msgspec
from aiohttp import web

import wire
from hub.agenda import AgendaDesk
from hub.auth import client_address
from hub.handover import (
    MAX_ITEMS,
    MAX_NOTE_CHARS,
    MAX_SUMMARY_CHARS,
    ConsoleStore,
    FlaggedPatient,
    FollowUp,
    Handover,
    HandoverDesk,
    HandoverDraft,
    HandoverItem,
    HandoverRead,
    HandoverRefused,
    HandoverStore,
    patient_age,
)
from hub.history import patient_history
from hub.log_safe import log_safe
from hub.services import SERVICES, HubServices
from hub.storage import AccountRole, ActorKind, ConsultationRecord, SessionRecord
from hub.web_security import json_error

log = logging.getLogger(__name__)

B = TypeVar("B")
_ID = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
_MAX_BODY_BYTES = 48 * 1024


class HandoverBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    summary: Annotated[str, msgspec.Meta(max_length=MAX_SUMMARY_CHARS)]
    items: Annotated[list[HandoverItem], msgspec.Meta(max_length=MAX_ITEMS)] = []
    recipients: Annotated[list[_ID], msgspec.Meta(max_length=20)] | None = None


class NoteBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    note: Annotated[str, msgspec.Meta(max_length=MAX_NOTE_CHARS)] = ""


class Person(msgspec.Struct, frozen=True):
    username: str
    display_name: str


class ReadView(msgspec.Struct, frozen=True):
    reader: Person
    read_at: datetime


class HandoverView(msgspec.Struct, frozen=True):
    handover: Handover
    author: Person
    recipients: list[Person]
    mine: bool
    read_at: datetime | None
    """When I acknowledged it (None: unread, or mine)."""
    reads: list[ReadView]
    """Who acknowledged it (the author sees who did)."""
    linked: dict[str, str]
    """consultation_id -> "Family Given, 88" of the items' linked consultations."""
    towns: dict[str, str]
    """cabin_id -> its town (the cabins that have a calendar)."""


class Inbox(msgspec.Struct, frozen=True):
    handovers: list[HandoverView]
    unread: int
    followups: int


class LinkableConsultation(msgspec.Struct, frozen=True):
    consultation_id: str
    cabin_id: str
    joined_at: datetime
    family_name: str
    given_names: str
    age_years: int
    reason: str


class DraftOptions(msgspec.Struct, frozen=True):
    cabin_ids: list[str]
    towns: dict[str, str]
    next_doctors: list[Person]
    doctors: list[Person]
    consultations: list[LinkableConsultation]


class FollowUpView(msgspec.Struct, frozen=True):
    followup: FollowUp
    flagged_by: Person
    cleared_by: Person | None
    family_name: str
    given_names: str
    age_years: int | None
    consultation_at: datetime | None
    reason: str


class FollowUpList(msgspec.Struct, frozen=True):
    followups: list[FollowUpView]


@dataclasses.dataclass(frozen=True, slots=True)
class ConsoleDesks:
    agenda: AgendaDesk
    handovers: HandoverDesk


DESKS = web.AppKey("hub_console_desks", ConsoleDesks)
_HANDOVER_BODY = msgspec.json.Decoder(HandoverBody)
_NOTE_BODY = msgspec.json.Decoder(NoteBody)


def _json(value: object, status: int = 200) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(value), status=status, content_type="application/json"
    )


Handler = Callable[[web.Request, HubServices, ConsoleDesks, SessionRecord], Awaitable[web.Response]]


def _doctors_only(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def guarded(request: web.Request) -> web.StreamResponse:
        services = request.app[SERVICES]
        session = await services.sessions.of_request(request)
        if session is None:
            return json_error(401, "not signed in")
        if session.role is not AccountRole.DOCTOR:
            log.warning(
                "hub.console_api_refused role=%s path=%s",
                session.role.value,
                log_safe(request.path),
            )
            return json_error(403, "forbidden")
        try:
            return await handler(request, services, request.app[DESKS], session)
        except HandoverRefused as refused:
            return json_error(refused.status, refused.reason, reason=refused.reason)

    return guarded


async def _body(request: web.Request, decoder: msgspec.json.Decoder[B]) -> B:
    if request.content_type != "application/json":
        raise HandoverRefused(415, "send JSON (Content-Type: application/json)")
    data = await request.read()
    if len(data) > _MAX_BODY_BYTES:
        raise HandoverRefused(413, "too_large")
    try:
        return decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise HandoverRefused(400, f"bad request: {exc}") from None


class _People:
    def __init__(self, services: HubServices) -> None:
        self._storage = services.storage
        self._known: dict[str, Person] = {}

    async def person(self, username: str) -> Person:
        if username not in self._known:
            doctor = await self._storage.doctor(username)
            name = doctor.display_name if doctor is not None else username
            self._known[username] = Person(username, name)
        return self._known[username]


def _who(record: ConsultationRecord) -> str:
    patient = record.patient
    age = patient_age(patient, record.joined_at.date())
    return f"{patient.family_name} {patient.given_names}, {age}"


async def _view(
    services: HubServices,
    people: _People,
    doctor: str,
    handover: Handover,
    read_at: datetime | None,
) -> HandoverView:
    desks_reads: list[HandoverRead] = await services_store(services).handover_reads(
        [handover.handover_id]
    )
    linked: dict[str, str] = {}
    for item in handover.items:
        if item.consultation_id and item.consultation_id not in linked:
            record = await services.storage.consultation(item.consultation_id)
            if record is not None:
                linked[item.consultation_id] = _who(record)
    return HandoverView(
        towns=await _towns(services, handover.cabin_ids),
        handover=handover,
        author=await people.person(handover.author),
        recipients=[await people.person(r) for r in handover.recipients],
        mine=handover.author == doctor,
        read_at=read_at,
        reads=[ReadView(await people.person(r.reader), r.read_at) for r in desks_reads],
        linked=linked,
    )


async def _towns(services: HubServices, cabin_ids: Iterable[str]) -> dict[str, str]:
    towns: dict[str, str] = {}
    for cabin_id in sorted(set(cabin_ids)):
        calendar = await services.storage.calendar(cabin_id)
        if calendar is not None:
            towns[cabin_id] = calendar.town
    return towns


def services_store(services: HubServices) -> ConsoleStore:
    storage = services.storage
    if not isinstance(storage, HandoverStore):
        raise TypeError("the storage keeps no handovers")
    return storage


# --- the agenda -------------------------------------------------------------------------------


@_doctors_only
async def agenda(
    request: web.Request, _services: HubServices, desks: ConsoleDesks, session: SessionRecord
) -> web.Response:
    day: date | None = None
    given = request.query.get("day")
    if given:
        try:
            day = date.fromisoformat(given[:10])
        except ValueError:
            raise HandoverRefused(400, "day: YYYY-MM-DD") from None
    week = request.query.get("span", "day") == "week"
    return _json(await desks.agenda.agenda(session.username, day=day, week=week))


# --- handovers --------------------------------------------------------------------------------


@_doctors_only
async def inbox(
    _request: web.Request, services: HubServices, desks: ConsoleDesks, session: SessionRecord
) -> web.Response:
    people = _People(services)
    entries = await desks.handovers.inbox(session.username)
    views = [
        await _view(services, people, session.username, e.handover, e.read_at) for e in entries
    ]
    unread = sum(1 for e in entries if not e.mine and e.read_at is None)
    flagged = await desks.handovers.followups_for(session.username)
    return _json(Inbox(views, unread, len(flagged)))


@_doctors_only
async def draft_options(
    _request: web.Request, services: HubServices, desks: ConsoleDesks, session: SessionRecord
) -> web.Response:
    people = _People(services)
    now = services.clock.now()
    me = session.username
    cabins = await desks.handovers.cabins_of(
        me, start=now - timedelta(days=7), end=now + timedelta(days=1)
    )
    nexts = await desks.handovers.next_doctors(me, tuple(cabins))
    doctors = [
        Person(d.username, d.display_name)
        for d in await services.storage.doctors()
        if d.username != me
    ]
    taken = await services_store(services).doctor_consultations(
        me, joined_from=now - timedelta(days=8), joined_before=now + timedelta(minutes=1)
    )
    return _json(
        DraftOptions(
            cabin_ids=cabins,
            towns=await _towns(services, [*cabins, *(c.cabin_id for c in taken)]),
            next_doctors=[await people.person(n) for n in nexts],
            doctors=sorted(doctors, key=lambda p: p.display_name),
            consultations=[
                LinkableConsultation(
                    consultation_id=c.consultation_id,
                    cabin_id=c.cabin_id,
                    joined_at=c.joined_at,
                    family_name=c.patient.family_name,
                    given_names=c.patient.given_names,
                    age_years=patient_age(c.patient, c.joined_at.date()),
                    reason=c.reason,
                )
                for c in taken
            ],
        )
    )


def _draft(body: HandoverBody) -> HandoverDraft:
    return HandoverDraft(
        summary=body.summary.strip(),
        items=tuple(
            msgspec.structs.replace(item, text=item.text.strip())
            for item in body.items
            if item.text.strip()
        ),
        recipients=None if body.recipients is None else tuple(body.recipients),
    )


@_doctors_only
async def write_handover(
    request: web.Request, services: HubServices, desks: ConsoleDesks, session: SessionRecord
) -> web.Response:
    body = await _body(request, _HANDOVER_BODY)
    draft = _draft(body)
    if not draft.summary and not draft.items:
        raise HandoverRefused(400, "empty")
    handover = await desks.handovers.write(session.username, draft, address=client_address(request))
    view = await _view(services, _People(services), session.username, handover, None)
    return _json(view, status=201)


@_doctors_only
async def edit_handover(
    request: web.Request, services: HubServices, desks: ConsoleDesks, session: SessionRecord
) -> web.Response:
    body = await _body(request, _HANDOVER_BODY)
    handover = await desks.handovers.edit(
        session.username,
        request.match_info["handover_id"],
        _draft(body),
        address=client_address(request),
    )
    return _json(await _view(services, _People(services), session.username, handover, None))


@_doctors_only
async def acknowledge(
    request: web.Request, _services: HubServices, desks: ConsoleDesks, session: SessionRecord
) -> web.Response:
    read = await desks.handovers.acknowledge(
        session.username, request.match_info["handover_id"], address=client_address(request)
    )
    return _json(read)


async def _history(
    request: web.Request,
    services: HubServices,
    session: SessionRecord,
    record: ConsultationRecord,
    subject: str,
) -> web.Response:
    # The patient's consultations up to now, the linked one among them (it is not excluded).
    current = dataclasses.replace(record, consultation_id="", joined_at=services.clock.now())
    found = await patient_history(
        services.storage,
        current,
        public_keys=services.signer.public_keys,
        desk=services.switchboard.records,
    )
    found = msgspec.structs.replace(found, consultation_id=record.consultation_id)
    await services.audit.record(
        "history.read",
        actor_kind=ActorKind.DOCTOR,
        actor_id=session.username,
        consultation_id=record.consultation_id,
        client_address=client_address(request),
        subject=subject,
    )
    return web.Response(body=wire.encode(found), content_type="application/json")


@_doctors_only
async def handover_history(
    request: web.Request, services: HubServices, desks: ConsoleDesks, session: SessionRecord
) -> web.Response:
    handover_id = request.match_info["handover_id"]
    record = await desks.handovers.linked_consultation(
        session.username, handover_id, request.match_info["consultation_id"]
    )
    return await _history(request, services, session, record, handover_id)


# --- follow-up flags --------------------------------------------------------------------------


async def _followup_view(people: _People, flagged: FlaggedPatient) -> FollowUpView:
    record, followup = flagged.consultation, flagged.followup
    return FollowUpView(
        followup=followup,
        flagged_by=await people.person(followup.flagged_by),
        cleared_by=None
        if followup.cleared_by is None
        else await people.person(followup.cleared_by),
        family_name="" if record is None else record.patient.family_name,
        given_names="" if record is None else record.patient.given_names,
        age_years=None if record is None else patient_age(record.patient, record.joined_at.date()),
        consultation_at=None if record is None else record.joined_at,
        reason="" if record is None else record.reason,
    )


@_doctors_only
async def followups(
    _request: web.Request, services: HubServices, desks: ConsoleDesks, session: SessionRecord
) -> web.Response:
    people = _People(services)
    flagged = await desks.handovers.followups_for(session.username)
    return _json(FollowUpList([await _followup_view(people, f) for f in flagged]))


@_doctors_only
async def consultation_followups(
    request: web.Request, services: HubServices, _desks: ConsoleDesks, session: SessionRecord
) -> web.Response:
    consultation_id = request.match_info["consultation_id"]
    record = await services.storage.consultation(consultation_id)
    if record is None or record.doctor != session.username:
        raise HandoverRefused(403, "forbidden")
    people = _People(services)
    found = await services_store(services).followups_of_consultation(consultation_id)
    return _json(
        FollowUpList([await _followup_view(people, FlaggedPatient(f, record)) for f in found])
    )


@_doctors_only
async def flag(
    request: web.Request, services: HubServices, desks: ConsoleDesks, session: SessionRecord
) -> web.Response:
    body = await _body(request, _NOTE_BODY)
    consultation_id = request.match_info["consultation_id"]
    followup = await desks.handovers.flag(
        session.username, consultation_id, body.note.strip(), address=client_address(request)
    )
    record = await services.storage.consultation(consultation_id)
    view = await _followup_view(_People(services), FlaggedPatient(followup, record))
    return _json(view, status=201)


@_doctors_only
async def clear(
    request: web.Request, services: HubServices, desks: ConsoleDesks, session: SessionRecord
) -> web.Response:
    body = await _body(request, _NOTE_BODY)
    if not body.note.strip():
        raise HandoverRefused(400, "note_needed")
    cleared = await desks.handovers.clear(
        session.username,
        request.match_info["followup_id"],
        body.note.strip(),
        address=client_address(request),
    )
    record = await services.storage.consultation(cleared.consultation_id)
    return _json(await _followup_view(_People(services), FlaggedPatient(cleared, record)))


@_doctors_only
async def followup_history(
    request: web.Request, services: HubServices, desks: ConsoleDesks, session: SessionRecord
) -> web.Response:
    followup_id = request.match_info["followup_id"]
    shown = await desks.handovers.followups_for(session.username)
    match = next((f for f in shown if f.followup.followup_id == followup_id), None)
    if match is None or match.consultation is None:
        raise HandoverRefused(403, "forbidden")
    return await _history(request, services, session, match.consultation, followup_id)


def add_routes(app: web.Application) -> None:
    """The console's agenda, handover and follow-up API (before `hub.http_api.add_routes`)."""
    services = app[SERVICES]
    storage = services_store(services)
    app[DESKS] = ConsoleDesks(
        agenda=AgendaDesk(storage, services.clock),
        handovers=HandoverDesk(storage, services.audit, services.clock),
    )
    app.router.add_get("/api/agenda", agenda)
    app.router.add_get("/api/handovers", inbox)
    app.router.add_get("/api/handovers/draft", draft_options)
    app.router.add_post("/api/handovers", write_handover)
    app.router.add_put("/api/handovers/{handover_id}", edit_handover)
    app.router.add_post("/api/handovers/{handover_id}/read", acknowledge)
    app.router.add_get(
        "/api/handovers/{handover_id}/consultations/{consultation_id}/history", handover_history
    )
    app.router.add_get("/api/followups", followups)
    app.router.add_get("/api/consultations/{consultation_id}/followups", consultation_followups)
    app.router.add_post("/api/consultations/{consultation_id}/followups", flag)
    app.router.add_post("/api/followups/{followup_id}/clear", clear)
    app.router.add_get("/api/followups/{followup_id}/history", followup_history)

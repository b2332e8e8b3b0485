"""The handover between the weekly doctors, and the "to follow up" flag on a patient.

At the end of their week a doctor writes a handover, I-PASS-like: a short summary, then items,
each a patient to follow, a result pending or an action to do, linked to its consultation when
it has one, with a due date when it has one. It is addressed to the doctors on the rota of the
same cabins after the author's week (or, when the rota does not say yet, to whoever covers
those cabins next). The next doctor sees it first when they sign in, and says "I have read it":
the acknowledgement is recorded (who, when) but never blocks their work, since a mandatory
"accept handover" is how a blocked shift ended in another hospital system.

A doctor who saw a patient may flag them "to follow up", with a note: the flag puts the patient
on the list of the doctors who cover that cabin next, until a doctor clears it, with a note.

Everything here is audited (`hub.audit`): ``handover.written``, ``handover.read``,
``followup.flagged``, ``followup.cleared``, with the handover's or the flag's id as subject.
Texts and notes are health data: never logged; sealed at rest on PostgreSQL.
"""

from __future__ import annotations

import enum
import logging
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Protocol, runtime_checkable

import msgspec

import wire
from hub.audit import AuditLog
from hub.booking import BookingStore
from hub.clock import Clock
from hub.storage import ActorKind, ConsultationRecord, Storage

log = logging.getLogger(__name__)

MAX_ITEMS = 50
MAX_TEXT_CHARS = 2000
MAX_SUMMARY_CHARS = 4000
MAX_NOTE_CHARS = 2000
INBOX_DAYS = 28
"""How far back a doctor's handovers are listed."""
LOOKAHEAD_DAYS = 14
"""How far ahead the rota is read for the next doctors, and for a doctor's cabins."""


class ItemKind(enum.StrEnum):
    """What an item of a handover is (I-PASS: the action list, the situation awareness)."""

    PATIENT = "patient"
    """A patient to follow."""
    RESULT = "result"
    """A result pending (blood test, imaging, a specialist's letter)."""
    ACTION = "action"
    """An action to do."""


IdText = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class HandoverItem(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: ItemKind
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TEXT_CHARS)]
    consultation_id: IdText | None = None
    """The consultation it is about: the console links to its history."""
    due_on: date | None = None


class Handover(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    handover_id: str
    author: str
    cabin_ids: tuple[str, ...]
    covers_from: datetime
    """The author's week: its first instant..."""
    covers_until: datetime
    """...and its end."""
    summary: str
    items: tuple[HandoverItem, ...]
    recipients: tuple[str, ...]
    """The next doctors on the rota; () for whoever covers the cabins next."""
    written_at: datetime
    updated_at: datetime


class HandoverRead(msgspec.Struct, frozen=True):
    """A doctor acknowledged a handover (the first acknowledgement stands)."""

    handover_id: str
    reader: str
    read_at: datetime


class FollowUp(msgspec.Struct, frozen=True):
    """A patient flagged "to follow up" from one of their consultations."""

    followup_id: str
    consultation_id: str
    cabin_id: str
    note: str
    flagged_by: str
    flagged_at: datetime
    cleared_by: str | None = None
    cleared_at: datetime | None = None
    clear_note: str = ""

    @property
    def is_open(self) -> bool:
        return self.cleared_at is None


@runtime_checkable
class HandoverStore(Protocol):
    """What the hub keeps of handovers, their acknowledgements and the follow-up flags. Both
    `SqliteStorage` and `PostgresStorage` implement it; the conformance suite checks both."""

    async def add_handover(self, handover: Handover) -> None: ...

    async def replace_handover(self, handover: Handover) -> bool:
        """Replace the stored handover of that id and author (summary, items, cabins, period,
        recipients, `updated_at`); False if there is none (unknown, or another author's)."""
        ...

    async def handover(self, handover_id: str) -> Handover | None: ...

    async def handovers(
        self, *, written_from: datetime, written_before: datetime, author: str | None = None
    ) -> list[Handover]:
        """The handovers written in [written_from, written_before) (of `author`), newest first."""
        ...

    async def mark_handover_read(
        self, handover_id: str, *, reader: str, at: datetime
    ) -> tuple[HandoverRead, bool] | None:
        """Record that `reader` read the handover, unless they already did (the first stands);
        the stored acknowledgement and whether it is this one. None for an unknown handover."""
        ...

    async def handover_reads(self, handover_ids: list[str]) -> list[HandoverRead]:
        """Every acknowledgement of these handovers, oldest first."""
        ...

    async def doctor_consultations(
        self, doctor: str, *, joined_from: datetime, joined_before: datetime, limit: int = 200
    ) -> list[ConsultationRecord]:
        """The consultations `doctor` took that began in [joined_from, joined_before), newest
        first (what a handover's items may link to)."""
        ...

    async def add_followup(self, followup: FollowUp) -> None: ...

    async def followup(self, followup_id: str) -> FollowUp | None: ...

    async def open_followups(self, *, cabin_ids: list[str] | None) -> list[FollowUp]:
        """The flags not cleared, of these cabins' consultations (None: all), oldest first."""
        ...

    async def followups_of_consultation(self, consultation_id: str) -> list[FollowUp]:
        """Every flag (open or cleared) of the consultation, oldest first."""
        ...

    async def clear_followup(
        self, followup_id: str, *, by: str, at: datetime, note: str
    ) -> FollowUp | None:
        """Clear an open flag; the flag as stored now, None if it is unknown or was cleared."""
        ...


class ConsoleStore(Storage, BookingStore, HandoverStore, Protocol):
    """The storage as the console's agenda and handover see it."""


# --- the service ----------------------------------------------------------------------------


class HandoverRefused(Exception):
    """What a doctor asked is not theirs to do: `status` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class HandoverDraft:
    """What the doctor typed; the hub fills in the rest."""

    summary: str
    items: tuple[HandoverItem, ...]
    recipients: tuple[str, ...] | None = None
    """None: the next doctors on the rota (the hub looks)."""
    cabin_ids: tuple[str, ...] | None = None
    """None: the cabins of the author's shifts this week."""


@dataclass(frozen=True, slots=True)
class InboxEntry:
    handover: Handover
    read_at: datetime | None
    """When this doctor acknowledged it; None: unread."""
    mine: bool
    """Written by this doctor (listed, never unread)."""


@dataclass(frozen=True, slots=True)
class FlaggedPatient:
    followup: FollowUp
    consultation: ConsultationRecord | None


class HandoverDesk:
    """Writing, addressing and acknowledging handovers; flagging and clearing follow-ups."""

    def __init__(self, storage: ConsoleStore, audit: AuditLog, clock: Clock) -> None:
        self._storage = storage
        self._audit = audit
        self._clock = clock

    # --- the rota -------------------------------------------------------------------------

    async def cabins_of(self, doctor: str, *, start: datetime, end: datetime) -> list[str]:
        shifts = await self._storage.shifts(starts_before=end, ends_after=start, doctor=doctor)
        return sorted({shift.cabin_id for shift in shifts})

    async def next_doctors(self, author: str, cabin_ids: tuple[str, ...]) -> tuple[str, ...]:
        """The doctors (but the author) of the first shifts on these cabins after now."""
        now = self._clock.now()
        found: set[str] = set()
        for cabin_id in cabin_ids:
            shifts = await self._storage.shifts(
                starts_before=now + timedelta(days=LOOKAHEAD_DAYS),
                ends_after=now,
                cabin_id=cabin_id,
            )
            others = sorted(
                (
                    s
                    for s in shifts
                    if s.doctor != author and s.starts_at >= now - timedelta(days=1)
                ),
                key=lambda s: s.starts_at,
            )
            if others:
                first = others[0].starts_at
                found |= {s.doctor for s in others if s.starts_at - first < timedelta(days=1)}
        return tuple(sorted(found))

    # --- handovers ------------------------------------------------------------------------

    async def _check_recipients(self, recipients: tuple[str, ...]) -> None:
        for username in recipients:
            if await self._storage.doctor(username) is None:
                raise HandoverRefused(400, "unknown_recipient")

    async def _check_links(
        self, author: str, draft: HandoverDraft, cabins: tuple[str, ...]
    ) -> None:
        for item in draft.items:
            if item.consultation_id is None:
                continue
            record = await self._storage.consultation(item.consultation_id)
            if record is None or (record.doctor != author and record.cabin_id not in cabins):
                raise HandoverRefused(400, "unknown_consultation")

    async def write(
        self, author: str, draft: HandoverDraft, *, address: str | None = None
    ) -> Handover:
        now = self._clock.now()
        start, end = now - timedelta(days=7), now
        cabins = draft.cabin_ids
        if cabins is None:
            cabins = tuple(await self.cabins_of(author, start=start, end=end + timedelta(days=1)))
        await self._check_links(author, draft, cabins)
        recipients = draft.recipients
        if recipients is None:
            recipients = await self.next_doctors(author, cabins)
        await self._check_recipients(recipients)
        handover = Handover(
            handover_id=f"ho-{secrets.token_hex(8)}",
            author=author,
            cabin_ids=tuple(sorted(set(cabins))),
            covers_from=start,
            covers_until=end,
            summary=draft.summary,
            items=draft.items,
            recipients=tuple(sorted(set(recipients) - {author})),
            written_at=now,
            updated_at=now,
        )
        await self._storage.add_handover(handover)
        await self._audit.record(
            "handover.written",
            actor_kind=ActorKind.DOCTOR,
            actor_id=author,
            client_address=address,
            subject=handover.handover_id,
        )
        for consultation_id in _linked(handover):
            await self._audit.record(
                "handover.linked",
                actor_kind=ActorKind.DOCTOR,
                actor_id=author,
                consultation_id=consultation_id,
                client_address=address,
                subject=handover.handover_id,
            )
        log.info(
            "hub.handover_written handover=%s author=%s items=%d recipients=%d",
            handover.handover_id,
            author,
            len(handover.items),
            len(handover.recipients),
        )
        return handover

    async def edit(
        self, author: str, handover_id: str, draft: HandoverDraft, *, address: str | None = None
    ) -> Handover:
        stored = await self._storage.handover(handover_id)
        if stored is None:
            raise HandoverRefused(404, "not_found")
        if stored.author != author:
            await self._audit.record(
                "handover.edit_denied",
                actor_kind=ActorKind.DOCTOR,
                actor_id=author,
                client_address=address,
                subject=handover_id,
            )
            raise HandoverRefused(403, "not_yours")
        cabins = draft.cabin_ids if draft.cabin_ids is not None else stored.cabin_ids
        await self._check_links(author, draft, cabins)
        recipients = draft.recipients if draft.recipients is not None else stored.recipients
        await self._check_recipients(recipients)
        changed = msgspec.structs.replace(
            stored,
            summary=draft.summary,
            items=draft.items,
            cabin_ids=tuple(sorted(set(cabins))),
            recipients=tuple(sorted(set(recipients) - {author})),
            updated_at=self._clock.now(),
        )
        if not await self._storage.replace_handover(changed):
            raise HandoverRefused(404, "not_found")
        await self._audit.record(
            "handover.written",
            actor_kind=ActorKind.DOCTOR,
            actor_id=author,
            client_address=address,
            subject=handover_id,
        )
        return changed

    async def _addressed_to(self, doctor: str, handover: Handover) -> bool:
        if handover.author == doctor:
            return False
        if handover.recipients:
            return doctor in handover.recipients
        covered = await self.cabins_of(
            doctor,
            start=handover.written_at - timedelta(days=1),
            end=self._clock.now() + timedelta(days=LOOKAHEAD_DAYS),
        )
        return bool(set(covered) & set(handover.cabin_ids))

    async def visible_to(self, doctor: str, handover: Handover) -> bool:
        return handover.author == doctor or await self._addressed_to(doctor, handover)

    async def inbox(self, doctor: str) -> list[InboxEntry]:
        """The handovers addressed to `doctor` and those they wrote, newest first."""
        now = self._clock.now()
        recent = await self._storage.handovers(
            written_from=now - timedelta(days=INBOX_DAYS), written_before=now + timedelta(days=1)
        )
        shown = [h for h in recent if await self.visible_to(doctor, h)]
        reads = await self._storage.handover_reads([h.handover_id for h in shown])
        read_at = {r.handover_id: r.read_at for r in reads if r.reader == doctor}
        return [InboxEntry(h, read_at.get(h.handover_id), mine=h.author == doctor) for h in shown]

    async def readable(self, doctor: str, handover_id: str) -> Handover:
        handover = await self._storage.handover(handover_id)
        if handover is None:
            raise HandoverRefused(404, "not_found")
        if not await self.visible_to(doctor, handover):
            raise HandoverRefused(403, "forbidden")
        return handover

    async def acknowledge(
        self, doctor: str, handover_id: str, *, address: str | None = None
    ) -> HandoverRead:
        handover = await self.readable(doctor, handover_id)
        if handover.author == doctor:
            raise HandoverRefused(400, "own_handover")
        marked = await self._storage.mark_handover_read(
            handover_id, reader=doctor, at=self._clock.now()
        )
        if marked is None:
            raise HandoverRefused(404, "not_found")
        read, new = marked
        if new:
            await self._audit.record(
                "handover.read",
                actor_kind=ActorKind.DOCTOR,
                actor_id=doctor,
                client_address=address,
                subject=handover_id,
            )
        return read

    async def reads_of(self, handover: Handover) -> list[HandoverRead]:
        return await self._storage.handover_reads([handover.handover_id])

    async def linked_consultation(
        self, doctor: str, handover_id: str, consultation_id: str
    ) -> ConsultationRecord:
        """A consultation a handover visible to `doctor` links to (to read its history)."""
        handover = await self.readable(doctor, handover_id)
        if consultation_id not in _linked(handover):
            raise HandoverRefused(403, "forbidden")
        record = await self._storage.consultation(consultation_id)
        if record is None:
            raise HandoverRefused(404, "not_found")
        return record

    # --- follow-up flags ------------------------------------------------------------------

    async def flag(
        self, doctor: str, consultation_id: str, note: str, *, address: str | None = None
    ) -> FollowUp:
        record = await self._storage.consultation(consultation_id)
        if record is None or record.doctor != doctor:
            await self._audit.record(
                "followup.denied",
                actor_kind=ActorKind.DOCTOR,
                actor_id=doctor,
                consultation_id=None if record is None else consultation_id,
                client_address=address,
            )
            raise HandoverRefused(403, "forbidden")
        followup = FollowUp(
            followup_id=f"fu-{secrets.token_hex(8)}",
            consultation_id=consultation_id,
            cabin_id=record.cabin_id,
            note=note,
            flagged_by=doctor,
            flagged_at=self._clock.now(),
        )
        await self._storage.add_followup(followup)
        await self._audit.record(
            "followup.flagged",
            actor_kind=ActorKind.DOCTOR,
            actor_id=doctor,
            consultation_id=consultation_id,
            client_address=address,
            subject=followup.followup_id,
        )
        return followup

    async def followups_for(self, doctor: str) -> list[FlaggedPatient]:
        """The open flags of the cabins `doctor` covers (this week and the next two), and those
        they flagged themselves, oldest first."""
        now = self._clock.now()
        cabins = await self.cabins_of(
            doctor, start=now - timedelta(days=7), end=now + timedelta(days=LOOKAHEAD_DAYS)
        )
        found = await self._storage.open_followups(cabin_ids=cabins) if cabins else []
        ids = {f.followup_id for f in found}
        for own in await self._storage.open_followups(cabin_ids=None):
            if own.flagged_by == doctor and own.followup_id not in ids:
                found.append(own)
        found.sort(key=lambda f: (f.flagged_at, f.followup_id))
        return [
            FlaggedPatient(f, await self._storage.consultation(f.consultation_id)) for f in found
        ]

    async def clear(
        self, doctor: str, followup_id: str, note: str, *, address: str | None = None
    ) -> FollowUp:
        stored = await self._storage.followup(followup_id)
        if stored is None:
            raise HandoverRefused(404, "not_found")
        cleared = await self._storage.clear_followup(
            followup_id, by=doctor, at=self._clock.now(), note=note
        )
        if cleared is None:
            raise HandoverRefused(409, "already_cleared")
        await self._audit.record(
            "followup.cleared",
            actor_kind=ActorKind.DOCTOR,
            actor_id=doctor,
            consultation_id=cleared.consultation_id,
            client_address=address,
            subject=followup_id,
        )
        return cleared


def _linked(handover: Handover) -> list[str]:
    seen: list[str] = []
    for item in handover.items:
        if item.consultation_id is not None and item.consultation_id not in seen:
            seen.append(item.consultation_id)
    return seen


def patient_age(patient: wire.PatientSummary, on: date) -> int:
    born = patient.birth_date
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))

"""Appointment codes at the cabin: a code typed on the keypad, checked with the hub, or, while
the hub cannot be reached, against today's appointments it synced into the encrypted store.

The keypad pauses after `WRONG_BEFORE_PAUSE` wrong codes in a row (`PAUSE_S`, a countdown on
screen), whoever typed them and whether the hub answered or the synced list did: the count
belongs to the cabin, not to one patient's session, so ending a session does not reset it. The
hub keeps its own count per cabin as well. The code is never logged, nor the patient it opens:
appointment ids only.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import enum
import hmac
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

import wire
from kiosk.errors import HubError, StoreError
from kiosk.patient import BookedAppointment, PatientIdentity, Sex
from kiosk.session import Clock
from kiosk.store import AsyncStore, Store, SyncedAppointment

if TYPE_CHECKING:
    from kiosk.hub_link import HubLink

log = logging.getLogger(__name__)

CODE_PATTERN: Final = re.compile(r"^[0-9]{6}$")
WRONG_BEFORE_PAUSE: Final = 5
PAUSE_S: Final = 60.0
ASK_TIMEOUT_S: Final = 4.0
"""How long the cabin waits for the hub's answer before it checks the synced list."""


class CodeOutcome(enum.Enum):
    FOUND = "found"
    WRONG = "wrong"
    """Unknown here now (a typo, another cabin's code, not yet or no longer valid)."""
    USED = "used"
    """This cabin's appointment, already checked in."""
    PAUSED = "paused"
    """Too many wrong codes: the keypad waits `pause_s`."""


@dataclass(frozen=True, slots=True)
class CodeCheck:
    outcome: CodeOutcome
    appointment: BookedAppointment | None = None
    pause_s: float | None = None
    """PAUSED: how long the keypad waits."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AppointmentDesk:
    """Checks codes, counts wrong ones, keeps the hub's list of today's appointments."""

    def __init__(
        self,
        store: AsyncStore,
        clock: Clock,
        *,
        now: Callable[[], datetime] = _utcnow,
        ask_timeout_s: float = ASK_TIMEOUT_S,
        wrong_before_pause: int = WRONG_BEFORE_PAUSE,
        pause_s: float = PAUSE_S,
    ) -> None:
        self._store = store
        self._clock = clock
        self._now = now
        self._ask_timeout_s = ask_timeout_s
        self._wrong_before_pause = wrong_before_pause
        self._pause_s = pause_s
        self._wrong = 0
        self._paused_until: float | None = None
        self.hub: HubLink | None = None
        """The hub link, once the core's warm-up has brought it up (None: offline checks)."""

    # --- the keypad's pause -------------------------------------------------------------------

    def paused_for(self) -> float | None:
        """Seconds the keypad still waits, or None."""
        if self._paused_until is None:
            return None
        left = self._paused_until - self._clock.monotonic()
        if left <= 0:
            self._paused_until = None
            return None
        return left

    def _pause(self, seconds: float) -> CodeCheck:
        self._wrong = 0
        self._paused_until = self._clock.monotonic() + seconds
        log.warning("appointments.keypad_paused for_s=%.0f", seconds)
        return CodeCheck(CodeOutcome.PAUSED, pause_s=seconds)

    def _wrong_code(self, outcome: CodeOutcome) -> CodeCheck:
        self._wrong += 1
        if self._wrong >= self._wrong_before_pause:
            return self._pause(self._pause_s)
        return CodeCheck(outcome)

    # --- a code ---------------------------------------------------------------------------------

    async def check(self, code: str) -> CodeCheck:
        """What the code opens here now. Never raises for the hub: when it does not answer
        in time, the synced list answers."""
        left = self.paused_for()
        if left is not None:
            return CodeCheck(CodeOutcome.PAUSED, pause_s=left)
        if not CODE_PATTERN.fullmatch(code):
            return self._wrong_code(CodeOutcome.WRONG)
        answer = await self._ask_hub(code)
        if answer is None:
            return await self._check_offline(code)
        match answer:
            case wire.AppointmentFound():
                self._wrong = 0
                log.info("appointments.code_found appointment=%s", answer.appointment_id)
                return CodeCheck(CodeOutcome.FOUND, _booked(answer))
            case wire.AppointmentRefused(reason=wire.AppointmentRefusal.TOO_MANY_TRIES):
                return self._pause(max(self._pause_s, answer.retry_after_s or 0.0))
            case wire.AppointmentRefused(reason=wire.AppointmentRefusal.ALREADY_USED):
                log.info("appointments.code_used")
                return self._wrong_code(CodeOutcome.USED)
            case wire.AppointmentRefused():
                log.info("appointments.code_wrong")
                return self._wrong_code(CodeOutcome.WRONG)
            case _:  # an ErrorMessage: the hub could not check it (storage down...)
                return await self._check_offline(code)

    async def _ask_hub(self, code: str) -> wire.Message | None:
        hub = self.hub
        if hub is None:
            return None
        question = wire.AppointmentCheck(msg_id=hub.new_id("code"), code=code)
        try:
            return await hub.ask(question, self._ask_timeout_s)
        except HubError as exc:
            log.info("appointments.hub_unreachable error=%s", exc)
            return None

    async def _check_offline(self, code: str) -> CodeCheck:
        try:
            await self._store.run(Store.purge_past_appointments)
            entries = await self._store.run(Store.todays_appointments)
        except StoreError:
            log.exception("appointments.synced_list_unreadable")
            entries = []
        now = self._now()
        match = await asyncio.to_thread(_matching, code, entries)
        if match is None or not match.valid_from <= now < match.valid_until:
            log.info("appointments.code_wrong offline=1")
            return self._wrong_code(CodeOutcome.WRONG)
        if match.used_at is not None:
            log.info("appointments.code_used offline=1 appointment=%s", match.appointment_id)
            return self._wrong_code(CodeOutcome.USED)
        self._wrong = 0
        log.info("appointments.code_found offline=1 appointment=%s", match.appointment_id)
        return CodeCheck(
            CodeOutcome.FOUND,
            BookedAppointment(
                appointment_id=match.appointment_id,
                patient=match.patient,
                starts_at=match.starts_at,
                ends_at=match.ends_at,
                timezone=match.timezone,
                doctor=match.doctor,
                doctor_name=match.doctor_name,
                checked_offline=True,
            ),
        )

    # --- the hub's list -------------------------------------------------------------------------

    async def purge(self) -> None:
        """Forget the synced appointments of the days before today."""
        try:
            gone = await self._store.run(Store.purge_past_appointments)
        except StoreError:
            log.exception("appointments.purge_failed")
            return
        if gone:
            log.info("appointments.purged count=%d", gone)

    async def synced(self, message: wire.TodaysAppointments) -> int:
        """The hub's list of today's appointments replaces the one kept; how many entries."""
        entries: list[SyncedAppointment] = []
        for entry in message.entries:
            try:
                salt = base64.b64decode(entry.code_salt, validate=True)
                digest = base64.b64decode(entry.code_hash, validate=True)
                patient = PatientIdentity(
                    entry.patient.family_name, entry.patient.given_names, entry.patient.birth_date
                )
            except (binascii.Error, ValueError):
                log.warning("appointments.sync_entry_refused appointment=%s", entry.appointment_id)
                continue
            entries.append(
                SyncedAppointment(
                    appointment_id=entry.appointment_id,
                    day=message.day,
                    timezone=message.timezone,
                    code_salt=salt,
                    code_hash=digest,
                    code_iterations=entry.code_iterations,
                    patient=patient,
                    starts_at=entry.starts_at,
                    ends_at=entry.ends_at,
                    valid_from=entry.valid_from,
                    valid_until=entry.valid_until,
                    doctor=entry.doctor,
                    doctor_name=entry.doctor_name,
                )
            )
        await self._store.run(Store.replace_todays_appointments, entries)
        await self._store.run(Store.purge_past_appointments)
        log.info("appointments.synced day=%s count=%d", message.day.isoformat(), len(entries))
        return len(entries)


def _booked(found: wire.AppointmentFound) -> BookedAppointment:
    summary = found.patient
    return BookedAppointment(
        appointment_id=found.appointment_id,
        patient=PatientIdentity(
            summary.family_name, summary.given_names, summary.birth_date, Sex(summary.sex.value)
        ),
        starts_at=found.starts_at,
        ends_at=found.ends_at,
        timezone=found.timezone,
        doctor=found.doctor,
        doctor_name=found.doctor_name,
    )


def _matching(code: str, entries: list[SyncedAppointment]) -> SyncedAppointment | None:
    """The synced entry whose hash is the code's (each entry has its own salt)."""
    found = None
    for entry in entries:
        digest = wire.appointment_code_hash(code, entry.code_salt, entry.code_iterations)
        if hmac.compare_digest(digest, entry.code_hash):
            found = entry
    return found
